//! `botvisor run`, as a newcomer runs it: the demo starts, conversations flow, it stops by itself.

use std::process::Command;

fn botvisor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_botvisor"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "info")
        .output()
        .expect("the botvisor binary runs")
}

#[test]
fn run_starts_the_demo_and_conversations_flow() {
    let out = botvisor(&["run", "--for", "6s", "--every", "300ms"]);
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{logs}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(logs.contains("bot started on the in-process demo platform"), "{logs}");
    assert!(logs.contains("bot says"), "the bot answers consumers:\n{logs}");
    assert!(logs.contains("You said: hi"), "{logs}");
    assert!(logs.contains("conversation ended"), "{logs}");
    assert!(logs.contains("demo finished"), "{logs}");
}

#[test]
fn bad_arguments_get_a_clear_error_and_exit_code_2() {
    let out = botvisor(&["run", "--for", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--for \"soon\""), "{err}");

    let out = botvisor(&["launch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command \"launch\""));
}

#[test]
fn an_invalid_settings_file_is_reported_with_every_problem_and_its_path() {
    let dir = std::env::temp_dir().join(format!("botvisor-run-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.json");
    std::fs::write(&file, r#"{"bot_id": "b", "skill": "", "escalation": {"skill": "humans"}, "load": {"hard": 5000}}"#).unwrap();
    let out = botvisor(&["run", "--bot-settings", file.to_str().unwrap(), "--for", "1s"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bot.skill: must name the skill the bot listens on"), "{err}");
    assert!(err.contains("bot.load.hard: must be at most 999"), "{err}");

    std::fs::write(&file, r#"{"bot_id": "b", "skill": "s", "escalation": {"skill": "h"}, "colour": 1}"#).unwrap();
    let out = botvisor(&["run", "--bot-settings", file.to_str().unwrap(), "--for", "1s"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `colour`"));
    std::fs::remove_dir_all(&dir).ok();
}
