//! Google service-account authentication against the fake: tokens cached, a revoked token
//! renewed once, a short-lived one renewed before it expires, self-signed JWTs, and a token
//! endpoint as strict as Google's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use botvisor::sim::google::auth::make_key;
use botvisor::vendors::dialogflow::es::{DialogflowEsSettings, DialogflowEsVendor};
use botvisor::vendors::google_auth::{sign, Claims, GoogleAuthMode, ServiceAccountKey, SCOPE, TOKEN_AUDIENCE};
use botvisor_actors::errors::VendorError;
use botvisor_actors::ports::VendorPort;
use serde_json::{json, Value};

use crate::{world, Api, Setup};

#[actix_rt::test]
async fn the_token_is_cached_and_a_revoked_one_is_renewed_once() {
    let w = world(Setup::new(Api::Es)).await;
    let first = w.consumer("hello").await;
    w.answered(&first, 1).await;
    let second = w.consumer("hello").await;
    w.answered(&second, 1).await;
    assert_eq!(w.google().await["token_requests"], 1, "one token for the health check and both calls");
    control_revoke(&w).await;
    let third = w.consumer("hello").await;
    w.answered(&third, 1).await;
    assert_eq!(w.bot_lines(&third).await, ["Hello from Dialogflow"], "the consumer notices nothing");
    let google = w.google().await;
    assert_eq!((google["unauthenticated"].as_u64(), google["token_requests"].as_u64()), (Some(1), Some(2)), "one 401, one renewal");
    assert_eq!(w.tokens.exchanges(), 2);
    w.stop().await;
}

async fn control_revoke(w: &crate::World) {
    crate::common::control_call(&w.sim, "POST", "/sim/v1/google/revoke", None).await;
}

#[actix_rt::test]
async fn a_short_lived_token_is_renewed_before_it_expires() {
    let w = world(Setup { token_lifetime: Duration::from_secs(2), ..Setup::new(Api::Cx) }).await;
    let first = w.consumer("hello").await;
    w.answered(&first, 1).await;
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    let second = w.consumer("hello").await;
    w.answered(&second, 1).await;
    let google = w.google().await;
    assert_eq!(google["unauthenticated"], 0, "renewed ahead of its expiry, never refused");
    assert!(google["token_requests"].as_u64().unwrap() >= 2, "{google}");
    w.stop().await;
}

