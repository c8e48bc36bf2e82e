//! Replays every file of every fuzz target's corpus (`tests/fuzz/corpus/<target>/`) through the
//! target's body, on stable and without libFuzzer, so what the fuzzer once found (and the seeds)
//! stays green. The bodies are the fuzz crate's own (`tests/fuzz/src/bodies.rs`); a crash the
//! fuzzer finds goes into the target's corpus with its fix, and this test keeps it fixed.

#[path = "fuzz/src/bodies.rs"]
mod bodies;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

fn corpus_files(target: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_of_every_target_passes() {
    let mut failures = Vec::new();
    let mut total = 0;
    for (target, body) in bodies::TARGETS {
        let files = corpus_files(target);
        assert!(files.len() >= 3, "{target}: its corpus has seeds");
        for file in files {
            let data = std::fs::read(&file).expect("a corpus file reads");
            total += 1;
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(&data))) {
                let why = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
                failures.push(format!("{target}: {}: {}", file.display(), why.unwrap_or_default()));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {total} corpus files fail:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_target_has_a_fuzz_binary_and_a_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("the fuzz crate's manifest");
    for (target, _) in bodies::TARGETS {
        assert!(root.join("fuzz_targets").join(format!("{target}.rs")).is_file(), "{target}: no fuzz_targets/{target}.rs");
        assert!(manifest.contains(&format!("name = \"{target}\"")), "{target}: not a [[bin]] of tests/fuzz/Cargo.toml");
        assert!(root.join("corpus").join(target).is_dir(), "{target}: no corpus");
    }
}

#[test]
fn the_capacity_targets_bot_is_valid() {
    let bot = botvisor::api::parse_bot(bodies::CAPACITY_BOT, false).expect("it parses");
    assert_eq!(bot.validate("", true), vec![]);
}
