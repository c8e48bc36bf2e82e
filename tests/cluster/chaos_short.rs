//! The chaos benchmark's short version, so its mechanism stays true: the same harness as
//! `cargo bench --bench chaos --features etcd` (`benches/chaos/harness/`), one round of each fault
//! kind — kill -9 of a node, SIGSTOP … SIGCONT of a node for longer than the TTL, a node cut off
//! from etcd, kill -9 of the etcd leader, a rolling restart — with three etcd members, three
//! nodes and steady consumer traffic. Every consumer message is answered exactly once, no bot
//! ever has two sessions at once, and no fencing token goes back.

use std::path::PathBuf;

use crate::chaos::{FaultKind, Settings};

#[test]
fn one_round_of_each_fault_loses_nothing_duplicates_nothing_and_never_overlaps() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("chaos-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let settings = Settings::quick(out.join("run"));
    assert_eq!(settings.faults, FaultKind::ALL);
    let report = crate::chaos::run(&settings, &|line| eprintln!("{line}")).expect("the chaos run starts");
    let markdown = report.markdown("cargo test --features etcd --test cluster chaos");
    report.write(&out, "cargo test --features etcd --test cluster chaos").expect("the report is written");
    eprintln!("{markdown}");
    assert!(report.aborted.is_none(), "{markdown}");
    assert_eq!(report.violations(), 0, "{markdown}");
    assert_eq!(report.rounds.len(), FaultKind::ALL.len());
    for round in &report.rounds {
        let (a, s, t) = (&round.answers, &round.sessions, &round.tokens);
        let what =
            format!("round {} ({}): {:?} {:?} {:?}; node logs in {}", round.round, round.kind.slug(), a, s, t, settings.dir.display());
        assert!(a.messages > 0, "no traffic: {what}");
        assert_eq!(a.lost, 0, "lost: {what}");
        assert_eq!(a.duplicated + a.duplicate_keys, 0, "duplicated: {what}");
        assert_eq!(a.unkeyed + a.key_mismatches, 0, "answer keys: {what}");
        assert_eq!(s.overlapping(), 0, "overlapping sessions: {what}");
        assert_eq!(t.regressions, 0, "token regressions: {what}");
        assert!(t.observations > 0, "no cluster view observed: {what}");
        assert!(round.failover.is_some(), "no failover: {what}; {:?}", round.problems);
    }
    let _ = std::fs::remove_dir_all(&out);
}
