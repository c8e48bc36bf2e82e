//! Google's own clients judge the fakes: `google_clients.py` runs google-cloud-dialogflow and
//! google-cloud-dialogflow-cx (REST transport) against the simulator over HTTPS, with the
//! service-account key the simulator made, and fails if a request is refused or an answer does
//! not parse strictly. The clients live in a virtual environment that `./scripts/test` makes
//! (`target/google-clients`, from tests/dialogflow/requirements.txt); `BOTVISOR_GOOGLE_PYTHON`
//! names another Python with them.

use std::path::PathBuf;
use std::process::Command;

use botvisor::sim::google::GoogleFakeConfig;
use botvisor::sim::{self, SimConfig};

use crate::AGENTS;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dialogflow/google_clients.py");

/// The Python with Google's clients; fails (never skips) with how to get it.
fn python() -> PathBuf {
    let python = std::env::var_os("BOTVISOR_GOOGLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/google-clients/bin/python")));
    let ready = Command::new(&python)
        .args(["-c", "import google.cloud.dialogflow_v2, google.cloud.dialogflowcx_v3"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ready,
        "{} has no Google Dialogflow clients: run ./scripts/test (it makes target/google-clients), or \
         python3 -m venv target/google-clients && target/google-clients/bin/pip install -r tests/dialogflow/requirements.txt",
        python.display()
    );
    python
}

#[actix_rt::test]
async fn googles_own_clients_accept_the_fakes() {
    let python = python();
    let dir = std::env::temp_dir().join(format!("botvisor-google-clients-{}", std::process::id()));
    let config =
        SimConfig { ca_out: Some(dir.join("simulator-ca.pem")), google: Some(GoogleFakeConfig::new(AGENTS)), ..SimConfig::default() };
    let sim = sim::start(config).await.expect("simulator starts");
    let key = sim.google.as_ref().and_then(|g| g.key_path.clone()).expect("the key file is written beside the certificate");
    let ca = sim.ca_path.clone().expect("TLS");
    let endpoint = sim.platform_url();
    let output = actix_rt::task::spawn_blocking(move || {
        Command::new(python)
            .arg(SCRIPT)
            .env("API_ENDPOINT", endpoint)
            .env("KEY_FILE", key)
            .env("REQUESTS_CA_BUNDLE", ca)
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "Google's clients refused the fakes:\n{stdout}\n{stderr}");
    assert!(stdout.lines().any(|l| l.contains("\"done\": true")), "{stdout}");
    let google = crate::common::control(&sim, "GET", "/sim/v1/google", None).await;
    assert!(google["token_requests"].as_u64().unwrap() >= 1, "google-auth exchanged a token: {google}");
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
