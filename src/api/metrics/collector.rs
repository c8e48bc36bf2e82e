//! The metric families of one scrape, written through `prometheus-client`.
//!
//! The values already exist when a scrape comes (the bots keep totals, the vendor latency is
//! bucketed by the core), so [`Scrape`] is a `Collector` over a snapshot taken for that scrape:
//! const counters and gauges, and the histogram handed to the encoder as buckets. Counter
//! families are described without `_total`: the OpenMetrics encoder adds it to each sample.

use std::fmt;

use botvisor_actors::bot::vendor_stats::{VendorCallStats, LATENCY_BUCKETS};
use botvisor_actors::bot::BotStats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

/// The states `botvisor_bot_state` has a sample for (1 for the current one, 0 for the others).
const BOT_STATES: [&str; 4] = ["offline", "online", "vendor_interruption", "service_interruption"];

/// One of a platform session's counters.
type SessionCounter = fn(&SessionSample) -> u64;

/// Everything one scrape exposes, read from the node when the scrape came.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub bots: Vec<BotSample>,
    pub cluster: ClusterSample,
    /// The process's resident memory; the family is left out where it cannot be read.
    pub resident_memory_bytes: Option<u64>,
}

/// This node's part in the cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterSample {
    pub owned_bots: u64,
    pub unreachable_members: u64,
    pub handoffs: u64,
    pub takeovers: u64,
    pub session_drops: u64,
    pub lease_renewals: u64,
    pub lease_renewal_failures: u64,
    pub fenced_writes_refused: u64,
}

/// One bot's values.
#[derive(Debug, Clone, Default)]
pub struct BotSample {
    pub bot_id: String,
    /// Its state, as the API names it (`online`, …).
    pub state: &'static str,
    pub open_conversations: u64,
    /// Of those, kept as data instead of an actor (settled).
    pub passive_conversations: u64,
    /// Behind its messages: AWAY until it catches up.
    pub overloaded: bool,
    pub stats: BotStats,
    pub vendor: VendorCallStats,
    pub session: SessionSample,
    /// Its error hook's deliveries, when it has a hook.
    pub hook: Option<HookSample>,
}

/// A platform session's counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionSample {
    pub reconnects: u64,
    pub login_failures: u64,
    pub read_pauses: u64,
    pub bad_frames: u64,
}

/// What became of a bot's error reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct HookSample {
    pub delivered: u64,
    pub failed: u64,
    pub dropped: u64,
}

impl Scrape {
    /// The exposition in the OpenMetrics text format, `# EOF` included.
    pub fn encode(self) -> Result<String, fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let bots = &self.bots;

        let mut family =
            encoder.encode_descriptor("botvisor_bot_state", "The bot's state (1 for the current one).", None, MetricType::Gauge)?;
        for bot in bots {
            for state in BOT_STATES {
                gauge(&mut family, &[("bot_id", bot.bot_id.as_str()), ("state", state)], u64::from(bot.state == state))?;
            }
        }

        let mut family =
            encoder.encode_descriptor("botvisor_open_conversations", "Conversations the bot holds.", None, MetricType::Gauge)?;
        for bot in bots {
            gauge(&mut family, &bot_id(bot), bot.open_conversations)?;
        }

        let mut family = encoder.encode_descriptor(
            "botvisor_passive_conversations",
            "Open conversations kept as data until their next event (settled for lifecycle.passivate_after).",
            None,
            MetricType::Gauge,
        )?;
        for bot in bots {
            gauge(&mut family, &bot_id(bot), bot.passive_conversations)?;
        }

