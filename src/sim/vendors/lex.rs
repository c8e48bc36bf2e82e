//! The fake Lex V2 runtime: `POST /bots/{botId}/botAliases/{aliasId}/botLocales/{localeId}/
//! sessions/{sessionId}/text`. The request's AWS Signature Version 4 is verified by signing it
//! again with AWS's own signer (the headers it names, its `X-Amz-Date`, the simulator's secret
//! key) and comparing; refusals are Lex's (403 with `x-amzn-ErrorType`), as are unknown bots
//! (404 ResourceNotFoundException) and bodies Lex refuses (400 ValidationException).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use crate::sim::vendors::bots::{match_input, WELCOME_EVENT};
use crate::sim::vendors::VendorFakes;
use crate::vendors::lex::{sign_request_with, AwsCredentials, WELCOME_TEXT};

/// Lex refuses signatures older (or newer) than this.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

fn lex_error(status: u16, kind: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST))
        .insert_header(("x-amzn-ErrorType", format!("{kind}:http://internal.amazon.com/coral/com.amazonaws.deepsense.runtimeservice/")))
        .insert_header(("x-amzn-RequestId", uuid()))
        .json(json!({"message": message}))
}

pub fn uuid() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// `YYYYMMDDTHHMMSSZ` as a time.
fn amz_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Verifies the request's signature; the refusal Lex would answer otherwise.
#[allow(clippy::result_large_err)] // answered at once, never stored
fn verify(fakes: &VendorFakes, req: &HttpRequest, body: &[u8]) -> Result<(), HttpResponse> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let Some(authorization) = header("authorization") else {
        return Err(lex_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token"));
    };
    let Some(rest) = authorization.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(lex_error(400, "IncompleteSignatureException", "Unsupported signature algorithm"));
    };
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',').map(str::trim) {
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) = (credential, signed_headers, signature) else {
        return Err(lex_error(
            400,
            "IncompleteSignatureException",
            "Authorization header requires Credential, SignedHeaders and Signature",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, _date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(lex_error(400, "IncompleteSignatureException", "Credential should be scoped to a valid region"));
    };
    if *access_key != fakes.config.aws_access_key_id {
        return Err(lex_error(403, "UnrecognizedClientException", "The security token included in the request is invalid."));
    }
    if *service != "lex" {
        return Err(lex_error(403, "InvalidSignatureException", "Credential should be scoped to correct service: 'lex'."));
    }
    let Some(time) = header("x-amz-date").and_then(amz_date) else {
        return Err(lex_error(400, "IncompleteSignatureException", "Missing or malformed X-Amz-Date"));
    };
    let now = SystemTime::now();
    let skew = now.duration_since(time).or_else(|_| time.duration_since(now)).unwrap_or_default();
    if skew > MAX_SKEW {
        return Err(lex_error(403, "InvalidSignatureException", "Signature expired: the request time is too far from the server time."));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err(lex_error(403, "InvalidSignatureException", "'Host' must be a signed header"));
    }
    let scheme = if fakes.origin.starts_with("https") { "https" } else { "http" };
    let host = header("host").unwrap_or_default();
    let url = match req.uri().query() {
        Some(query) => format!("{scheme}://{host}{}?{query}", req.uri().path()),
        None => format!("{scheme}://{host}{}", req.uri().path()),
    };
    let credentials = AwsCredentials {
        access_key_id: fakes.config.aws_access_key_id.clone(),
        secret_access_key: fakes.config.aws_secret_access_key.clone(),
        session_token: None,
    };
    let extra: Vec<(String, String)> = names
        .iter()
        .filter(|n| !matches!(**n, "host" | "x-amz-date" | "content-type"))
        .map(|n| (n.to_string(), header(n).unwrap_or_default().to_owned()))
        .collect();
    let content_type = header("content-type");
    let expected = sign_with(&credentials, region, &url, body, time, content_type.filter(|_| names.contains(&"content-type")), &extra)
        .map_err(|e| lex_error(400, "IncompleteSignatureException", &e))?;
    if expected.as_deref() != Some(signature) {
        return Err(lex_error(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(())
}

/// The signature AWS's signer makes for this request (with the headers it names).
fn sign_with(
    credentials: &AwsCredentials,
    region: &str,
    url: &str,
    body: &[u8],
    time: SystemTime,
    content_type: Option<&str>,
    extra: &[(String, String)],
) -> Result<Option<String>, String> {
    let headers = sign_request_with(credentials, region, url, body, time, content_type, extra)?;
    Ok(headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.split("Signature=").nth(1))
        .map(str::to_owned))
}

pub async fn recognize_text(
    fakes: web::Data<VendorFakes>,
    req: HttpRequest,
    path: web::Path<(String, String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(refusal) = verify(&fakes, &req, &body) {
        fakes.lex.lock().expect("lex lock").unauthenticated += 1;
        return refusal;
    }
    let (bot_id, alias_id, locale, session) = path.into_inner();
    let invalid = |message: &str| {
        fakes.lex.lock().expect("lex lock").invalid_requests += 1;
        lex_error(400, "ValidationException", message)
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else { return invalid("The request body is not valid JSON") };
    fakes.lex.lock().expect("lex lock").log(req.path(), request.clone());
    let Some(object) = request.as_object() else { return invalid("The request body must be an object") };
    if let Some(key) = object.keys().find(|k| !matches!(k.as_str(), "text" | "sessionState" | "requestAttributes")) {
        return invalid(&format!("Unknown field {key}"));
    }
    let Some(text) = object.get("text").and_then(Value::as_str) else {
        return invalid("1 validation error detected: Value null at 'text' failed to satisfy constraint: Member must not be null");
    };
    if text.is_empty() || text.chars().count() > 1024 {
        return invalid(
            "1 validation error detected: Value at 'text' failed to satisfy constraint: Member must have length between 1 and 1024",
        );
    }
    if let Some(attributes) = object.get("requestAttributes") {
        if !attributes.as_object().is_some_and(|a| a.values().all(Value::is_string)) {
            return invalid("requestAttributes: a map of strings");
        }
    }
    let session_attributes = object.get("sessionState").and_then(|s| s.get("sessionAttributes")).cloned().unwrap_or(json!({}));
    if !session_attributes.as_object().is_some_and(|a| a.values().all(Value::is_string)) {
        return invalid("sessionState.sessionAttributes: a map of strings");
    }
    let session_ok = (2..=100).contains(&session.len()) && session.chars().all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
    if !session_ok {
        return invalid("sessionId: 2 to 100 of [0-9a-zA-Z._:-]");
    }
    let Some(bot) = fakes.bots.lex.iter().find(|b| b.bot_id == bot_id && b.alias_id == alias_id) else {
        return lex_error(404, "ResourceNotFoundException", &format!("Could not find bot {bot_id} with alias {alias_id}"));
    };
    if bot.locale != locale {
        return lex_error(404, "ResourceNotFoundException", &format!("The locale {locale} is not built for bot {bot_id}"));
    }
    let event = (text == WELCOME_TEXT).then_some(WELCOME_EVENT);
    let intent = match_input(&bot.intents, Some(text), event).or_else(|| event.and_then(|_| match_input(&bot.intents, Some(text), None)));
    let (name, answer) = match intent {
        Some(intent) => {
            if let Some(fault) = &intent.fault {
                if fakes.should_fail(&session, &intent.name, fault.times) {
                    if let Some(delay) = fault.delay {
                        actix_rt::time::sleep(delay).await;
                    }
                    if let Some(status) = fault.status {
                        let kind = if status >= 500 { "InternalServerException" } else { "ValidationException" };
                        return lex_error(status, kind, "The fake bot was told to fail");
                    }
                    if let Some(raw) = &fault.raw {
                        return HttpResponse::Ok().json(raw);
                    }
                }
            }
            (intent.name.as_str(), intent.answer.clone())
        }
        None => (
            "FallbackIntent",
            bot.fallback.clone().unwrap_or_else(
                || json!({"messages": [{"contentType": "PlainText", "content": "Sorry, I did not get that."}], "state": "ReadyForFulfillment"}),
            ),
        ),
    };
    let state = answer.get("state").and_then(Value::as_str).unwrap_or("Fulfilled").to_owned();
    let intent = json!({"name": name, "slots": {}, "state": state, "confirmationState": "None"});
    let mut response = Map::new();
    response.insert("messages".into(), answer.get("messages").cloned().unwrap_or(json!([])));
    response.insert(
        "sessionState".into(),
        json!({"dialogAction": {"type": "Close"}, "intent": intent, "sessionAttributes": session_attributes, "originatingRequestId": uuid()}),
    );
    response.insert(
        "interpretations".into(),
        json!([{"intent": intent, "nluConfidence": {"score": if name == "FallbackIntent" { 0.0 } else { 0.93 }}, "interpretationSource": "Lex"}]),
    );
    response.insert("sessionId".into(), json!(session));
    if let Some(attributes) = object.get("requestAttributes") {
        response.insert("requestAttributes".into(), attributes.clone());
    }
    HttpResponse::Ok().insert_header(("x-amzn-RequestId", uuid())).json(Value::Object(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates() {
        assert_eq!(amz_date("19700101T000000Z"), Some(UNIX_EPOCH));
        assert_eq!(amz_date("20240229T120000Z"), Some(UNIX_EPOCH + Duration::from_secs(1_709_208_000)));
        assert_eq!(amz_date("2024-02-29"), None);
    }
}