#[actix_rt::test]
async fn a_self_signed_jwt_needs_no_token_endpoint() {
    let w = world(Setup { auth: GoogleAuthMode::SelfSignedJwt, ..Setup::new(Api::Cx) }).await;
    let id = w.consumer("hello").await;
    w.answered(&id, 1).await;
    assert_eq!(w.bot_lines(&id).await, ["Hello from Dialogflow"]);
    assert_eq!(w.google().await["token_requests"], 0);
    w.stop().await;
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

async fn post_token(url: &str, grant_type: &str, assertion: &str) -> (u16, Value) {
    let mut response = awc::Client::default().post(url).send_form(&[("grant_type", grant_type), ("assertion", assertion)]).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[actix_rt::test]
async fn the_token_endpoint_is_as_strict_as_google() {
    let w = world(Setup::new(Api::Es)).await;
    let key = ServiceAccountKey::parse(&w.sim.google_key_json().unwrap()).unwrap();
    let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.as_bytes()).unwrap();
    let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    let claims = |aud: &str, iat: u64, exp: u64| Claims {
        iss: key.client_email.clone(),
        sub: None,
        aud: aud.into(),
        scope: Some(SCOPE.into()),
        iat,
        exp,
    };
    let t = now();

    let (status, body) = post_token(&key.token_uri, grant, &sign(&key, &encoding, &claims(TOKEN_AUDIENCE, t, t + 3600)).unwrap()).await;
    assert_eq!((status, body["token_type"].as_str()), (200, Some("Bearer")), "{body}");
    assert!(body["access_token"].as_str().unwrap().starts_with("ya29."));

    let refused = |status: u16, error: &str, body: &Value| body["error"] == error && body["error_description"].is_string() && status >= 400;
    let (status, body) = post_token(&key.token_uri, grant, &sign(&key, &encoding, &claims(&key.token_uri, t, t + 3600)).unwrap()).await;
    assert!(refused(status, "invalid_grant", &body) && status == 400, "the audience is Google's URL, never token_uri: {status} {body}");
    let (status, body) =
        post_token(&key.token_uri, grant, &sign(&key, &encoding, &claims(TOKEN_AUDIENCE, t - 7200, t - 3600)).unwrap()).await;
    assert!(refused(status, "invalid_grant", &body) && status == 400, "expired: {status} {body}");
    let (status, body) = post_token(&key.token_uri, grant, &sign(&key, &encoding, &claims(TOKEN_AUDIENCE, t, t + 7200)).unwrap()).await;
    assert!(refused(status, "invalid_grant", &body), "longer than an hour: {status} {body}");
    let mut no_scope = claims(TOKEN_AUDIENCE, t, t + 3600);
    no_scope.scope = None;
    let (status, body) = post_token(&key.token_uri, grant, &sign(&key, &encoding, &no_scope).unwrap()).await;
    assert!(refused(status, "invalid_scope", &body), "{status} {body}");
    let mut stranger = claims(TOKEN_AUDIENCE, t, t + 3600);
    stranger.iss = "someone@else.iam.gserviceaccount.com".into();
    let (status, body) = post_token(&key.token_uri, grant, &sign(&key, &encoding, &stranger).unwrap()).await;
    assert!(refused(status, "invalid_client", &body) && status == 401, "{status} {body}");
    // The same key id, another key: the signature does not verify.
    let (other, _) = make_key("elsewhere", &key.token_uri).unwrap();
    let mut forged = ServiceAccountKey::parse(&other.key_json).unwrap();
    forged.private_key_id = key.private_key_id.clone();
    forged.client_email = key.client_email.clone();
    let forged_encoding = jsonwebtoken::EncodingKey::from_rsa_pem(forged.private_key.as_bytes()).unwrap();
    let (status, body) =
        post_token(&key.token_uri, grant, &sign(&forged, &forged_encoding, &claims(TOKEN_AUDIENCE, t, t + 3600)).unwrap()).await;
    assert_eq!((status, body["error_description"].as_str()), (400, Some("Invalid JWT Signature.")), "{body}");
    let (status, body) = post_token(&key.token_uri, "client_credentials", "x").await;
    assert!(refused(status, "unsupported_grant_type", &body), "{status} {body}");

    // The API refuses a bearer it did not issue with Google's status body.
    let url = format!("{}/v2/projects/test-project/agent/sessions/s1:detectIntent", w.sim.platform_url());
    let mut response = awc::Client::default()
        .post(url)
        .insert_header(("Authorization", "Bearer ya29.made-up"))
        .send_json(&json!({"queryInput": {"text": {"text": "hi", "languageCode": "en"}}}))
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (response.status().as_u16(), body["error"]["status"].as_str(), body["error"]["code"].as_u64()),
        (401, Some("UNAUTHENTICATED"), Some(401))
    );
    w.stop().await;
}

#[actix_rt::test]
async fn a_key_google_does_not_know_is_reported_by_the_health_check_with_its_code() {
    let w = world(Setup::new(Api::Es)).await;
    let (other, _) = make_key("elsewhere", &format!("{}/token", w.sim.platform_url())).unwrap();
    let mut settings = DialogflowEsSettings::new("test-project", "en", ServiceAccountKey::parse(&other.key_json).unwrap());
    settings.endpoint = w.sim.platform_url();
    let vendor = DialogflowEsVendor::new(settings).unwrap();
    match vendor.health().await {
        Err(VendorError::Request { message }) => {
            assert!(message.starts_with("botvisor.google-auth.token-refused"), "{message}");
            assert!(message.contains("invalid_grant") && !message.contains("PRIVATE KEY"), "{message}");
        }
        other => panic!("expected a refused token, got {other:?}"),
    }
    w.stop().await;
}
