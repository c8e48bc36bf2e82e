//! TLS client configuration: trusting a configured CA (the simulator's self-signed certificate,
//! a vendor's private CA) and the public web roots otherwise.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the CA {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("the CA {path} is not valid PEM: {reason}")]
    NotPem { path: String, reason: String },
    #[error("the CA {path} holds no certificate")]
    Empty { path: String },
    #[error("the CA {path} cannot be used: {reason}")]
    Unusable { path: String, reason: String },
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

/// A TLS client configuration trusting `ca` (PEM) when given and the public web roots otherwise.
pub fn tls_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let shown = path.display().to_string();
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| TlsError::Unreadable { path: shown.clone(), reason: e.to_string() })?
                .collect::<Result<_, _>>()
                .map_err(|e| TlsError::NotPem { path: shown.clone(), reason: e.to_string() })?;
            if certs.is_empty() {
                return Err(TlsError::Empty { path: shown });
            }
            for cert in certs {
                roots.add(cert).map_err(|e| TlsError::Unusable { path: shown.clone(), reason: e.to_string() })?;
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
