//! Every example in `config/` parses and validates: `simulator*.json` as the simulator's
//! configuration, the other `.json` files as bot settings, `.toml` files as scripted bots.

use botvisor::sim::SimConfig;
use botvisor::vendors::scripted::ScriptedVendor;
use botvisor_actors::settings::BotSettings;

#[test]
fn every_example_configuration_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let (mut bots, mut simulators, mut scripts) = (0, 0, 0);
    for entry in std::fs::read_dir(&dir).expect("config/ exists") {
        let path = entry.unwrap().path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => {}
            Some("toml") => {
                ScriptedVendor::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
                scripts += 1;
                continue;
            }
            _ => panic!("{}: an unexpected file in config/", path.display()),
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("simulator") {
            let config: SimConfig = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let problems = config.validate("simulator");
            assert!(problems.is_empty(), "{name}: {problems:?}");
            simulators += 1;
        } else {
            let settings: BotSettings = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let problems = settings.validate("bot");
            assert!(problems.is_empty(), "{name}: {problems:?}");
            bots += 1;
        }
    }
    assert!(bots >= 1 && simulators >= 1 && scripts >= 1, "config/ holds the demo bot, its script and the simulator example");
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
