//! Every example in `config/` parses and validates.

use botvisor_actors::settings::BotSettings;

#[test]
fn every_example_configuration_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("config/ exists") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let settings: BotSettings = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let problems = settings.validate("bot");
        assert!(problems.is_empty(), "{}: {problems:?}", path.display());
        checked += 1;
    }
    assert!(checked >= 1, "config/ holds at least the demo bot");
}
