//! Google's error bodies: `google.rpc.Status` as JSON for the APIs, RFC 6749 errors for the
//! OAuth token endpoint.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::json;

/// `{"error": {"code", "message", "status"}}` with the HTTP status of the canonical code.
pub fn rpc_error(code: u16, status: &str, message: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST))
        .json(json!({"error": {"code": code, "message": message, "status": status}}))
}

pub fn invalid_argument(message: &str) -> HttpResponse {
    rpc_error(400, "INVALID_ARGUMENT", message)
}

pub fn not_found(message: &str) -> HttpResponse {
    rpc_error(404, "NOT_FOUND", message)
}

/// What Google answers a request without valid credentials.
pub fn unauthenticated() -> HttpResponse {
    rpc_error(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
    )
}

/// The token endpoint's refusal: `{"error", "error_description"}`.
pub fn oauth_error(code: u16, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST))
        .json(json!({"error": error, "error_description": description}))
}
