//! What a chaos run found: a line per round on stderr, a table per fault kind (markdown), and
//! every round in JSON (`results.json`, `results.md`).

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::checks::{Answers, Sessions, TokenCount};
use super::{FaultKind, Settings};

#[derive(Debug, Clone)]
pub struct RoundResult {
    pub round: usize,
    pub kind: FaultKind,
    /// Which node or member, how.
    pub detail: String,
    pub sent: u64,
    pub send_failures: u64,
    pub answers: Answers,
    pub sessions: Sessions,
    pub tokens: TokenCount,
    /// Fault → every bot owned again; `None`: not within the bound.
    pub failover: Option<Duration>,
    pub seconds: f64,
    /// What did not go as it should besides the counted invariants (timeouts, a slow drain).
    pub problems: Vec<String>,
}

impl RoundResult {
    /// Any invariant broken.
    pub fn violations(&self) -> u64 {
        let a = &self.answers;
        a.lost + a.duplicated + a.duplicate_keys + a.unkeyed + a.key_mismatches + self.sessions.overlapping() + self.tokens.regressions
    }

    /// The progress line.
    pub fn line(&self, rounds: usize) -> String {
        let a = &self.answers;
        let failover = self.failover.map_or("none".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
        format!(
            "round {}/{rounds} {} [{}]: failover {failover}; {} messages, {} lost, {} duplicated, {} escalated, {} overlapping sessions, \
             {} token regressions{}; resume {:.1} s; slowest answer {:.1} s; {:.0} s",
            self.round,
            self.kind.slug(),
            self.detail,
            a.messages,
            a.lost,
            a.duplicated + a.duplicate_keys,
            a.escalated,
            self.sessions.overlapping(),
            self.tokens.regressions,
            if self.sessions.zombies_cut > 0 {
                format!(", {} paused sessions cut by the platform", self.sessions.zombies_cut)
            } else {
                String::new()
            },
            a.resume_ms as f64 / 1000.0,
            a.slowest_answer_ms as f64 / 1000.0,
            self.seconds,
        )
    }

    fn to_json(&self) -> Value {
        let a = &self.answers;
        let s = &self.sessions;
        json!({
            "round": self.round, "fault": self.kind.slug(), "detail": self.detail, "seconds": self.seconds,
            "failover_seconds": self.failover.map(|d| d.as_secs_f64()),
            "sent": self.sent, "send_failures": self.send_failures,
            "messages": a.messages, "answered": a.answered, "lost": a.lost, "duplicated": a.duplicated, "escalated": a.escalated,
            "duplicate_keys": a.duplicate_keys, "unkeyed_answers": a.unkeyed, "key_mismatches": a.key_mismatches,
            "slowest_answer_ms": a.slowest_answer_ms, "resume_ms": a.resume_ms,
            "logins": s.logins, "kicks": s.kicks, "logins_over_open_connections": s.displaced, "paused_sessions_cut": s.zombies_cut,
            "overlapping_sessions": s.overlapping(),
            "token_observations": self.tokens.observations, "token_regressions": self.tokens.regressions, "owner_changes": self.tokens.owner_changes,
            "examples": a.examples.iter().chain(&s.examples).chain(&self.tokens.examples).collect::<Vec<_>>(),
            "problems": self.problems,
        })
    }
}

/// One fault kind over the run (or every kind: the totals).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub rounds: usize,
    pub answers: Answers,
    pub overlapping: u64,
    pub zombies_cut: u64,
    pub regressions: u64,
    pub owner_changes: u64,
    /// Measured failovers, seconds, ascending.
    pub failovers: Vec<f64>,
    /// Rounds whose failover was not seen within its bound.
    pub failover_timeouts: usize,
    pub problems: usize,
}

impl Summary {
    fn add(&mut self, round: &RoundResult) {
        self.rounds += 1;
        self.answers.add(&round.answers);
        self.overlapping += round.sessions.overlapping();
        self.zombies_cut += round.sessions.zombies_cut;
        self.regressions += round.tokens.regressions;
        self.owner_changes += round.tokens.owner_changes;
        match round.failover {
            Some(d) => self.failovers.push(d.as_secs_f64()),
            None => self.failover_timeouts += 1,
        }
        self.failovers.sort_by(f64::total_cmp);
        self.problems += round.problems.len();
    }

    /// Answers beyond the first: per message, and per answer key.
    pub fn duplicated(&self) -> u64 {
        self.answers.duplicated + self.answers.duplicate_keys
    }

    pub fn p50(&self) -> Option<f64> {
        self.failovers.get(self.failovers.len().saturating_sub(1) / 2).copied()
    }

    pub fn max(&self) -> Option<f64> {
        self.failovers.last().copied()
    }

