//! The data directory under faults, with `botvisor run` as a process: a disk that fills up, a
//! file system that turns read-only, a data directory deleted while the node runs, and `kill -9`
//! in the middle of writes. Each must give a clear error on the admin API (500
//! `botvisor.api.store-failed`, saying what is wrong), keep the node up, lose no change it
//! acknowledged, and leave a store that opens cleanly at the next start.
//!
//! The small and read-only file systems are tmpfs mounts (root, as `./scripts/test` runs);
//! the test fails, never skips, when it cannot mount.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

fn free_addr() -> String {
    format!("127.0.0.1:{}", TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port())
}

/// One request: the status and the JSON body.
fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, serde_json::from_str(response.split_once("\r\n\r\n")?.1).unwrap_or(Value::Null)))
}

fn bot(id: &str) -> Value {
    json!({
        "id": id,
        "platform": {"csds": "embedded", "login": id, "auth": {"password": {"value": "pw"}}},
        "vendor": {"kind": "scripted", "script": "config/demo-scripted-bot.toml"},
        "settings": {"skill": "bots", "escalation": {"skill": "human-agents"}},
    })
}

/// A `botvisor run` of the demo on `data`, killed (by its PID) when dropped.
struct Node {
    child: Option<Child>,
    admin: String,
}

impl Node {
    fn start(data: &Path) -> Node {
        let admin = free_addr();
        let child = Command::new(env!("CARGO_BIN_EXE_botvisor"))
            .args(["run", "--config", "config/botvisor.toml", "--data-dir", data.to_str().unwrap(), "--admin-addr", &admin])
            .args(["--sim-control-addr", &free_addr()])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("botvisor run");
        let node = Node { child: Some(child), admin };
        let start = Instant::now();
        while node.call("GET", "/readyz", None).is_none_or(|(s, _)| s != 200) {
            assert!(start.elapsed() < Duration::from_secs(30), "the node never got ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        node
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
        http(&self.admin, method, path, body)
    }

    fn add(&self, id: &str) -> (u16, Value) {
        self.call("POST", "/v1/bots", Some(&bot(id))).expect("the admin API answers")
    }

    fn bot_ids(&self) -> Vec<String> {
        let (_, bots) = self.call("GET", "/v1/bots", None).expect("the admin API answers");
        bots.as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_owned()).collect()
    }

    fn kill(&mut self, signal: &str) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args([signal, &child.id().to_string()]).status();
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none() && start.elapsed() < Duration::from_secs(15) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill("-KILL");
    }
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, size: &str) -> Tmpfs {
        let dir = std::env::temp_dir().join(format!("botvisor-disk-{name}-{}", std::process::id()));
        let _ = Command::new("umount").arg(&dir).stderr(Stdio::null()).status();
        std::fs::create_dir_all(&dir).unwrap();
        let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(&dir).status();
        assert!(mounted.is_ok_and(|s| s.success()), "mounting a tmpfs needs root (./scripts/test runs as root)");
        Tmpfs(dir)
    }

    fn remount(&self, mode: &str) {
        assert!(Command::new("mount").args(["-o", &format!("remount,{mode}")]).arg(&self.0).status().unwrap().success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `botvisor run` that must refuse to start: its exit code and what it printed.
fn refused_start(data: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_botvisor"))
        .args(["run", "--config", "config/botvisor.toml", "--data-dir", data.to_str().unwrap(), "--admin-addr", &free_addr()])
        .args(["--sim-control-addr", &free_addr()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("botvisor run");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the node started on a store it cannot write");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status.code(), stderr)
}

fn assert_store_failed(answer: (u16, Value), why: &str) {
    let (status, body) = answer;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["code"], "botvisor.api.store-failed", "{body}");
    let message = body["message"].as_str().unwrap_or_default().to_lowercase();
    assert!(message.contains(why), "the error says {why:?}: {message}");
}

#[test]
fn a_full_disk_and_a_read_only_one_give_clear_errors_and_lose_nothing_acknowledged() {
    let disk = Tmpfs::mount("full", "8m");
    let mut node = Node::start(&disk.0);
    assert_eq!(node.add("before-full").0, 201);

    // The disk fills up: the change is refused, said so, and the node goes on.
    let filler = disk.0.join("filler");
    let _ = Command::new("dd").args(["if=/dev/zero", "bs=64k"]).arg(format!("of={}", filler.display())).stderr(Stdio::null()).status();
    assert_store_failed(node.add("while-full"), "no space");
    assert_eq!(node.call("GET", "/healthz", None).map(|r| r.0), Some(200));
    assert!(node.bot_ids().contains(&"before-full".to_owned()) && !node.bot_ids().contains(&"while-full".to_owned()));
    // Space again: the same change goes through.
    std::fs::remove_file(&filler).unwrap();
    let (status, answer) = node.add("while-full");
    assert_eq!(status, 201, "after the space came back: {answer}");

    // The file system turns read-only (it can only while nothing is open for writing: the node
    // is stopped): the node refuses to start and says why; writable again, it starts.
    node.kill("-TERM");
    disk.remount("ro");
    let (code, stderr) = refused_start(&disk.0);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.to_lowercase().contains("read-only"), "the error says read-only: {stderr}");
    disk.remount("rw");
    let mut node = Node::start(&disk.0);
    assert_eq!(node.add("after-read-only").0, 201);

    // Every acknowledged change is there at the next start; the store opens cleanly.
    node.kill("-TERM");
    let node = Node::start(&disk.0);
    let ids = node.bot_ids();
    for id in ["before-full", "while-full", "after-read-only"] {
        assert!(ids.contains(&id.to_owned()), "{id} in {ids:?}");
    }
}

#[test]
fn a_data_directory_deleted_while_running_is_said_and_nothing_is_written_into_it() {
    let data = std::env::temp_dir().join(format!("botvisor-disk-deleted-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let node = Node::start(&data);
    assert_eq!(node.add("before").0, 201);
    std::fs::remove_dir_all(&data).unwrap();
    assert_store_failed(node.add("after"), "gone");
    assert_eq!(node.call("GET", "/healthz", None).map(|r| r.0), Some(200));
    assert_eq!(node.call("GET", "/v1/bots", None).map(|r| r.0), Some(200), "reading the running bots still works");
    drop(node);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn kill_9_in_the_middle_of_writes_leaves_a_store_that_opens_with_every_acknowledged_change() {
    let data = std::env::temp_dir().join(format!("botvisor-disk-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..4 {
        let mut node = Node::start(&data);
        let ids = node.bot_ids();
        for id in &acknowledged {
            assert!(ids.contains(id), "round {round}: {id}, acknowledged before a kill -9, is in {ids:?}");
        }
        // Writers race the kill: each POST either answered 201 (kept) or did not finish.
        let admin = node.admin.clone();
        let writers: Vec<_> = (0..6)
            .map(|w| {
                let admin = admin.clone();
                std::thread::spawn(move || {
                    let mut done = Vec::new();
                    for n in 0..20 {
                        let id = format!("k{round}-{w}-{n}");
                        match http(&admin, "POST", "/v1/bots", Some(&bot(&id))) {
                            Some((201, _)) => done.push(id),
                            _ => break,
                        }
                    }
                    done
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150 + 100 * round as u64));
        node.kill("-KILL");
        for writer in writers {
            acknowledged.extend(writer.join().unwrap());
        }
    }
    let node = Node::start(&data);
    let ids = node.bot_ids();
    let missing: Vec<&String> = acknowledged.iter().filter(|id| !ids.contains(id)).collect();
    assert!(missing.is_empty(), "acknowledged and lost: {missing:?}");
    assert!(!acknowledged.is_empty(), "some writes were acknowledged");
    drop(node);
    let _ = std::fs::remove_dir_all(&data);
}
