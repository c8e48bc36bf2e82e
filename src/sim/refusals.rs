//! The request frames the simulator refused, for tests and people to read back
//! (`GET /sim/v1/refusals`): a total and the most recent few, each with the frame as parsed.

use std::collections::VecDeque;

use serde_json::{json, Value};

use crate::sim::frames::Request;

/// Refused frames kept, at most (the oldest go first).
const KEPT: usize = 32;
/// A refused frame larger than this is kept without its body.
const MAX_KEPT_FRAME_BYTES: usize = 8 * 1024;

/// What the simulator refused so far.
#[derive(Debug, Default)]
pub struct RefusalLog {
    total: u64,
    recent: VecDeque<Value>,
}

impl RefusalLog {
    /// Notes a refused request of `agent` (old id) with the answer it got.
    pub fn push(&mut self, agent: &str, request: &Request, message: &str) {
        self.total += 1;
        let mut frame =
            json!({"type": request.kind, "body": request.body, "metadata": request.metadata, "encodedMetadata": request.encoded_metadata});
        if frame.to_string().len() > MAX_KEPT_FRAME_BYTES {
            frame = json!({"type": request.kind, "truncated": true});
        }
        if self.recent.len() == KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(json!({"agent": agent, "request_id": request.id, "message": message, "frame": frame}));
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// `{"total": n, "recent": [{agent, request_id, message, frame}, …]}`, oldest first.
    pub fn to_json(&self) -> Value {
        json!({"total": self.total, "recent": self.recent})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::frames::parse_request;

    #[test]
    fn keeps_a_total_and_the_most_recent_frames() {
        let mut log = RefusalLog::default();
        let request =
            parse_request(r#"{"kind":"req","id":"1","type":"cm.UpdateConversationField","body":{"conversationId":"c"}}"#).unwrap();
        for _ in 0..(KEPT + 3) {
            log.push("1.2", &request, "conversationField: required");
        }
        let json = log.to_json();
        assert_eq!((json["total"].as_u64(), json["recent"].as_array().map(Vec::len)), (Some(KEPT as u64 + 3), Some(KEPT)));
        assert_eq!(json["recent"][0]["frame"]["body"]["conversationId"], "c");
        let big = parse_request(
            &json!({"kind": "req", "id": "2", "type": "GetClock", "body": {"pad": "x".repeat(MAX_KEPT_FRAME_BYTES)}}).to_string(),
        )
        .unwrap();
        log.push("1.2", &big, "too big");
        assert_eq!(log.to_json()["recent"][KEPT - 1]["frame"], json!({"type": "GetClock", "truncated": true}));
    }
}
