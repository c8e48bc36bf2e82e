//! The error hook: on every bot error, an HTTP POST (URL configured per bot) with the error code,
//! message and id, the conversation, the bot, the vendor and the vendor input that failed.
//! Fire-and-forget with a short timeout: it never blocks the escalation. No credentials are ever
//! part of the event.

use std::path::PathBuf;
use std::time::Duration;

use botvisor_actors::ports::{BotErrorEvent, ErrorHookPort};
use serde_json::json;

use crate::platform::liveperson::http_client;

/// One POST's timeout.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(3);

/// Posts error events to a URL. Create it on the bot's thread.
pub struct HttpErrorHook {
    url: String,
    client: awc::Client,
}

impl HttpErrorHook {
    pub fn new(url: &str, ca: Option<PathBuf>) -> Result<Self, String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("error hook URL {url:?}: must start with http:// or https://"));
        }
        let tls = http_client::tls_config(ca.as_deref())?;
        Ok(Self { url: url.to_owned(), client: http_client::client(tls, HOOK_TIMEOUT) })
    }
}

impl ErrorHookPort for HttpErrorHook {
    fn report(&self, event: BotErrorEvent) {
        let body = json!({
            "botId": event.bot_id,
            "conversationId": event.conversation_id,
            "error": {"code": event.error.code.as_str(), "message": event.error.message, "errorId": event.error.error_id},
            "vendor": event.vendor,
            "vendorRequest": event.vendor_request,
        });
        let request = self.client.post(&self.url).send_json(&body);
        // The URL may carry a key in its query: logs name only the origin.
        let url = self.url.split(['?', '#']).next().unwrap_or("").split('/').take(3).collect::<Vec<_>>().join("/");
        actix_rt::spawn(async move {
            match request.await {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => tracing::warn!(%url, status = %response.status(), "the error hook refused the report"),
                Err(error) => tracing::warn!(%url, %error, "the error hook could not be reached"),
            }
        });
    }
}
