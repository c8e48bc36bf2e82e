//! A self-signed certificate made at start (SAN `IP:127.0.0.1` and `localhost`), written as PEM
//! so Node clients can trust it with `NODE_EXTRA_CA_CERTS`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The server's TLS configuration and the certificate's PEM.
pub struct SelfSigned {
    pub config: rustls::ServerConfig,
    pub cert_pem: String,
}

pub fn self_signed(ca_out: Option<&Path>) -> Result<SelfSigned, String> {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).map_err(|e| format!("making the certificate failed: {e}"))?;
    let cert_pem = certified.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    if let Some(path) = ca_out {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(path, &cert_pem).map_err(|e| format!("cannot write the certificate to {}: {e}", path.display()))?;
    }
    Ok(SelfSigned { config, cert_pem })
}
