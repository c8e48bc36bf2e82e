//! One `awc::Client` per arbiter thread and trust configuration (`awc::Client` is not `Send`),
//! shared by every adapter on that thread so connections to the same hosts are pooled. Each
//! request sets its own timeout; whole exchanges (body included) are bounded by their callers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::http::tls::{tls_config, TlsError};

/// A request's timeout when its caller sets none (up to the response's head).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Opening a connection (TCP and TLS) takes at most this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

thread_local! {
    static CLIENTS: RefCell<HashMap<Option<PathBuf>, awc::Client>> = RefCell::new(HashMap::new());
}

/// This thread's client trusting `ca` (or the public roots): created once, then shared.
pub fn shared_client(ca: Option<&Path>) -> Result<awc::Client, TlsError> {
    let key = ca.map(Path::to_path_buf);
    if let Some(client) = CLIENTS.with(|clients| clients.borrow().get(&key).cloned()) {
        return Ok(client);
    }
    let tls = tls_config(ca)?;
    let connector = awc::Connector::new().rustls_0_23(tls).timeout(CONNECT_TIMEOUT);
    let client = awc::Client::builder().connector(connector).timeout(DEFAULT_REQUEST_TIMEOUT).finish();
    CLIENTS.with(|clients| clients.borrow_mut().insert(key, client.clone()));
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_per_thread_and_trust() {
        let _system = actix_rt::System::new();
        shared_client(None).unwrap();
        shared_client(None).unwrap();
        CLIENTS.with(|clients| assert_eq!(clients.borrow().len(), 1, "the second call reuses the first client"));
        assert!(matches!(shared_client(Some(Path::new("/nonexistent/ca.pem"))), Err(TlsError::Unreadable { .. })));
        CLIENTS.with(|clients| assert_eq!(clients.borrow().len(), 1, "a CA that cannot be read makes no client"));
    }
}
