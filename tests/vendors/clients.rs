//! AWS's and IBM's own clients judge the fakes: `clients.py` runs boto3 (`lexv2-runtime`) and
//! ibm-watson (`AssistantV2` with `IAMAuthenticator`) against the simulator, validates every
//! answer strictly (botocore's RecognizeText output shape, `StatefulMessageResponse.from_dict`),
//! and checks with botocore's own SigV4 signer a request signed by botvisor's Lex adapter. The
//! clients live in a virtual environment that `./scripts/test` makes (`target/vendor-clients`,
//! from tests/vendors/requirements.txt); `BOTVISOR_VENDOR_PYTHON` names another Python with them.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime};

use botvisor::sim::vendors::VendorFakesConfig;
use botvisor::sim::{self, SimConfig};
use botvisor::vendors::lex::{request_body, sign_request, AwsCredentials, LexSettings};
use botvisor_actors::model::JsonText;
use botvisor_actors::ports::{ConversationContext, InputKind, VendorInput, VendorRequest};
use serde_json::json;

use crate::BOTS;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vendors/clients.py");

/// The Python with the vendors' clients; fails (never skips) with how to get it.
fn python() -> PathBuf {
    let python = std::env::var_os("BOTVISOR_VENDOR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/vendor-clients/bin/python")));
    let ready = Command::new(&python).args(["-c", "import boto3, ibm_watson"]).status().is_ok_and(|s| s.success());
    assert!(
        ready,
        "{} has no boto3 and ibm-watson: run ./scripts/test (it makes target/vendor-clients), or \
         python3 -m venv target/vendor-clients && target/vendor-clients/bin/pip install -r tests/vendors/requirements.txt",
        python.display()
    );
    python
}

/// A request as botvisor's Lex adapter signs it: URL, body, `X-Amz-Date`, `Authorization`.
fn signed_by_botvisor(origin: &str, fakes: &VendorFakesConfig) -> serde_json::Value {
    let credentials = AwsCredentials {
        access_key_id: fakes.aws_access_key_id.clone(),
        secret_access_key: fakes.aws_secret_access_key.clone(),
        session_token: None,
    };
    let mut settings = LexSettings::new("TESTBOT001", "TSTALIASID", "en_US", "us-east-1", credentials.clone());
    settings.endpoint = Some(origin.to_owned());
    // A session id with a colon: the path is percent-encoded twice in the canonical request.
    let url = settings.url("conv:with:colons");
    let request = VendorRequest {
        bot_id: "b".into(),
        conversation: ConversationContext {
            conversation_id: "conv:with:colons".into(),
            dialog_id: "conv:with:colons".into(),
            skill_id: "1".into(),
            consumer_id: "c".into(),
            context: JsonText::default(),
            sdes: None,
            first_call: true,
            vendor_session: None,
        },
        input: VendorInput::Message { text: "hello".into(), kind: InputKind::Text, sequences: vec![1], lp_event: JsonText::default() },
    };
    let body = request_body(&request).to_string();
    let headers = sign_request(&credentials, "us-east-1", &url, body.as_bytes(), SystemTime::now() - Duration::from_secs(30)).unwrap();
    let header = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).unwrap();
    json!({"url": url, "body": body, "amz_date": header("x-amz-date"), "authorization": header("authorization")})
}

#[actix_rt::test]
async fn the_vendors_own_clients_accept_the_fakes_and_botocore_verifies_botvisors_signatures() {
    let python = python();
    let config = SimConfig { plain_http: true, vendors: Some(VendorFakesConfig::new(BOTS)), ..SimConfig::default() };
    let sim = sim::start(config).await.expect("simulator starts");
    let fakes = sim.vendors.as_ref().unwrap().config.clone();
    let origin = sim.platform_url();
    let signed = signed_by_botvisor(&origin, &fakes);
    let output = actix_rt::task::spawn_blocking(move || {
        Command::new(python)
            .arg(SCRIPT)
            .env("ORIGIN", origin)
            .env("AWS_KEY_ID", &fakes.aws_access_key_id)
            .env("AWS_SECRET", &fakes.aws_secret_access_key)
            .env("WATSON_KEY", &fakes.watson_api_key)
            .env("BOTVISOR_SIGNED", signed.to_string())
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the vendors' clients refused the fakes:\n{stdout}\n{stderr}");
    assert!(stdout.lines().any(|l| l.contains("\"done\": true")), "{stdout}");
    let stats = crate::common::control(&sim, "GET", "/sim/v1/vendors", None).await;
    assert!(stats["watson"]["tokens_issued"].as_u64().unwrap() >= 1, "the SDK's IAMAuthenticator took a token: {stats}");
    assert_eq!(stats["watson"]["invalid_requests"], 0, "{stats}");
    assert_eq!(stats["lex"]["invalid_requests"], 0, "{stats}");
    sim.stop().await;
}
