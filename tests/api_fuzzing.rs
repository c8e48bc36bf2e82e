//! The admin API fuzzed against its own OpenAPI document by schemathesis (PyPI): `botvisor run`
//! with the demo (the embedded simulator, two scripted bots, simulated consumers) and an admin
//! token, then schemathesis generates requests for every operation of `src/api/openapi.json`
//! (valid and invalid, a bounded number per operation, a fixed seed) and checks each answer: no
//! 5xx, a status the document lists, the content type and the body the document gives. The node
//! must still be up at the end. schemathesis lives in a virtual environment that `./scripts/test`
//! makes (`target/schemathesis`, from tests/api_fuzzing/requirements.txt);
//! `BOTVISOR_SCHEMATHESIS` names another executable. `BOTVISOR_SCHEMATHESIS_EXAMPLES` raises the
//! number of examples per operation (a long run).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "schemathesis-admin-t0ken";
/// Examples per operation in CI.
const EXAMPLES: u32 = 30;
/// The whole run's bound: past it, the API (or schemathesis) hangs.
const RUN_BOUND: Duration = Duration::from_secs(900);

/// schemathesis; fails (never skips) with how to get it.
fn schemathesis() -> PathBuf {
    let path = std::env::var_os("BOTVISOR_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/schemathesis/bin/schemathesis")));
    let ready = Command::new(&path).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(
        ready,
        "{} is not schemathesis: run ./scripts/test (it makes target/schemathesis), or \
         python3 -m venv target/schemathesis && target/schemathesis/bin/pip install -r tests/api_fuzzing/requirements.txt",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn status_of(addr: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// Waits for `child` at most `bound`; kills it past that. `None`: it had to be killed.
fn wait_bounded(child: &mut Child, bound: Duration) -> Option<std::process::ExitStatus> {
    const POLL: Duration = Duration::from_millis(200);
    for _ in 0..=bound.as_millis() / POLL.as_millis() {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Reads a pipe to the end on a thread (a full pipe would block the child).
fn drain(pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::BufReader::new(pipe).read_to_string(&mut text);
        text
    })
}

#[test]
fn schemathesis_finds_no_server_error_and_every_answer_matches_the_document() {
    let schemathesis = schemathesis();
    let dir = std::env::temp_dir().join(format!("botvisor-schemathesis-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/botvisor.toml")).unwrap();
    let config = dir.join("node.toml");
    std::fs::write(&config, demo.replace("[node]\n", &format!("[node]\nadmin_token = {{ value = \"{TOKEN}\" }}\n"))).unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let mut node = Command::new(env!("CARGO_BIN_EXE_botvisor"))
        .args(["run", "--config", config.to_str().unwrap(), "--for", "1h", "--admin-addr", &admin, "--data-dir", dir.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("botvisor runs");
    let node_log = drain(node.stderr.take().unwrap());
    let ready = (0..300).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        status_of(&admin, "/readyz") == Some(200)
    });
    if !ready {
        let _ = node.kill();
        let _ = node.wait();
        panic!("the node did not get ready:\n{}", node_log.join().unwrap());
    }

    let examples = std::env::var("BOTVISOR_SCHEMATHESIS_EXAMPLES").ok().and_then(|n| n.parse().ok()).unwrap_or(EXAMPLES);
    let mut run = Command::new(&schemathesis)
        .args([
            "--no-color",
            "run",
            concat!(env!("CARGO_MANIFEST_DIR"), "/src/api/openapi.json"),
            "--url",
            &format!("http://{admin}"),
            "--header",
            &format!("Authorization: Bearer {TOKEN}"),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            &examples.to_string(),
            "--seed",
            "17",
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--phases",
            "examples,coverage,fuzzing",
            "--suppress-health-check",
            "all",
            "--generation-database",
            "none",
        ])
        // Its reports and caches in the temporary directory, not the work tree.
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("schemathesis runs");
    let out = drain(run.stdout.take().unwrap());
    let err = drain(run.stderr.take().unwrap());
    let status = wait_bounded(&mut run, RUN_BOUND);
    let (out, err) = (out.join().unwrap(), err.join().unwrap());

    // The node lived through it, and stops as it should.
    let alive = node.try_wait().expect("try_wait").is_none() && status_of(&admin, "/healthz") == Some(200);
    let _ = Command::new("kill").args(["-TERM", &node.id().to_string()]).status();
    let stopped = wait_bounded(&mut node, Duration::from_secs(30));
    let log = node_log.join().unwrap();
    assert!(alive, "the node went down under schemathesis:\n{log}");
    let status = status.unwrap_or_else(|| panic!("schemathesis did not finish within {RUN_BOUND:?} (a hang):\n{out}\n{err}"));
    assert!(status.success(), "schemathesis found problems:\n{out}\n{err}\nthe node's log:\n{log}");
    assert!(stopped.is_some_and(|s| s.success()), "the node did not stop cleanly on SIGTERM ({stopped:?}):\n{log}");
    println!("{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
