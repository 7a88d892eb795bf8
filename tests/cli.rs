//! The `missive` command line end to end: the demo, and two users talking through a relay
//! process over a real socket.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use cli_support::*;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

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
        "none of the 20 message texts",
        "ana/2 reads: you (on another device): Ben, I can read you on my laptop now too.",
        "ana/2 reads: ben: Ana, the offer letter is attached.",
        "ben reads: ana: Got it on my laptop, signing tonight.",
        "ana/1 reads: you (on another device): Got it on my laptop, signing tonight.",
        "ana/2 reads: ben [to several]: Ana, the contract to all your devices.",
        "ana/1 reads: you (on another device): Read on the laptop, answering all.",
        "ana/1 reads: ben: Welcome aboard, Ana.",
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
    let refused = attempt(
        &dir,
        &[
            &["send", "--state", "alice.state", "--to", "bob", "too soon"][..],
            &r,
        ]
        .concat(),
        "",
    );
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

#[test]
fn account_names_have_one_spelling_and_no_control_characters() {
    let dir = std::env::temp_dir().join(format!("missive-cli-names-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (_relay, url) = start_relay(&dir);
    let r = ["--relay", url.as_str()];
    refused(
        &attempt(&dir, &["init", "--user", "", "--state", "e.state"], ""),
        1,
        "an account name cannot be empty",
    );
    refused(
        &attempt(
            &dir,
            &["init", "--user", "eve\x1b[2J", "--state", "e.state"],
            "",
        ),
        1,
        "cannot hold control or formatting characters",
    );
    refused(
        &attempt(
            &dir,
            &["init", "--user", "\u{202e}eve", "--state", "e.state"],
            "",
        ),
        1,
        "cannot hold control or formatting characters",
    );
    assert!(
        !dir.join("e.state").exists(),
        "a refused name made no state"
    );
    // Zoë registers with the decomposed spelling; Ana finds her with the composed one.
    run(
        &dir,
        &["init", "--user", "zoe\u{308}", "--state", "zoe.state"],
    );
    run(&dir, &["init", "--user", "ana", "--state", "ana.state"]);
    let certify = ["certify", "--relay-data-dir", "relay-data", "--state"];
    run(
        &dir,
        &[&certify[..], &["ana.state", "--tier", "career"]].concat(),
    );
    for s in ["zoe.state", "ana.state"] {
        run(&dir, &[&["publish", "--state", s][..], &r].concat());
    }
    let whoami = stdout(&run(&dir, &["whoami", "--state", "zoe.state"]));
    assert!(whoami.contains("account  zo\u{eb}\n"), "{whoami}");
    run(
        &dir,
        &[
            &["invite", "--state", "ana.state", "--to", "zo\u{eb}"][..],
            &r,
        ]
        .concat(),
    );
    run(
        &dir,
        &[&["accept", "--state", "zoe.state", "--from", "ana"][..], &r].concat(),
    );
    run(
        &dir,
        &[
            &[
                "send",
                "--state",
                "ana.state",
                "--to",
                "zoe\u{308}",
                "hallo",
            ][..],
            &r,
        ]
        .concat(),
    );
    let read = stdout(&run(
        &dir,
        &[&["read", "--state", "zoe.state"][..], &r].concat(),
    ));
    assert!(read.contains("ana: hallo"), "{read}");
    // Inviting yourself, in either spelling, spends nothing and connects nobody.
    refused(
        &attempt(
            &dir,
            &[&["invite", "--state", "ana.state", "--to", "ana"][..], &r].concat(),
            "",
        ),
        1,
        "ana is you",
    );
    // A name nobody registered is named in the error.
    refused(
        &attempt(
            &dir,
            &[
                &[
                    "send",
                    "--state",
                    "ana.state",
                    "--to",
                    "zo\u{eb},nobody",
                    "hi",
                ][..],
                &r,
            ]
            .concat(),
            "",
        ),
        1,
        "no account named nobody on this relay",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_get_an_exit_code_and_a_reason() {
    let (dir, _relay, url) = connected_pair("inputs");
    let r = ["--relay", url.as_str()];
    // An uncertified user is told what to run.
    refused(
        &attempt(
            &dir,
            &[&["invite", "--state", "bob.state", "--to", "alice"][..], &r].concat(),
            "",
        ),
        1,
        "run `certify`, then `publish`",
    );
    // A mistyped relay directory does not mint a new platform key.
    refused(
        &attempt(
            &dir,
            &[
                "certify",
                "--state",
                "bob.state",
                "--relay-data-dir",
                "relay-dta",
            ],
            "",
        ),
        1,
        "relay-dta holds no relay",
    );
    assert!(!dir.join("relay-dta").exists());
    // An empty message from standard input is refused; a long one is sent whole.
    refused(
        &attempt(
            &dir,
            &[&["send", "--state", "alice.state", "--to", "bob"][..], &r].concat(),
            "",
        ),
        1,
        "nothing to send",
    );
    let long = "word ".repeat(40_000);
    let sent = attempt(
        &dir,
        &[
            &["send", "--state", "alice.state", "--to", "bob", "-"][..],
            &r,
        ]
        .concat(),
        &format!("{long}\n"),
    );
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let read = stdout(&run(
        &dir,
        &[&["read", "--state", "bob.state"][..], &r].concat(),
    ));
    assert!(
        read.contains(&format!("alice: {long}\n")),
        "the long message arrived whole"
    );
    // Clap's own usage errors are status 2.
    assert_eq!(
        attempt(&dir, &["send", "--state", "alice.state"], "")
            .status
            .code(),
        Some(2)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn text_from_others_cannot_drive_the_terminal() {
    let (dir, _relay, url) = connected_pair("escapes");
    let r = ["--relay", url.as_str()];
    let hostile = "\x1b]0;owned\x07\x1b[2Jhi\r\n(now connected with mallory)\u{202e}";
    run(
        &dir,
        &[
            &["send", "--state", "alice.state", "--to", "bob", hostile][..],
            &r,
        ]
        .concat(),
    );
    let out = run(&dir, &[&["read", "--state", "bob.state"][..], &r].concat());
    assert!(
        !out.stdout
            .iter()
            .any(|&b| b == 0x1b || b == 0x07 || b == b'\r'),
        "control bytes reached the terminal"
    );
    let read = stdout(&out);
    assert!(
        read.contains(
            "alice: \\u{1b}]0;owned\\u{7}\\u{1b}[2Jhi\\u{d}\\n(now connected with mallory)\\u{202e}\n"
        ),
        "{read}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_read_that_drops_deliveries_says_so_with_its_own_status() {
    let (dir, _relay, url) = pair("dropped", false);
    let r = ["--relay", url.as_str()];
    // Bob's state goes back to before he accepted (a restored backup): alice's message
    // arrives for a connection it does not know.
    run(&dir, &[&["read", "--state", "bob.state"][..], &r].concat());
    let before = dir.join("bob-before.state");
    std::fs::copy(dir.join("bob.state"), &before).unwrap();
    run(
        &dir,
        &[
            &["accept", "--state", "bob.state", "--from", "alice"][..],
            &r,
        ]
        .concat(),
    );
    run(
        &dir,
        &[
            &["send", "--state", "alice.state", "--to", "bob", "first"][..],
            &r,
        ]
        .concat(),
    );
    let out = attempt(
        &dir,
        &[&["read", "--state", "bob-before.state"][..], &r].concat(),
        "",
    );
    let said = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.contains("1 delivery could not be read (listed above)"),
        "{said}"
    );
    assert!(
        said.contains("(dropped a delivery: decryption failed)"),
        "{said}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `missive ARGS` with a passphrase instead of the tests' raw key.
fn with_passphrase(dir: &Path, phrase: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .env_remove("MISSIVE_STATE_KEY")
        .env("MISSIVE_PASSPHRASE", phrase)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn state_files_are_sealed_and_a_damaged_one_is_refused() {
    let dir = std::env::temp_dir().join(format!("missive-cli-sealed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A passphrase: Argon2id.
    let made = with_passphrase(
        &dir,
        "hunter2",
        &["init", "--user", "alice", "--state", "a.state"],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let sealed = std::fs::read(dir.join("a.state")).unwrap();
    assert!(sealed.starts_with(b"MSVSTATE"));
    assert!(
        !sealed.windows(5).any(|w| w == b"alice"),
        "the name is not in the clear"
    );
    let who = with_passphrase(&dir, "hunter2", &["whoami", "--state", "a.state"]);
    assert!(stdout(&who).contains("account  alice"), "{}", stdout(&who));
    refused(
        &with_passphrase(&dir, "hunter3", &["whoami", "--state", "a.state"]),
        1,
        "a.state: wrong passphrase or key, or the file was altered",
    );
    refused(
        &attempt(&dir, &["whoami", "--state", "a.state"], ""),
        1,
        "a.state: it is sealed with a passphrase",
    );
    let no_secret = Command::new(BIN)
        .current_dir(&dir)
        .env_remove("MISSIVE_STATE_KEY")
        .env_remove("MISSIVE_PASSPHRASE")
        .args(["whoami", "--state", "a.state"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    refused(&no_secret, 1, "no passphrase: set MISSIVE_PASSPHRASE");

    // The header records Argon2id's costs: 64 MiB, three passes, one lane.
    assert_eq!(sealed[9], 1, "key source: a passphrase");
    let costs: Vec<u32> = sealed[10..22]
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(costs, [64 * 1024, 3, 1]);
    // A header asking for more than a state file may is refused before any work; one at the
    // bounds is tried, and fails its seal.
    for (at, value, says) in [
        (
            10,
            1024 * 1024 + 1,
            "asks for more work than a state file may",
        ),
        (14, 17, "asks for more work than a state file may"),
        (18, 17, "asks for more work than a state file may"),
        (14, 16, "wrong passphrase or key, or the file was altered"),
        (18, 16, "wrong passphrase or key, or the file was altered"),
    ] {
        let mut asked = sealed.clone();
        asked[at..at + 4].copy_from_slice(&u32::to_le_bytes(value));
        std::fs::write(dir.join("costly.state"), &asked).unwrap();
        refused(
            &with_passphrase(&dir, "hunter2", &["whoami", "--state", "costly.state"]),
            1,
            says,
        );
    }
    // A missing file, and a path that cannot be read as one, say which.
    refused(
        &attempt(&dir, &["whoami", "--state", "nobody.state"], ""),
        1,
        "nobody.state: no such file (run `init` first)",
    );
    let unreadable = attempt(&dir, &["whoami", "--state", "."], "");
    let stderr = String::from_utf8_lossy(&unreadable.stderr);
    assert_eq!(unreadable.status.code(), Some(1));
    assert!(!stderr.contains("no such file"), "{stderr}");

    // A raw key, and every kind of damage: each header byte, bytes through the body, the tag.
    run(&dir, &["init", "--user", "bob", "--state", "b.state"]);
    let good = std::fs::read(dir.join("b.state")).unwrap();
    let body = (50..good.len()).step_by(good.len() / 40);
    let positions: Vec<usize> = (0..50)
        .chain(body)
        .chain(good.len() - 16..good.len())
        .collect();
    for at in positions {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        std::fs::write(dir.join("bad.state"), &bad).unwrap();
        let out = attempt(&dir, &["whoami", "--state", "bad.state"], "");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "byte {at} flipped loaded: {stderr}"
        );
        assert!(
            stderr.starts_with("error: bad.state: "),
            "byte {at}: {stderr}"
        );
        let said = [
            "not a sealed state file",
            "altered",
            "version",
            "key source",
            "sealed with",
        ];
        assert!(
            said.iter().any(|s| stderr.contains(s)),
            "byte {at}: {stderr}"
        );
    }
    let truncated = "truncated: shorter than a header and a tag";
    for (keep, says) in [
        (0, truncated),
        (5, truncated),
        (65, truncated),
        (66, "altered"),
    ] {
        std::fs::write(dir.join("cut.state"), &good[..keep]).unwrap();
        refused(
            &attempt(&dir, &["whoami", "--state", "cut.state"], ""),
            1,
            says,
        );
    }

    // A state saved in the clear by an earlier version is refused until `seal` seals it.
    let carol = missive::client::Client::new(&mut rand::rng(), b"carol");
    let clear = carol.to_bytes().unwrap();
    std::fs::write(dir.join("c.state"), &clear[..]).unwrap();
    refused(
        &attempt(&dir, &["whoami", "--state", "c.state"], ""),
        1,
        "c.state: not a sealed state file (a state saved in the clear by an earlier version is sealed once with `missive seal --state c.state`)",
    );
    let sealed = stdout(&run(&dir, &["seal", "--state", "c.state"]));
    assert!(sealed.contains("c.state is sealed"), "{sealed}");
    assert!(
        std::fs::read(dir.join("c.state"))
            .unwrap()
            .starts_with(b"MSVSTATE")
    );
    let who = run(&dir, &["whoami", "--state", "c.state"]);
    assert!(stdout(&who).contains("account  carol"));
    // Sealing a sealed file changes nothing it holds.
    run(&dir, &["seal", "--state", "c.state"]);
    assert!(stdout(&run(&dir, &["whoami", "--state", "c.state"])).contains("account  carol"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A TLS-terminating proxy on a loopback port in front of `relay` (as Caddy or nginx would
/// be), with the test certificate for `localhost` issued by `tests/fixtures/tls/ca.pem` (a
/// test-only authority whose key was discarded). Returns its `https://` URL.
fn tls_proxy(relay: &str) -> String {
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls::{self, pki_types::pem::PemObject};
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let chain = CertificateDer::pem_file_iter(fixtures.join("relay.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixtures.join("relay.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let backend = relay.trim_start_matches("http://").to_owned();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((socket, _)) = listener.accept().await {
                let (acceptor, backend) = (acceptor.clone(), backend.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
    });
    format!("https://localhost:{port}")
}

#[test]
fn the_client_speaks_tls_to_a_relay_behind_a_proxy() {
    let dir = std::env::temp_dir().join(format!("missive-cli-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (_relay, plain) = start_relay(&dir);
    let url = tls_proxy(&plain);
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem");
    run(&dir, &["init", "--user", "alice", "--state", "a.state"]);
    // Without the relay's authority the certificate is not trusted, and nothing is sent.
    let untrusted = attempt(
        &dir,
        &["publish", "--state", "a.state", "--relay", &url],
        "",
    );
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert_eq!(untrusted.status.code(), Some(1), "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    let trusted = Command::new(BIN)
        .current_dir(&dir)
        .env("MISSIVE_STATE_KEY", STATE_KEY)
        .env("MISSIVE_CA_CERT", &ca)
        .args(["publish", "--state", "a.state", "--relay", &url])
        .output()
        .unwrap();
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert!(stdout(&trusted).contains("published a bundle"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn messages_stay_in_the_history_after_they_are_read() {
    let (dir, _relay, url) = connected_pair("history");
    let r = ["--relay", url.as_str()];
    let say = |from: &str, to: &str, text: &str| {
        let state = format!("{from}.state");
        run(
            &dir,
            &[&["send", "--state", &state, "--to", to, text][..], &r].concat(),
        );
    };
    say("alice", "bob", "one");
    say("alice", "bob", "two");
    run(&dir, &[&["read", "--state", "bob.state"][..], &r].concat());
    say("bob", "alice", "three");
    // Read once; a second read shows nothing again, the history keeps all of it in order.
    assert!(
        !stdout(&run(
            &dir,
            &[&["read", "--state", "bob.state"][..], &r].concat()
        ))
        .contains("one")
    );
    let history = stdout(&run(
        &dir,
        &["history", "--state", "bob.state", "--with", "alice"],
    ));
    let lines: Vec<&str> = history
        .lines()
        .map(|l| l.split_once("] ").unwrap().1)
        .collect();
    assert_eq!(
        lines,
        ["alice: one", "alice: two", "you → alice: three"],
        "{history}"
    );
    let alice = stdout(&run(
        &dir,
        &["history", "--state", "alice.state", "--with", "bob"],
    ));
    let lines: Vec<&str> = alice
        .lines()
        .map(|l| l.split_once("] ").unwrap().1)
        .collect();
    assert_eq!(
        lines,
        ["you → bob: one", "you → bob: two"],
        "alice has not read yet: {alice}"
    );
    let listed = stdout(&run(&dir, &["conversations", "--state", "bob.state"]));
    assert!(
        listed.starts_with("alice: 3 messages, last at "),
        "{listed}"
    );
    let nobody = stdout(&run(
        &dir,
        &["history", "--state", "bob.state", "--with", "carol"],
    ));
    assert_eq!(nobody, "(no messages with carol)\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_message_sent_while_the_relay_is_down_waits_in_the_outbox() {
    let (dir, relay, url) = connected_pair("outbox");
    let r = ["--relay", url.as_str()];
    // Alice learns of bob's acceptance, then the relay goes away.
    run(
        &dir,
        &[&["read", "--state", "alice.state"][..], &r].concat(),
    );
    drop(relay);
    let offline = attempt(
        &dir,
        &[
            &[
                "send",
                "--state",
                "alice.state",
                "--to",
                "bob",
                "sent offline",
            ][..],
            &r,
        ]
        .concat(),
        "",
    );
    refused(
        &offline,
        1,
        "envelope(s) wait in the outbox and go with the next command",
    );
    let stderr = String::from_utf8_lossy(&offline.stderr);
    assert!(stderr.contains("relay unreachable"), "{stderr}");
    // The relay comes back on the same address and data; alice's next command sends it first.
    let listen = url.trim_start_matches("http://");
    let _relay = relay_at(&dir, listen);
    let flushed = stdout(&run(
        &dir,
        &[&["read", "--state", "alice.state"][..], &r].concat(),
    ));
    assert!(
        flushed.contains("envelope(s) left in the outbox)"),
        "{flushed}"
    );
    let read = stdout(&run(
        &dir,
        &[&["read", "--state", "bob.state"][..], &r].concat(),
    ));
    assert!(read.contains("alice: sent offline"), "{read}");
    // Sent once: nothing is left to flush.
    let again = stdout(&run(
        &dir,
        &[&["read", "--state", "alice.state"][..], &r].concat(),
    ));
    assert!(!again.contains("outbox"), "{again}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_relay_logs_plain_text_to_a_file_and_says_when_it_stops() {
    let dir = std::env::temp_dir().join(format!("missive-cli-logs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = std::fs::File::create(dir.join("relay.log")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .current_dir(&dir)
        .args(["relay", "--data-dir", "relay-data", "--listen", &listen])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(Instant::now() < deadline, "relay did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGTERM, as `kill` and service managers send it.
    let killed = Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "a stopped relay exits cleanly: {status}");
    let text = std::fs::read_to_string(dir.join("relay.log")).unwrap();
    assert!(text.contains("relay listening"), "{text}");
    assert!(text.contains("relay stopped"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "no colour codes in a file: {text:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