        let mut family = encoder.encode_descriptor(
            "botvisor_overloaded",
            "1 while the bot is behind its messages (a consumer message over load.overload_lag late): AWAY until it catches up.",
            None,
            MetricType::Gauge,
        )?;
        for bot in bots {
            gauge(&mut family, &bot_id(bot), u64::from(bot.overloaded))?;
        }
        let mut family =
            encoder.encode_descriptor("botvisor_overloads", "Times the bot fell behind its messages.", None, MetricType::Counter)?;
        for bot in bots {
            counter(&mut family, &bot_id(bot), bot.stats.overloads)?;
        }
        let mut family = encoder.encode_descriptor(
            "botvisor_event_lag_milliseconds",
            "How long the last consumer message took from the platform's stamp to the bot.",
            None,
            MetricType::Gauge,
        )?;
        for bot in bots {
            gauge(&mut family, &bot_id(bot), bot.stats.event_lag_ms)?;
        }

        let mut family = encoder.encode_descriptor("botvisor_conversations", "Conversations by outcome.", None, MetricType::Counter)?;
        for bot in bots {
            let s = &bot.stats;
            for (outcome, n) in [
                ("started", s.conversations_started),
                ("closed", s.closed),
                ("transferred", s.transferred),
                ("escalated", s.escalated),
                ("removed", s.removed),
                ("failed", s.failed),
                ("panicked", s.panicked),
            ] {
                counter(&mut family, &[("bot_id", bot.bot_id.as_str()), ("outcome", outcome)], n)?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "botvisor_escalations",
            "Escalated conversations by the error code that caused them.",
            None,
            MetricType::Counter,
        )?;
        for bot in bots {
            for (reason, n) in &bot.stats.escalated_by_reason {
                counter(&mut family, &[("bot_id", bot.bot_id.as_str()), ("reason", reason)], *n)?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "botvisor_consumer_messages",
            "Consumer messages the bot took to answer (each once).",
            None,
            MetricType::Counter,
        )?;
        for bot in bots {
            counter(&mut family, &bot_id(bot), bot.vendor.consumer_messages)?;
        }

        let mut family = encoder.encode_descriptor("botvisor_vendor_calls", "Vendor calls by outcome.", None, MetricType::Counter)?;
        for bot in bots {
            for (outcome, n) in &bot.vendor.outcomes {
                counter(&mut family, &[("bot_id", bot.bot_id.as_str()), ("outcome", outcome.as_str())], *n)?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "botvisor_vendor_call_duration",
            "Vendor call latency, retries included.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for bot in bots {
            let v = &bot.vendor;
            family.encode_family(&bot_id(bot))?.encode_histogram::<NoLabelSet>(v.latency_sum_seconds, v.calls, &bucket_counts(v), None)?;
        }

        let session: [(&str, &str, SessionCounter); 4] = [
            ("botvisor_platform_reconnects", "Reconnect attempts of the bot's platform session.", |s| s.reconnects),
            ("botvisor_platform_login_failures", "Logins refused, rate limited or failed.", |s| s.login_failures),
            (
                "botvisor_platform_read_pauses",
                "Times the platform socket was not read because the bot's mailbox was full (backpressure).",
                |s| s.read_pauses,
            ),
            ("botvisor_platform_bad_frames", "Platform frames that could not be read or were not expected.", |s| s.bad_frames),
        ];
        for (name, help, value) in session {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for bot in bots {
                counter(&mut family, &bot_id(bot), value(&bot.session))?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "botvisor_error_hook_reports",
            "Error reports to the bot's hook by outcome (dropped: more than 64 in flight).",
            None,
            MetricType::Counter,
        )?;
        for bot in bots {
            if let Some(hook) = &bot.hook {
                for (outcome, n) in [("delivered", hook.delivered), ("failed", hook.failed), ("dropped", hook.dropped)] {
                    counter(&mut family, &[("bot_id", bot.bot_id.as_str()), ("outcome", outcome)], n)?;
                }
            }
        }

        let c = &self.cluster;
        let family = encoder.encode_descriptor("botvisor_cluster_owned_bots", "Bots this node owns.", None, MetricType::Gauge)?;
        ConstGauge::new(c.owned_bots).encode(family)?;
        let family = encoder.encode_descriptor(
            "botvisor_cluster_unreachable_members",
            "Other members listed but not renewing their lease; no bot is rebalanced while any is.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(c.unreachable_members).encode(family)?;
        for (name, help, value) in [
            ("botvisor_cluster_handoffs", "Bots this node handed to another node.", c.handoffs),
            ("botvisor_cluster_takeovers", "Bots this node became the owner of.", c.takeovers),
            ("botvisor_cluster_session_drops", "Times the ownership deadline passed and every session was dropped.", c.session_drops),
            (
                "botvisor_cluster_fenced_writes_refused",
                "Owner writes the store refused: the token no longer owned the bot.",
                c.fenced_writes_refused,
            ),
        ] {
            let family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value).encode(family)?;
        }
        let mut family =
            encoder.encode_descriptor("botvisor_cluster_lease_renewals", "Lease renewals by outcome (etcd).", None, MetricType::Counter)?;
        for (outcome, n) in [("ok", c.lease_renewals), ("failed", c.lease_renewal_failures)] {
            counter(&mut family, &[("outcome", outcome)], n)?;
        }

        let overloads: u64 = bots.iter().map(|b| b.stats.mailbox_overloads).sum();
        let family = encoder.encode_descriptor(
            "botvisor_mailbox_overloads",
            "Deliveries a full conversation mailbox refused (read back from history later).",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(overloads).encode(family)?;

        if let Some(rss) = self.resident_memory_bytes {
            let family = encoder.encode_descriptor(
                "botvisor_process_resident_memory",
                "The process's resident memory.",
                Some(&Unit::Bytes),
                MetricType::Gauge,
            )?;
            ConstGauge::new(rss).encode(family)?;
        }
        Ok(())
    }
}

fn bot_id(bot: &BotSample) -> [(&'static str, &str); 1] {
    [("bot_id", bot.bot_id.as_str())]
}

/// One counter sample of a family.
fn counter(family: &mut MetricEncoder, labels: &impl EncodeLabelSet, value: u64) -> fmt::Result {
    ConstCounter::new(value).encode(family.encode_family(labels)?)
}

/// One gauge sample of a family.
fn gauge(family: &mut MetricEncoder, labels: &impl EncodeLabelSet, value: u64) -> fmt::Result {
    ConstGauge::new(value).encode(family.encode_family(labels)?)
}

/// The histogram's buckets as the encoder takes them: each bound with the calls in that bucket
/// alone (the encoder sums them up again), then `+Inf`. The core keeps them cumulative.
fn bucket_counts(v: &VendorCallStats) -> Vec<(f64, u64)> {
    let mut below = 0;
    let mut buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
        .iter()
        .zip(v.latency_buckets.iter())
        .map(|(bound, cumulative)| {
            let n = cumulative.saturating_sub(below);
            below = below.max(*cumulative);
            (*bound, n)
        })
        .collect();
    buckets.push((f64::INFINITY, v.calls.saturating_sub(below)));
    buckets
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;

    /// One sample line of the exposition, its label values unescaped.
    #[derive(Debug)]
    struct Sample {
        name: String,
        labels: Vec<(String, String)>,
        value: String,
    }

    impl Sample {
        fn label(&self, key: &str) -> Option<&str> {
            self.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
        }
    }

    /// The exposition read as a scraper reads it: family types (`# TYPE`) and samples. Panics on
    /// anything that is not OpenMetrics text, a missing or misplaced `# EOF` included.
    fn parse(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
        let lines: Vec<&str> = text.strip_suffix('\n').expect("ends with a newline").split('\n').collect();
        assert_eq!(lines.last(), Some(&"# EOF"), "{text}");
        let mut types = BTreeMap::new();
        let mut samples = Vec::new();
        for line in &lines[..lines.len() - 1] {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
                assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "{name} described twice");
            } else if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            } else {
                samples.push(parse_sample(line));
            }
        }
        (types, samples)
    }

    fn parse_sample(line: &str) -> Sample {
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value: {line}"));
        let name = line[..name_end].to_owned();
        assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "name in {line:?}");
        let mut rest = line[name_end..].chars().peekable();
        let mut labels = Vec::new();
        if rest.peek() == Some(&'{') {
            rest.next();
            loop {
                let key: String = rest.by_ref().take_while(|c| *c != '=').collect();
                assert_eq!(rest.next(), Some('"'), "{line}");
                let mut value = String::new();
                loop {
                    match rest.next().unwrap_or_else(|| panic!("unterminated label value: {line}")) {
                        '"' => break,
                        '\\' => value.push(match rest.next() {
                            Some('\\') => '\\',
                            Some('"') => '"',
                            Some('n') => '\n',
                            other => panic!("bad escape {other:?} in {line}"),
                        }),
                        '\n' => panic!("raw newline in {line}"),
                        c => value.push(c),
                    }
                }
                labels.push((key, value));
                match rest.next() {
                    Some(',') => continue,
                    Some('}') => break,
                    other => panic!("{other:?} after a label in {line}"),
                }
            }
        }
        assert_eq!(rest.next(), Some(' '), "{line}");
        let value: String = rest.collect();
        assert!(value.parse::<f64>().is_ok() || value == "+Inf", "value {value:?} in {line}");
        Sample { name, labels, value }
    }

    fn bot(id: &str) -> BotSample {
        let mut vendor = VendorCallStats::default();
        for (outcome, ms) in [("ok", 30), ("ok", 300), ("ok", 2_000), ("timeout", 61_000)] {
            vendor.record(outcome, Duration::from_millis(ms));
        }
        vendor.consumer_messages = 5;
        let mut stats = BotStats { conversations_started: 3, closed: 1, escalated: 1, mailbox_overloads: 2, ..BotStats::default() };
        stats.escalated_by_reason.insert("botvisor.vendor.timeout", 1);
        BotSample {
            bot_id: id.to_owned(),
            state: "online",
            open_conversations: 2,
            passive_conversations: 1,
            overloaded: true,
            stats,
            vendor,
            session: SessionSample { reconnects: 1, login_failures: 2, read_pauses: 3, bad_frames: 4 },
            hook: Some(HookSample { delivered: 7, failed: 1, dropped: 0 }),
        }
    }

    fn scrape(bots: Vec<BotSample>) -> String {
        Scrape { bots, cluster: ClusterSample { owned_bots: 2, handoffs: 1, ..Default::default() }, resident_memory_bytes: Some(64 << 20) }
            .encode()
            .expect("encodes")
    }

    #[test]
    fn every_family_is_there_with_its_type_and_the_sample_names_of_before() {
        let text = scrape(vec![bot("bot-a"), bot("bot-b")]);
        let (types, samples) = parse(&text);
        // Sample names as before; OpenMetrics names a counter's family without `_total`.
        for (sample, family, kind) in [
            ("botvisor_bot_state", "botvisor_bot_state", "gauge"),
            ("botvisor_open_conversations", "botvisor_open_conversations", "gauge"),
            ("botvisor_passive_conversations", "botvisor_passive_conversations", "gauge"),
            ("botvisor_overloaded", "botvisor_overloaded", "gauge"),
            ("botvisor_overloads_total", "botvisor_overloads", "counter"),
            ("botvisor_event_lag_milliseconds", "botvisor_event_lag_milliseconds", "gauge"),
            ("botvisor_conversations_total", "botvisor_conversations", "counter"),
            ("botvisor_escalations_total", "botvisor_escalations", "counter"),
            ("botvisor_consumer_messages_total", "botvisor_consumer_messages", "counter"),
            ("botvisor_vendor_calls_total", "botvisor_vendor_calls", "counter"),
            ("botvisor_vendor_call_duration_seconds_count", "botvisor_vendor_call_duration_seconds", "histogram"),
            ("botvisor_platform_reconnects_total", "botvisor_platform_reconnects", "counter"),
            ("botvisor_platform_login_failures_total", "botvisor_platform_login_failures", "counter"),
            ("botvisor_platform_bad_frames_total", "botvisor_platform_bad_frames", "counter"),
            ("botvisor_platform_read_pauses_total", "botvisor_platform_read_pauses", "counter"),
            ("botvisor_error_hook_reports_total", "botvisor_error_hook_reports", "counter"),
            ("botvisor_mailbox_overloads_total", "botvisor_mailbox_overloads", "counter"),
            ("botvisor_process_resident_memory_bytes", "botvisor_process_resident_memory_bytes", "gauge"),
            ("botvisor_cluster_owned_bots", "botvisor_cluster_owned_bots", "gauge"),
            ("botvisor_cluster_unreachable_members", "botvisor_cluster_unreachable_members", "gauge"),
            ("botvisor_cluster_handoffs_total", "botvisor_cluster_handoffs", "counter"),
            ("botvisor_cluster_takeovers_total", "botvisor_cluster_takeovers", "counter"),
            ("botvisor_cluster_session_drops_total", "botvisor_cluster_session_drops", "counter"),
            ("botvisor_cluster_fenced_writes_refused_total", "botvisor_cluster_fenced_writes_refused", "counter"),
            ("botvisor_cluster_lease_renewals_total", "botvisor_cluster_lease_renewals", "counter"),
        ] {
            assert_eq!(types.get(family).map(String::as_str), Some(kind), "{family} in\n{text}");
            assert!(samples.iter().any(|s| s.name == sample), "{sample} in\n{text}");
        }
        assert_eq!(types.len(), 25, "{types:?}");
        assert!(
            text.lines().any(|l| l == "botvisor_cluster_owned_bots 2") && text.lines().any(|l| l == "botvisor_cluster_handoffs_total 1"),
            "{text}"
        );
        assert!(samples.iter().all(|s| !s.name.ends_with("_total_total")), "{text}");

        let value = |line: &str| text.lines().any(|l| l == line);
        for line in [
            r#"botvisor_bot_state{bot_id="bot-a",state="online"} 1"#,
            r#"botvisor_bot_state{bot_id="bot-a",state="offline"} 0"#,
            r#"botvisor_open_conversations{bot_id="bot-b"} 2"#,
            r#"botvisor_passive_conversations{bot_id="bot-b"} 1"#,
            r#"botvisor_overloaded{bot_id="bot-b"} 1"#,
            r#"botvisor_conversations_total{bot_id="bot-a",outcome="started"} 3"#,
            r#"botvisor_conversations_total{bot_id="bot-a",outcome="panicked"} 0"#,
            r#"botvisor_escalations_total{bot_id="bot-a",reason="botvisor.vendor.timeout"} 1"#,
            r#"botvisor_consumer_messages_total{bot_id="bot-a"} 5"#,
            r#"botvisor_vendor_calls_total{bot_id="bot-a",outcome="ok"} 3"#,
            r#"botvisor_vendor_calls_total{bot_id="bot-a",outcome="timeout"} 1"#,
            r#"botvisor_platform_reconnects_total{bot_id="bot-b"} 1"#,
            r#"botvisor_platform_login_failures_total{bot_id="bot-b"} 2"#,
            r#"botvisor_platform_read_pauses_total{bot_id="bot-b"} 3"#,
            r#"botvisor_platform_bad_frames_total{bot_id="bot-b"} 4"#,
            r#"botvisor_error_hook_reports_total{bot_id="bot-a",outcome="delivered"} 7"#,
            r#"botvisor_error_hook_reports_total{bot_id="bot-a",outcome="dropped"} 0"#,
            "botvisor_mailbox_overloads_total 4",
            "botvisor_process_resident_memory_bytes 67108864",
        ] {
            assert!(value(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn optional_families_keep_their_descriptor_and_memory_is_left_out_when_unknown() {
        let mut quiet = bot("quiet");
        quiet.hook = None;
        quiet.stats.escalated_by_reason.clear();
        let text = Scrape { bots: vec![quiet], cluster: ClusterSample::default(), resident_memory_bytes: None }.encode().unwrap();
        let (types, samples) = parse(&text);
        assert!(types.contains_key("botvisor_escalations") && types.contains_key("botvisor_error_hook_reports"), "{text}");
        assert!(!samples.iter().any(|s| s.name == "botvisor_escalations_total" || s.name == "botvisor_error_hook_reports_total"));
        assert!(!text.contains("botvisor_process_resident_memory_bytes"), "{text}");
    }

    #[test]
    fn label_values_with_quotes_backslashes_and_newlines_are_escaped() {
        const REASON: &str = "botvisor.odd\"code\\with\nnewline";
        let mut odd = bot("bot-a");
        odd.stats.escalated_by_reason.insert(REASON, 2);
        odd.vendor.outcomes.insert("quote\"back\\slash\nline".to_owned(), 1);
        let text = scrape(vec![odd]);
        assert!(text.contains(r#"reason="botvisor.odd\"code\\with\nnewline"} 2"#), "{text}");
        let (_, samples) = parse(&text);
        let escalation = samples.iter().find(|s| s.name == "botvisor_escalations_total" && s.value == "2").expect("the odd reason");
        assert_eq!(escalation.label("reason"), Some(REASON));
        assert_eq!(escalation.label("bot_id"), Some("bot-a"));
        assert!(samples.iter().any(|s| s.label("outcome") == Some("quote\"back\\slash\nline")), "{text}");
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf_equal_to_the_count() {
        let text = scrape(vec![bot("bot-a")]);
        let (_, samples) = parse(&text);
        let of = |suffix: &str| -> Vec<&Sample> {
            samples.iter().filter(|s| s.name == format!("botvisor_vendor_call_duration_seconds_{suffix}")).collect()
        };
        let buckets = of("bucket");
        let bounds: Vec<&str> = buckets.iter().map(|b| b.label("le").expect("le")).collect();
        assert_eq!(bounds, ["0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "60.0", "+Inf"], "{text}");
        for (bucket, bound) in buckets.iter().zip(LATENCY_BUCKETS) {
            assert_eq!(bucket.label("le").unwrap().parse::<f64>().unwrap(), bound);
        }
        // Recorded: 30 ms, 300 ms, 2 s, 61 s.
        let counts: Vec<u64> = buckets.iter().map(|b| b.value.parse().unwrap()).collect();
        assert_eq!(counts, [1, 1, 1, 2, 2, 3, 3, 3, 3, 3, 4]);
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "cumulative: {counts:?}");
        let count: u64 = of("count")[0].value.parse().unwrap();
        assert_eq!((counts.last(), count), (Some(&4), 4));
        let sum: f64 = of("sum")[0].value.parse().unwrap();
        assert!((sum - 63.33).abs() < 1e-9, "{sum}");
        assert!(buckets.iter().chain(of("count").iter()).chain(of("sum").iter()).all(|s| s.label("bot_id") == Some("bot-a")));
    }

    #[test]
    fn a_bot_without_vendor_calls_has_every_bucket_at_zero() {
        let idle = BotSample { bot_id: "idle".into(), state: "offline", ..BotSample::default() };
        let text = scrape(vec![idle]);
        assert!(text.lines().any(|l| l == r#"botvisor_vendor_call_duration_seconds_bucket{le="+Inf",bot_id="idle"} 0"#), "{text}");
        assert!(text.lines().any(|l| l == r#"botvisor_vendor_call_duration_seconds_count{bot_id="idle"} 0"#), "{text}");
    }
}
