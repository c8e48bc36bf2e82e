//! Checks the admin API's answers against its OpenAPI document (`src/api/openapi.json`, served
//! at `/v1/openapi.json`): the route, the status and the body's schema must all be documented.

use serde_json::{json, Value};

/// The document's route for `method` and a concrete `path`, its status's response schema, and
/// `body` validated against it. `Err` says what the document does not describe.
#[allow(dead_code)] // not every test binary checks answers
pub fn check_response(method: &str, path: &str, status: u16, body: &Value) -> Result<(), String> {
    let document = botvisor::api::openapi::document_value();
    let path = path.split('?').next().unwrap_or(path);
    let error = json!({"$ref": "#/components/schemas/Error"});
    let template = document["paths"].as_object().unwrap().keys().find(|template| matches(template, path)).cloned();
    let operation = template.as_ref().map_or(Value::Null, |template| document["paths"][template][method.to_lowercase()].clone());
    let schema = match (&template, operation.is_null()) {
        // Outside the documented routes there are only the API's errors: 404 for an unknown
        // path, 405 for a method a route does not take, 401 before either without the token.
        (None, _) | (Some(_), true) if matches!(status, 401 | 404 | 405) => error,
        (None, _) => return Err(format!("{method} {path}: no documented path, answered {status}")),
        (Some(template), true) => return Err(format!("{method} {template}: not documented, answered {status}")),
        (Some(template), false) => {
            let response = &operation["responses"][status.to_string()];
            if response.is_null() {
                return Err(format!("{method} {template}: status {status} is not documented ({body})"));
            }
            let Some(schema) = response["content"]["application/json"].get("schema") else { return Ok(()) };
            schema.clone()
        }
    };
    let template = template.unwrap_or_else(|| path.to_owned());
    let mut root = schema;
    if let Some(object) = root.as_object_mut() {
        object.insert("components".into(), document["components"].clone());
        object.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    }
    let validator =
        jsonschema::draft202012::new(&root).map_err(|e| format!("{method} {template} {status}: the schema does not compile: {e}"))?;
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{method} {template} {status}: the answer does not match the document: {}\n{body}", errors.join("; ")))
    }
}

/// Whether a concrete path fits a template (`{param}` matches one non-empty segment).
fn matches(template: &str, path: &str) -> bool {
    let (template, path): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template.iter().zip(&path).all(|(t, p)| if t.starts_with('{') && t.ends_with('}') { !p.is_empty() } else { t == p })
}
