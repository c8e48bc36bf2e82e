//! AI vendors: implementations of the core's `VendorPort`.

pub mod custom_endpoint;
pub mod custom_endpoint_response;
pub mod dialogflow;
pub mod directline;
pub mod directline_response;
pub mod exchange;
pub mod function;
pub mod function_response;
pub mod google_auth;
pub mod lex;
pub mod lex_response;
pub mod scripted;
pub mod watson;
pub mod watson_response;

/// Why a vendor client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum VendorBuildError {
    #[error(transparent)]
    Tls(#[from] crate::http::TlsError),
    #[error(transparent)]
    Key(#[from] google_auth::KeyError),
}
