//! The `missive` command line end to end: the demo, and two users talking through a relay
//! process over a real socket.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_missive");

fn run(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .current_dir(dir)
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

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Relay(Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_relay(dir: &Path) -> (Relay, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(BIN)
        .current_dir(dir)
        .args(["relay", "--data-dir", "relay-data", "--listen", &listen])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(Instant::now() < deadline, "relay did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Relay(child), format!("http://{listen}"))
}

#[test]
fn the_demo_runs_and_its_audit_finds_nothing() {
    let out = run(Path::new(env!("CARGO_MANIFEST_DIR")), &["demo"]);
    let text = stdout(&out);
    for expected in [
        "ben reads: ana: Hi Ben, thanks for connecting.",
        "they match",
        "chloe reads: ana [Open Profile]",
        "dan reads: ben [InMail]",
        "ana buys 3 InMail credits",
        "dan reads: ana [InMail]",
        "[Sponsored by Acme Recruiting]",
        "acme reads: (lead from ana: email=ana@example.com",
        "refused: ana (a plain member) posts to the group",
        "refused: dan posts mentioning 21 members",
        "ben reads it; his client sends 0 read receipts",
        "no sender name, identity key or signing key",
        "none of the 14 message texts",
    ] {
        assert!(
            text.contains(expected),
            "demo output lacks {expected:?}:\n{text}"
        );
    }
}

#[test]
fn two_users_connect_and_talk_through_a_relay_process() {
    let dir = std::env::temp_dir().join(format!("missive-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_relay, url) = start_relay(&dir);
    let r = ["--relay", url.as_str()];
    run(&dir, &["init", "--user", "alice", "--state", "alice.state"]);
    run(&dir, &["init", "--user", "bob", "--state", "bob.state"]);
    // The stand-alone relay is its own platform: it certifies each account.
    let certify = ["certify", "--relay-data-dir", "relay-data", "--state"];
    run(
        &dir,
        &[&certify[..], &["alice.state", "--tier", "career"]].concat(),
    );
    run(&dir, &[&certify[..], &["bob.state"]].concat());
    for s in ["alice.state", "bob.state"] {
        let published = stdout(&run(&dir, &[&["publish", "--state", s][..], &r].concat()));
        assert!(published.contains("invite"), "{published}");
    }
    let refused = Command::new(BIN)
        .current_dir(&dir)
        .args(
            [
                &["send", "--state", "alice.state", "--to", "bob", "too soon"][..],
                &r,
            ]
            .concat(),
        )
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not connected"));
    run(
        &dir,
        &[
            &[
                "invite",
                "--state",
                "alice.state",
                "--to",
                "bob",
                "--note",
                "Hi from Alice",
            ][..],
            &r,
        ]
        .concat(),
    );
    assert!(
        stdout(&run(
            &dir,
            &[&["read", "--state", "bob.state"][..], &r].concat()
        ))
        .contains("invitation from alice: \"Hi from Alice\"")
    );
    run(
        &dir,
        &[
            &["accept", "--state", "bob.state", "--from", "alice"][..],
            &r,
        ]
        .concat(),
    );
    assert!(
        stdout(&run(
            &dir,
            &[&["read", "--state", "alice.state"][..], &r].concat()
        ))
        .contains("now connected with bob")
    );
    run(
        &dir,
        &[
            &["send", "--state", "alice.state", "--to", "bob", "Hello Bob"][..],
            &r,
        ]
        .concat(),
    );
    assert!(
        stdout(&run(
            &dir,
            &[&["read", "--state", "bob.state"][..], &r].concat()
        ))
        .contains("alice: Hello Bob")
    );
    // Read and acknowledged: nothing twice.
    assert!(
        !stdout(&run(
            &dir,
            &[&["read", "--state", "bob.state"][..], &r].concat()
        ))
        .contains("Hello Bob")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("alice.state"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "state files are private to their owner");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
