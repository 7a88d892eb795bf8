//! Helpers shared by the command-line tests: the `missive` binary run as a user would run
//! it, a relay process on a real socket, and two users set up through the commands.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_missive");
/// The state files' key in these tests: a raw key (`MISSIVE_STATE_KEY`), so no command waits
/// for Argon2id; `state_files_are_sealed` covers passphrases.
pub const STATE_KEY: &str = "4d697373697665207465737420737461746520666f722074686520636c692121";

pub fn run(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .current_dir(dir)
        .env("MISSIVE_STATE_KEY", STATE_KEY)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "missive {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct Relay(pub Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_relay(dir: &Path) -> (Relay, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    (relay_at(dir, &listen), format!("http://{listen}"))
}

/// A relay process on `listen` keeping its data in `dir/relay-data`, once it accepts
/// connections.
pub fn relay_at(dir: &Path, listen: &str) -> Relay {
    let child = Command::new(BIN)
        .current_dir(dir)
        .args(["relay", "--data-dir", "relay-data", "--listen", listen])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let relay = Relay(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(listen).is_err() {
        assert!(Instant::now() < deadline, "relay did not start on {listen}");
        std::thread::sleep(Duration::from_millis(50));
    }
    relay
}

/// Runs `missive` without requiring success, feeding `input` on standard input.
pub fn attempt(dir: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .env("MISSIVE_STATE_KEY", STATE_KEY)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Asserts `out` failed with `code` and said `message` on standard error.
pub fn refused(out: &Output, code: i32, message: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(
        stderr.contains(message),
        "expected {message:?} in {stderr:?}"
    );
}

/// A directory with a relay, and alice (Premium Career) and bob, published; alice invited
/// bob and, if `accepted`, bob accepted.
pub fn pair(name: &str, accepted: bool) -> (std::path::PathBuf, Relay, String) {
    let dir = std::env::temp_dir().join(format!("missive-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (relay, url) = start_relay(&dir);
    let r = ["--relay", url.as_str()];
    for user in ["alice", "bob"] {
        let state = format!("{user}.state");
        run(&dir, &["init", "--user", user, "--state", &state]);
    }
    run(
        &dir,
        &[
            "certify",
            "--relay-data-dir",
            "relay-data",
            "--state",
            "alice.state",
            "--tier",
            "career",
        ],
    );
    for s in ["alice.state", "bob.state"] {
        run(&dir, &[&["publish", "--state", s][..], &r].concat());
    }
    run(
        &dir,
        &[&["invite", "--state", "alice.state", "--to", "bob"][..], &r].concat(),
    );
    if accepted {
        run(
            &dir,
            &[
                &["accept", "--state", "bob.state", "--from", "alice"][..],
                &r,
            ]
            .concat(),
        );
    }
    (dir, relay, url)
}

pub fn connected_pair(name: &str) -> (std::path::PathBuf, Relay, String) {
    pair(name, true)
}
