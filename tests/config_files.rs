//! Every example in `config/` parses and validates: `botvisor*.toml` and the `demo-*.toml` files
//! with bots as service configurations, other `.toml` files as scripted bots, `simulator*.json` as
//! the simulator's configuration, `dialogflow-*.json` as the simulator's fake Dialogflow agents, `vendor-bots*.json` as its fake Lex,
//! Watson and Bot Framework bots.

use botvisor::config::ServiceConfig;
use botvisor::sim::SimConfig;

#[test]
fn every_example_configuration_is_valid() {
    // The production-shaped example takes its secrets from the environment.
    for var in ["BOT1_APP_KEY", "BOT1_SECRET", "BOT1_ACCESS_TOKEN", "BOT1_ACCESS_TOKEN_SECRET", "CE_CLIENT_SECRET"] {
        std::env::set_var(var, "test-value");
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(root).unwrap(); // scripts are named relative to the repository
    let (mut services, mut simulators, mut scripts, mut agents) = (0, 0, 0, 0);
    for entry in std::fs::read_dir(root.join("config")).expect("config/ exists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // The Grafana dashboard is checked against a live /metrics in tests/admin_api.rs.
        if path.is_dir() && name == "grafana" {
            continue;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") if name.starts_with("botvisor") || is_service_demo(&path) => {
                let config = ServiceConfig::read(&path).unwrap_or_else(|e| panic!("{e}"));
                let problems = config.validate();
                assert!(problems.is_empty(), "{name}: {problems:?}");
                services += 1;
            }
            Some("toml") => {
                botvisor::config::read_script(&path).unwrap_or_else(|e| panic!("{e}"));
                scripts += 1;
            }
            Some("json") if name.starts_with("simulator") => {
                let text = std::fs::read_to_string(&path).unwrap();
                let config: SimConfig = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                let problems = config.validate("simulator");
                assert!(problems.is_empty(), "{name}: {problems:?}");
                simulators += 1;
            }
            Some("json") if name.starts_with("dialogflow") => {
                botvisor::sim::google::agents::AgentsFile::read(&path).unwrap_or_else(|problems| panic!("{name}: {problems:?}"));
                agents += 1;
            }
            Some("json") if name.starts_with("vendor-bots") => {
                botvisor::sim::vendors::bots::BotsFile::read(&path).unwrap_or_else(|problems| panic!("{name}: {problems:?}"));
                agents += 1;
            }
            _ => panic!("{name}: an unexpected file in config/"),
        }
    }
    assert_eq!(
        (services, simulators, scripts, agents),
        (8, 1, 1, 2),
        "the demo, the LivePerson example, the function bot, the Dialogflow ES and CX, Lex, Watson and Direct Line demos, the simulator, \
         the demo script, the fake Dialogflow agents and the fake Lex, Watson and Bot Framework bots"
    );
}

/// A `demo-*.toml` with bots is a service configuration (the others are scripts).
fn is_service_demo(path: &std::path::Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name.starts_with("demo-") && std::fs::read_to_string(path).unwrap().parse::<toml::Table>().is_ok_and(|t| t.contains_key("bots"))
}

#[test]
fn simulator_configuration_problems_are_reported_with_their_paths() {
    let config: SimConfig = serde_json::from_value(serde_json::json!({
        "skills": [{"name": "bots"}, {"name": "bots"}],
        "users": [{"login": "b", "password": "p", "skills": ["sales"]}],
        "max_failed_logins": 0,
        "traffic": {"skill": "nope", "conversations_per_minute": 0}
    }))
    .unwrap();
    let problems: Vec<String> = config.validate("simulator").iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "simulator.max_failed_logins: must be at least 1",
            "simulator.skills[1].name: is used twice",
            "simulator.users[0].skills[0]: names no skill in skills",
            "simulator.traffic.skill: names no skill in skills",
            "simulator.traffic.conversations_per_minute: must be between 1 and 60000",
        ]
    );
    let unknown = serde_json::from_value::<SimConfig>(serde_json::json!({"acount": "x"}));
    assert!(unknown.unwrap_err().to_string().contains("acount"));
}
