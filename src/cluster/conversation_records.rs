//! Conversation records in the store: what a conversation keeps beyond the platform's history
//! (an escalation under way, a vendor's session handle), under the bot's state as
//! `conversations/{id}`, written only while this node owns the bot (every save and removal is
//! fenced by the bot's token, so a node that lost the bot cannot overwrite its next owner's).

use std::sync::{Arc, Mutex, Weak};

use botvisor_actors::model::ConversationId;
use botvisor_actors::ports::{ConversationRecord, ConversationStatePort, LocalFuture};

use crate::cluster::{Ownership, Store};

/// A bot's hold while it runs on this node, shared by its registry entry (which sets it when it
/// acquires the bot) and its conversation records (which write with it).
pub type SharedOwnership = Arc<Mutex<Option<Ownership>>>;

/// The most a record may take: a vendor session handle is an id and a watermark, not a payload.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

pub struct StoreConversationRecords {
    /// Weak: the node's registry owns the store; a bot's actors never keep it open (a store
    /// reopened in the same process, after the node stopped, is not locked by them).
    store: Weak<dyn Store>,
    bot_id: String,
    ownership: SharedOwnership,
}

impl StoreConversationRecords {
    pub fn new(store: &Arc<dyn Store>, bot_id: impl Into<String>, ownership: SharedOwnership) -> Self {
        Self { store: Arc::downgrade(store), bot_id: bot_id.into(), ownership }
    }

    fn store(&self) -> Result<Arc<dyn Store>, String> {
        self.store.upgrade().ok_or_else(|| "the node is stopping: its store is closed".to_owned())
    }

    fn key(conversation: &ConversationId) -> String {
        format!("conversations/{conversation}")
    }

    fn ownership(&self) -> Result<Ownership, String> {
        self.ownership
            .lock()
            .map_err(|_| "the ownership lock is poisoned".to_owned())?
            .clone()
            .ok_or_else(|| format!("bot {} is not owned by this node: its conversation records are not written here", self.bot_id))
    }
}

impl ConversationStatePort for StoreConversationRecords {
    fn load(&self, conversation: &ConversationId) -> LocalFuture<Result<Option<ConversationRecord>, String>> {
        let (store, bot_id, key) = (self.store(), self.bot_id.clone(), Self::key(conversation));
        Box::pin(async move {
            let store = store?;
            let Some(bytes) = store.get_state(&bot_id, &key).await.map_err(|e| e.to_string())? else { return Ok(None) };
            // A record this version cannot read is reported and left aside, not fatal.
            serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("the record {key} cannot be read: {e}"))
        })
    }

    fn save(&self, conversation: &ConversationId, record: &ConversationRecord) -> LocalFuture<Result<(), String>> {
        let (store, key) = (self.store(), Self::key(conversation));
        let ownership = self.ownership();
        let bytes = serde_json::to_vec(record).map_err(|e| e.to_string());
        Box::pin(async move {
            let (store, bytes) = (store?, bytes?);
            if bytes.len() > MAX_RECORD_BYTES {
                return Err(format!("the record {key} takes {} bytes, more than {MAX_RECORD_BYTES}: not kept", bytes.len()));
            }
            store.put_fenced(&ownership?, &key, &bytes).await.map_err(|e| e.to_string())
        })
    }

    fn forget(&self, conversation: &ConversationId) -> LocalFuture<Result<(), String>> {
        let (store, key) = (self.store(), Self::key(conversation));
        let ownership = self.ownership();
        Box::pin(async move { store?.delete_fenced(&ownership?, &key).await.map_err(|e| e.to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::EmbeddedStore;
    use botvisor_actors::ports::EscalationProgress;

    fn record() -> ConversationRecord {
        ConversationRecord {
            vendor_session: Some(serde_json::json!({"sessionId": "w-1"})),
            escalation: Some(Box::new(EscalationProgress {
                skill: "humans".into(),
                answers: Some(3),
                transfers_tried: 2,
                code: "botvisor.vendor.timeout".into(),
                message: "no answer".into(),
            })),
        }
    }

    #[actix_rt::test]
    async fn a_record_is_written_by_the_owner_read_back_and_forgotten_and_refused_to_a_former_owner() {
        let dir = std::env::temp_dir().join(format!("botvisor-records-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let member = crate::cluster::Member { node_id: "node".into(), admin_addr: String::new(), capacity: 1, version: String::new() };
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir, member).expect("the embedded store opens"));
        let ownership = SharedOwnership::default();
        let records = StoreConversationRecords::new(&store, "bot-1", ownership.clone());
        let conversation = ConversationId::new("c-1");
        let refused = records.save(&conversation, &record()).await.unwrap_err();
        assert!(refused.contains("not owned by this node"), "{refused}");

        let owned = store.acquire("bot-1").await.unwrap().expect("the embedded store owns every bot");
        *ownership.lock().unwrap() = Some(owned.clone());
        records.save(&conversation, &record()).await.expect("saved by the owner");
        assert_eq!(records.load(&conversation).await.unwrap(), Some(record()));
        records.forget(&conversation).await.unwrap();
        assert_eq!(records.load(&conversation).await.unwrap(), None);

        // A token that no longer owns the bot is fenced off.
        let stale = Ownership { token: crate::cluster::FencingToken(owned.token.0 - 1), ..owned };
        *ownership.lock().unwrap() = Some(stale);
        let fenced = records.save(&conversation, &record()).await.unwrap_err();
        assert!(fenced.contains("fenced"), "{fenced}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