    fn to_json(&self) -> Value {
        let a = &self.answers;
        json!({
            "rounds": self.rounds, "messages": a.messages, "lost": a.lost, "duplicated": self.duplicated(), "escalated": a.escalated,
            "unkeyed_answers": a.unkeyed, "key_mismatches": a.key_mismatches, "slowest_answer_ms": a.slowest_answer_ms, "resume_ms": a.resume_ms,
            "overlapping_sessions": self.overlapping, "paused_sessions_cut": self.zombies_cut, "token_regressions": self.regressions,
            "owner_changes": self.owner_changes, "failover_p50_seconds": self.p50(), "failover_max_seconds": self.max(),
            "failover_timeouts": self.failover_timeouts, "problems": self.problems,
        })
    }
}

pub struct Report {
    pub settings: Settings,
    pub started_ms: i64,
    pub seconds: f64,
    pub rounds: Vec<RoundResult>,
    /// Why the run stopped before its last round.
    pub aborted: Option<String>,
}

impl Report {
    /// Per fault kind, in the order they ran.
    pub fn per_kind(&self) -> Vec<(FaultKind, Summary)> {
        let mut out: Vec<(FaultKind, Summary)> = Vec::new();
        for round in &self.rounds {
            match out.iter_mut().find(|(kind, _)| *kind == round.kind) {
                Some((_, summary)) => summary.add(round),
                None => {
                    let mut summary = Summary::default();
                    summary.add(round);
                    out.push((round.kind, summary));
                }
            }
        }
        out
    }

    pub fn totals(&self) -> Summary {
        let mut all = Summary::default();
        for round in &self.rounds {
            all.add(round);
        }
        all
    }

    /// Broken invariants over the run.
    pub fn violations(&self) -> u64 {
        self.rounds.iter().map(RoundResult::violations).sum()
    }

    pub fn markdown(&self, command: &str) -> String {
        let s = &self.settings;
        let mut out = format!(
            "`{command}`, {} UTC, {:.0} min: {} rounds, 3 botvisor nodes, 3 etcd members, lease TTL {} s, {} bots, {} conversations per round, {} consumer messages/s\n\n",
            utc(self.started_ms),
            self.seconds / 60.0,
            self.rounds.len(),
            s.ttl.as_secs_f64(),
            s.bots,
            s.bots * s.conversations_per_bot,
            s.rate,
        );
        out.push_str("| fault | rounds | messages | lost | duplicated | escalated | overlapping sessions | token regressions | failover p50 | failover max | resume max | slowest answer |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        let seconds = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2} s"));
        let mut row = |name: &str, m: &Summary| {
            let max = match m.failover_timeouts {
                0 => seconds(m.max()),
                n => format!("{} ({n} not within TTL + {} s)", seconds(m.max()), super::FAILOVER_GRACE.as_secs()),
            };
            out.push_str(&format!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {max} | {:.1} s | {:.1} s |\n",
                m.rounds,
                m.answers.messages,
                m.answers.lost,
                m.duplicated(),
                m.answers.escalated,
                m.overlapping,
                m.regressions,
                seconds(m.p50()),
                m.answers.resume_ms as f64 / 1000.0,
                m.answers.slowest_answer_ms as f64 / 1000.0,
            ));
        };
        for (kind, summary) in self.per_kind() {
            row(kind.title(), &summary);
        }
        row("**all**", &self.totals());
        let totals = self.totals();
        out.push_str(&format!(
            "\nPaused nodes' sessions ended by the new owner's login (the platform's kick, the second fence): {}. Owner changes seen: {}. Other problems: {}.\n",
            totals.zombies_cut, totals.owner_changes, totals.problems
        ));
        if let Some(why) = &self.aborted {
            out.push_str(&format!("\n**The run stopped early:** {why}\n"));
        }
        out
    }

    pub fn to_json(&self, command: &str) -> Value {
        let s = &self.settings;
        json!({
            "command": command,
            "started_utc": utc(self.started_ms),
            "seconds": self.seconds,
            "settings": {
                "rounds": s.rounds, "faults": s.faults.iter().map(|k| k.slug()).collect::<Vec<_>>(), "ttl_seconds": s.ttl.as_secs_f64(),
                "bots": s.bots, "conversations_per_bot": s.conversations_per_bot, "rate": s.rate,
                "warmup_seconds": s.warmup.as_secs_f64(), "tail_seconds": s.tail.as_secs_f64(),
            },
            "aborted": self.aborted,
            "per_fault": self.per_kind().iter().map(|(k, m)| (k.slug().to_owned(), m.to_json())).collect::<serde_json::Map<_, _>>(),
            "totals": self.totals().to_json(),
            "rounds": self.rounds.iter().map(RoundResult::to_json).collect::<Vec<_>>(),
        })
    }

    /// `results.json` and `results.md` in `dir`.
    pub fn write(&self, dir: &Path, command: &str) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let json = serde_json::to_string_pretty(&self.to_json(command)).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("results.json"), json).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("results.md"), self.markdown(command)).map_err(|e| e.to_string())
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) of a time in milliseconds since the epoch.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", of_day / 3600, of_day % 3600 / 60)
}
