//! The HTTP client for CSDS and login: awc over rustls, trusting the platform's CA when one is
//! configured (the simulator's self-signed certificate) and the system's roots otherwise.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// A TLS client configuration trusting `ca` (PEM) when given — the simulator's self-signed
/// certificate — and the public web roots otherwise (the real platform).
pub fn tls_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    if ca.is_none() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(path) = ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read the platform CA {}: {e}", path.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("the platform CA {} is not valid PEM: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("the platform CA {} holds no certificate", path.display()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| format!("the platform CA {} cannot be used: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// An awc client with the TLS configuration and a request timeout. Not `Send`: one per thread.
pub fn client(tls: Arc<rustls::ClientConfig>, timeout: Duration) -> awc::Client {
    let connector = awc::Connector::new().rustls_0_23(tls).timeout(timeout);
    awc::Client::builder().connector(connector).timeout(timeout).finish()
}
