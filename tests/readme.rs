//! The README's command blocks, run as written and in order.
//!
//! Each `cargo run … --features cli[,vectors] -- ARGS` runs the `missive` binary this test was
//! built with (the same source, built with every feature), and each `cargo run --example NAME` the
//! example `cargo test` built beside it, so the test does not start a second build; the rest
//! of every line is the README's text. `cargo test --all-features` is the command running this
//! test, so it is the one line not run again. A block that starts the relay runs in the
//! background, as the README's "in one terminal" says, until the test ends.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_missive");
const README: &str = include_str!("../README.md");

/// The ```sh blocks of the README, in order.
fn blocks() -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in README.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), text) => block.push(text.to_owned()),
            (None, _) => {}
        }
    }
    blocks
}

fn examples_dir() -> PathBuf {
    Path::new(BIN).parent().unwrap().join("examples")
}

/// `line` with its `cargo run` replaced by the binary that command would build; `None` for
/// the test command itself.
fn translate(line: &str) -> Option<String> {
    if line.contains("cargo test") {
        return None;
    }
    // The bindings' block builds another crate of the workspace, which a test running inside
    // `cargo test` must not start; `.ci/run` runs its two lines as written (its bindings step).
    if line.starts_with("missive-ffi/generate") || line.contains(" missive-ffi/tests") {
        return None;
    }
    let mut out = line.to_owned();
    for prefix in [
        "cargo run --release --features cli --",
        "cargo run --features cli,vectors --",
        "cargo run --features cli --",
    ] {
        out = out.replace(prefix, &format!("'{BIN}'"));
    }
    if let Some(at) = out.find("cargo run --example ") {
        let rest = &out[at + "cargo run --example ".len()..];
        let name: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
        let exe = examples_dir().join(&name);
        out = format!("{}'{}'{}", &out[..at], exe.display(), &rest[name.len()..]);
    }
    assert!(
        !out.contains("cargo "),
        "a README line the test cannot run: {line}"
    );
    Some(out)
}

struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_command_block_in_the_readme_runs_as_written() {
    let dir = std::env::temp_dir().join(format!("missive-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let blocks = blocks();
    assert!(blocks.len() >= 4, "found {} sh blocks", blocks.len());
    let mut background = Vec::new();
    let mut outputs = Vec::new();
    let mut exports: Vec<String> = Vec::new();
    for block in &blocks {
        let lines: Vec<String> = block.iter().filter_map(|l| translate(l)).collect();
        if lines.is_empty() {
            continue;
        }
        if lines.len() == 1 && lines[0].contains("' relay ") {
            let child = Command::new("sh")
                .current_dir(&dir)
                .args(["-c", &format!("exec {}", lines[0])])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            background.push(Background(child));
            let listen = lines[0].split("--listen ").nth(1).unwrap();
            wait_for(listen.split_whitespace().next().unwrap());
            continue;
        }
        // Blocks after the first run in the same terminal: what it exported still holds.
        let script = format!("set -ex\n{}\n{}\n", exports.join("\n"), lines.join("\n"));
        exports.extend(lines.iter().filter(|l| l.starts_with("export ")).cloned());
        let out = Command::new("sh")
            .current_dir(&dir)
            .args(["-c", &script])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "README block failed ({}):\n{}\n--- stdout\n{stdout}\n--- stderr (each command is traced with +)\n{}",
            out.status,
            block.join("\n"),
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(stdout);
    }
    // What the CLI section promises a newcomer.
    let cli = outputs
        .iter()
        .find(|o| o.contains("created alice"))
        .unwrap();
    // Bob read it, and his history still has it (`read` prints no timestamp; `history` does).
    assert!(
        cli.contains("] alice: Hello Bob\n"),
        "bob's history:\n{cli}"
    );
    for expected in [
        "created alice",
        "created bob",
        "certified: PremiumCareer",
        "invited bob",
        "(invitation from alice: \"Hi from Alice\")",
        "connected with alice",
        "(now connected with bob)",
        "sent to bob",
        "alice: Hello Bob",
        "bob: A longer answer, from a pipe or a file",
        "bob: connected",
        "you → alice: A longer answer, from a pipe or a file",
    ] {
        assert!(cli.contains(expected), "missing {expected:?} in:\n{cli}");
    }
    let groups = outputs.last().unwrap();
    for expected in [
        "created group",
        "you (admin)",
        "bob (manager)",
        "read receipts: off",
        "typing indicators: on",
    ] {
        assert!(
            groups.contains(expected),
            "missing {expected:?} in:\n{groups}"
        );
    }
    drop(background);
    std::fs::remove_dir_all(&dir).unwrap();
}
