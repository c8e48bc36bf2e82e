//! AI vendors: implementations of the core's `VendorPort`.

pub mod custom_endpoint;
pub mod custom_endpoint_response;
pub mod dialogflow;
pub mod function;
pub mod function_response;
pub mod google_auth;
pub mod scripted;

/// Why a vendor client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum VendorBuildError {
    #[error(transparent)]
    Tls(#[from] crate::http::TlsError),
    #[error(transparent)]
    Key(#[from] google_auth::KeyError),
}
