//! The admin API's OpenAPI 3.1 document (`GET /v1/openapi.json`), built into the binary. It is
//! kept true by tests: every route of [`super::route_table`] is documented and every documented
//! route is served (below), and every response the admin API tests receive validates against
//! the document's schema for its route and status (`tests/common/openapi.rs`).

use actix_web::HttpResponse;
use serde_json::Value;

/// The document's text.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// The document, parsed.
pub fn document_value() -> Value {
    serde_json::from_str(DOCUMENT).expect("the built-in OpenAPI document is JSON (a test checks it)")
}

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(DOCUMENT)
}

/// The (method, path) pairs the document describes, methods upper case.
pub fn documented_routes(document: &Value) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes.sort();
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_and_every_documented_route_is_served() {
        let document = document_value();
        assert_eq!(document["openapi"], "3.1.0");
        let mut served: Vec<(String, String)> = super::super::routes().into_iter().map(|(m, p)| (m.to_owned(), p.to_owned())).collect();
        served.sort();
        assert_eq!(documented_routes(&document), served, "the router and /v1/openapi.json disagree");
    }

    #[test]
    fn every_operation_has_an_id_a_summary_and_its_error_shape() {
        let document = document_value();
        let mut ids = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap().iter().filter(|(k, _)| *k != "parameters") {
                assert!(operation["summary"].is_string(), "{method} {path}: a summary");
                ids.push(operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: an operationId")).to_owned());
                for (status, response) in operation["responses"].as_object().unwrap() {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert_eq!(
                            response["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "operation ids are unique");
    }
}
