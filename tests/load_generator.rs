//! The simulator's open-loop load generator (what the load benchmark drives), against a real bot:
//! every message is sent at its rate and every answer measured once; bad requests are refused.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use botvisor::config::BotConfig;
use botvisor::service::{BotLauncher, BotRegistry, EmbeddedPlatform};
use botvisor::sim::{self, SimConfig};
use common::{control, control_call};
use serde_json::json;

#[actix_rt::test]
async fn the_load_generator_measures_each_answer_once_from_its_scheduled_time() {
    let sim = sim::start(SimConfig { plain_http: true, ..SimConfig::default() }).await.expect("simulator starts");
    control(&sim, "POST", "/sim/v1/skills", Some(json!({"name": "bots"}))).await;
    control(&sim, "POST", "/sim/v1/skills", Some(json!({"name": "human-agents", "human": true}))).await;

    // Nothing to measure yet; bad requests say what to fix.
    let (status, answer) = control_call(&sim, "GET", "/sim/v1/load", None).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("no_load")));
    let (status, answer) = control_call(&sim, "POST", "/sim/v1/load/messages", Some(json!({"rate": 10, "count": 5}))).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("POST /sim/v1/load/conversations first"), "{answer}");
    let (status, answer) = control_call(&sim, "POST", "/sim/v1/load/conversations", Some(json!({"skill": "bots", "count": 0}))).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().starts_with("count:"), "{answer}");

    let data = std::env::temp_dir().join(format!("botvisor-load-generator-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    let _ = std::fs::remove_file(data.join(botvisor::cluster::embedded::FILE_NAME));
    let member = botvisor::cluster::Member { node_id: "test".into(), admin_addr: "-".into(), capacity: 1, version: "test".into() };
    let store: std::sync::Arc<dyn botvisor::cluster::Store> =
        std::sync::Arc::new(botvisor::cluster::EmbeddedStore::open(&data, member).unwrap());
    let registry = BotRegistry::new(BotLauncher::on_current_arbiter(Some(EmbeddedPlatform::of(&sim))), store, Default::default());
    let bot: BotConfig = serde_json::from_value(json!({
        "id": "echo",
        "platform": {"csds": "embedded", "login": "echo", "auth": {"password": {"value": "pw"}}},
        "vendor": {"kind": "scripted", "script": "benches/load/echo.toml"},
        "settings": {"skill": "bots", "escalation": {"skill": "human-agents"}, "conversation": {"combine": {"message_delay": "0s"}}, "load": {"recommended": 4, "hard": 4, "low_water": 3}},
    }))
    .unwrap();
    let registry = Arc::new(registry);
    registry.adopt_and_start(vec![bot]).await.unwrap();

    // Six conversations for a bot that holds four: it goes AWAY at four, and what it was
    // still rung for is escalated to the human skill; the rest waits in the bots' queue.
    control(&sim, "POST", "/sim/v1/load/conversations", Some(json!({"skill": "bots", "count": 6, "per_second": 100}))).await;
    let mut status = json!(null);
    let count = |status: &serde_json::Value, key: &str| status[key].as_u64().unwrap();
    for _ in 0..100 {
        status = control(&sim, "GET", "/sim/v1/load", None).await;
        if status["opening"] == false
            && count(&status, "ringing") == 0
            && count(&status, "assigned") == 4
            && count(&status, "moved_to_other_skill") + count(&status, "queued") == 2
        {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((count(&status, "opened"), count(&status, "assigned"), count(&status, "ringing")), (6, 4, 0), "{status}");
    assert_eq!(count(&status, "moved_to_other_skill") + count(&status, "queued"), 2, "{status}");

    control(&sim, "POST", "/sim/v1/load/messages", Some(json!({"rate": 40, "count": 20}))).await;
    for _ in 0..100 {
        status = control(&sim, "GET", "/sim/v1/load", None).await;
        if status["sending"] == false && status["answered"] == 20 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        (status["sent"].as_u64(), status["answered"].as_u64(), status["unanswered"].as_u64(), status["unmatched_answers"].as_u64()),
        (Some(20), Some(20), Some(0), Some(0)),
        "{status}"
    );
    assert_eq!(status["latency_us"]["count"], 20);
    let p50 = status["latency_us"]["p50"].as_u64().unwrap();
    assert!(p50 > 0 && p50 <= status["latency_us"]["max"].as_u64().unwrap(), "{status}");
    // 20 messages at 40/s take half a second to send.
    assert!(status["send_seconds"].as_f64().unwrap() >= 0.45, "{status}");

    // Messages went only to the conversations the bot holds, each answered once.
    let conversations = control(&sim, "GET", "/sim/v1/conversations", None).await;
    let answers: usize = conversations
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["transcript"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["role"] == "ASSIGNED_AGENT" && e["text"].as_str().is_some_and(|t| t.starts_with("You said: m")))
        .count();
    assert_eq!(answers, 20);

    let closed = control(&sim, "DELETE", "/sim/v1/load", None).await;
    assert_eq!(closed["closed"], 6);
    assert_eq!(control_call(&sim, "GET", "/sim/v1/load", None).await.0, 404);
    registry.stop_all().await;
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&data);
}

#[path = "../benches/load/charts.rs"]
mod charts;

#[test]
fn the_load_report_draws_latency_throughput_and_cpu_charts_with_both_engines_for_ladders_only() {
    let rate = |rate: u32, achieved: f64, p50: f64, p99: f64| json!({"rate": rate, "achieved_per_second": achieved, "added_latency_ms": {"p50": p50, "p99": p99}, "cpu_us_per_message": 1e5 / achieved});
    let document = json!({"runs": [
        {"engine": "botvisor", "scenario": "throughput", "round": 1, "rates": [rate(1000, 1000.0, 0.4, 1.2), rate(5000, 4990.0, 0.6, 3.1)]},
        {"engine": "sdk-peer", "scenario": "throughput", "round": 1, "rates": [rate(1000, 998.0, 1.1, 6.0), rate(5000, 3100.0, 40.0, 900.0)]},
        // Not a ladder (it comes back to its first rate): no chart.
        {"engine": "botvisor", "scenario": "overload", "round": 1, "rates": [rate(1000, 1000.0, 1.0, 2.0), rate(2000, 1500.0, 9.0, 90.0), rate(1000, 900.0, 5.0, 50.0)]},
    ]});
    let dir = std::env::temp_dir().join(format!("botvisor-charts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = charts::write_charts(&dir, &document).expect("the charts are drawn");
    let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["throughput-latency.svg", "throughput-cpu.svg", "throughput-throughput.svg"]);
    for file in &files {
        let svg = std::fs::read_to_string(file).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("botvisor") && svg.contains("sdk-peer"), "{}", file.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
