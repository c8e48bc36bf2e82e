//! The order frames go out in: a request's response first, then the notifications it caused
//! (a subscribe's snapshot follows its response, spec §10.6); outside a request, at once.

use crate::sim::state::{ConnId, Outgoing, SimState};

impl SimState {
    /// Sends `frame` ahead of notifications queued during this request.
    pub(super) fn send_first(&mut self, conn: ConnId, frame: String) {
        let pending = std::mem::take(&mut self.pending_after_response);
        self.send(conn, Outgoing::Text(frame));
        for (to, out) in pending {
            self.send(to, out);
        }
    }

    /// Queues a frame to go out once the current request's response is sent.
    pub(super) fn notify(&mut self, conn: ConnId, frame: String) {
        self.pending_after_response.push((conn, Outgoing::Text(frame)));
    }

    /// Notifications caused outside a request (control API, timers) go out at once.
    pub fn flush_notifications(&mut self) {
        for (to, out) in std::mem::take(&mut self.pending_after_response) {
            self.send(to, out);
        }
    }
}
