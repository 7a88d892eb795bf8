//! `missive chat` as people use it: each user's chat view runs in its own terminal (a tmux
//! session), keys are typed into it, and what each screen shows is read back.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cli_support::*;

/// A tmux server of the test's own (its own socket), killed with everything in it at the end.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(name: &str) -> Self {
        let socket = format!("missive-{name}-{}", std::process::id());
        Self { socket }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux is installed (.ci/run installs it)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A terminal of 90 × 24 running `missive chat` for `user` with `peer` (an account name,
    /// or `--group NAME`); when the view ends, the terminal shows its exit status.
    fn chat(&self, dir: &Path, relay: &str, user: &str, peer: &str) {
        let with = if peer.starts_with("--group") {
            peer.to_owned()
        } else {
            format!("--with {peer}")
        };
        let command = format!(
            "{BIN} chat --state {user}.state --relay {relay} {with}; \
             echo \"chat ended: $?\"; sleep 600"
        );
        let key = format!("MISSIVE_STATE_KEY={STATE_KEY}");
        let dir = dir.to_str().unwrap();
        self.tmux(&[
            "new-session",
            "-d",
            "-s",
            user,
            "-x",
            "90",
            "-y",
            "24",
            "-c",
            dir,
            "-e",
            &key,
            &command,
        ]);
    }

    /// Alice's and bob's views of their conversation, once both are connected.
    fn alice_and_bob(&self, dir: &Path, relay: &str) {
        self.chat(dir, relay, "alice", "bob");
        self.chat(dir, relay, "bob", "alice");
        self.wait_for("alice", "live");
        self.wait_for("bob", "live");
    }

    fn screen(&self, user: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-t", user])
    }

    /// Types `text` into `user`'s terminal (literally: no key names).
    fn type_text(&self, user: &str, text: &str) {
        self.tmux(&["send-keys", "-t", user, "-l", text]);
    }

    fn press(&self, user: &str, key: &str) {
        self.tmux(&["send-keys", "-t", user, key]);
    }

    /// Waits until `user`'s screen shows `text`; returns the screen.
    fn wait_for(&self, user: &str, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen(user);
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{user}'s screen never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Asserts `user`'s screen does not show `text` after waiting long enough for it to
    /// arrive had it been sent (an indicator takes well under 0.2 s on this relay).
    fn never_shows(&self, user: &str, text: &str) {
        std::thread::sleep(Duration::from_millis(1500));
        let screen = self.screen(user);
        assert!(
            !screen.contains(text),
            "{user}'s screen shows {text:?}:\n{screen}"
        );
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn as_user(dir: &Path, url: &str, user: &str, args: &[&str]) -> String {
    let state = format!("{user}.state");
    stdout(&run(
        dir,
        &[args, &["--state", &state, "--relay", url]].concat(),
    ))
}

#[test]
fn two_people_chat_live_with_typing_indicators_and_read_receipts() {
    let (dir, _relay, url) = connected_pair("chat-live");
    // Waiting before bob opens the chat: it arrives with the socket's backlog.
    as_user(
        &dir,
        &url,
        "alice",
        &["send", "--to", "bob", "before the chat"],
    );
    // Text from others cannot drive the terminal: escapes are shown, not obeyed.
    as_user(
        &dir,
        &url,
        "alice",
        &["send", "--to", "bob", "\u{1b}[2Jcleared?"],
    );
    let tmux = Tmux::new("live");
    tmux.alice_and_bob(&dir, &url);
    tmux.wait_for("bob", "alice: before the chat");
    tmux.wait_for("bob", "alice: \\u{1b}[2Jcleared?");
    // Bob's view read it, so alice's shows her message read.
    tmux.wait_for("alice", "you: before the chat · read");

    tmux.type_text("alice", "hello bob");
    tmux.wait_for("bob", "alice is typing…");
    tmux.press("alice", "Enter");
    let bob = tmux.wait_for("bob", "alice: hello bob");
    assert!(!bob.contains("alice is typing"), "{bob}");
    tmux.wait_for("alice", "you: hello bob · read");

    tmux.type_text("bob", "hi alice, good to see you");
    tmux.wait_for("alice", "bob is typing…");
    tmux.press("bob", "Enter");
    tmux.wait_for("alice", "bob: hi alice, good to see you");
    tmux.wait_for("bob", "you: hi alice, good to see you · read");

    // The view holds the state: another command that would change it waits its turn, and
    // one that only looks runs beside it.
    let busy = attempt(
        &dir,
        &[
            "send",
            "--state",
            "alice.state",
            "--relay",
            &url,
            "--to",
            "bob",
            "x",
        ],
        "",
    );
    refused(&busy, 1, "alice.state: in use by another missive command");
    let history = stdout(&run(
        &dir,
        &["history", "--state", "alice.state", "--with", "bob"],
    ));
    assert!(
        history.contains("bob: hi alice, good to see you"),
        "{history}"
    );

    tmux.press("alice", "Escape");
    tmux.wait_for("alice", "chat ended: 0");
    tmux.press("bob", "C-c");
    tmux.wait_for("bob", "chat ended: 0");
    // What both saw is in their histories, and nothing waits unread.
    let history = stdout(&run(
        &dir,
        &["history", "--state", "bob.state", "--with", "alice"],
    ));
    for line in [
        "alice: before the chat",
        "alice: hello bob",
        "you → alice: hi alice, good to see you",
    ] {
        assert!(history.contains(line), "{line:?} not in {history}");
    }
    let unread = as_user(&dir, &url, "bob", &["read"]);
    assert!(!unread.contains("alice:"), "{unread}");
    drop(tmux);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn switched_off_receipts_and_typing_indicators_are_neither_sent_nor_shown() {
    let (dir, _relay, url) = connected_pair("chat-off");
    as_user(&dir, &url, "alice", &["send", "--to", "bob", "first"]);
    let settings = as_user(
        &dir,
        &url,
        "bob",
        &["settings", "--read-receipts", "off", "--typing", "off"],
    );
    assert!(settings.contains("read receipts: off"), "{settings}");
    assert!(settings.contains("typing indicators: off"), "{settings}");
    let tmux = Tmux::new("off");
    tmux.alice_and_bob(&dir, &url);
    tmux.wait_for("bob", "alice: first");

    // Bob types: alice is not told.
    tmux.type_text("bob", "a reply");
    tmux.never_shows("alice", "bob is typing");
    tmux.press("bob", "Enter");
    tmux.wait_for("alice", "bob: a reply");
    // Alice types: her client sends the indicator, bob's does not show it.
    tmux.type_text("alice", "thanks");
    tmux.never_shows("bob", "alice is typing");
    tmux.press("alice", "Enter");
    tmux.wait_for("bob", "alice: thanks");
    // Bob read both of alice's messages, and his client said nothing.
    tmux.never_shows("alice", "· read");
    let alice = tmux.screen("alice");
    assert!(alice.contains("you: first · sent"), "{alice}");
    assert!(alice.contains("you: thanks · sent"), "{alice}");
    drop(tmux);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_view_rides_out_a_relay_restart_and_sends_what_waited() {
    let (dir, relay, url) = connected_pair("chat-restart");
    as_user(&dir, &url, "alice", &["read"]);
    let tmux = Tmux::new("restart");
    tmux.chat(&dir, &url, "alice", "bob");
    tmux.wait_for("alice", "live");
    drop(relay);
    tmux.wait_for("alice", "offline");
    tmux.type_text("alice", "sent while the relay was down");
    tmux.press("alice", "Enter");
    tmux.wait_for("alice", "you: sent while the relay was down · queued");
    let _relay = relay_at(&dir, url.trim_start_matches("http://"));
    // The view connects again by itself and sends what waited in the outbox.
    tmux.wait_for("alice", "you: sent while the relay was down · sent");
    tmux.chat(&dir, &url, "bob", "alice");
    tmux.wait_for("bob", "alice: sent while the relay was down");
    drop(tmux);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_group_chat_carries_posts_by_admins_and_managers_to_every_member() {
    let (dir, _relay, url) = connected_pair("chat-group");
    run(&dir, &["init", "--user", "carol", "--state", "carol.state"]);
    as_user(&dir, &url, "carol", &["publish"]);
    as_user(&dir, &url, "alice", &["invite", "--to", "carol"]);
    as_user(&dir, &url, "carol", &["accept", "--from", "alice"]);
    let created = as_user(
        &dir,
        &url,
        "alice",
        &["group-create", "--members", "bob:manager,carol"],
    );
    for member in ["you (admin)", "bob (manager)", "carol (member)"] {
        assert!(created.contains(member), "{member:?} not in {created}");
    }
    let group = created
        .split("created group ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap()
        .to_owned();
    for user in ["bob", "carol"] {
        as_user(&dir, &url, user, &["read"]);
        let state = format!("{user}.state");
        let groups = stdout(&run(&dir, &["groups", "--state", &state]));
        assert!(groups.contains(&group), "{user}: {groups}");
    }
    // A manager writes to every member: bob looks carol up (the group names no one).
    let contacts = as_user(&dir, &url, "bob", &["contacts", "--add", "carol"]);
    assert!(contacts.contains("carol: not connected"), "{contacts}");
    let tmux = Tmux::new("group");
    for user in ["alice", "bob", "carol"] {
        tmux.chat(&dir, &url, user, &format!("--group {group}"));
        tmux.wait_for(user, "(3 members)");
        tmux.wait_for(user, "live");
    }
    tmux.type_text("alice", "welcome, both");
    tmux.press("alice", "Enter");
    tmux.wait_for("bob", "alice: welcome, both");
    tmux.wait_for("carol", "alice: welcome, both");

    tmux.type_text("bob", "glad to be here");
    // Typing reaches the members who gave bob their contact key (alice; not carol).
    tmux.wait_for("alice", "bob is typing…");
    tmux.press("bob", "Enter");
    tmux.wait_for("alice", "bob: glad to be here");
    tmux.wait_for("carol", "bob: glad to be here");

    // A plain member reads the group but does not post to it: refused before anything leaves.
    tmux.type_text("carol", "may I?");
    tmux.press("carol", "Enter");
    tmux.wait_for("carol", "(not sent:");
    tmux.never_shows("alice", "may I?");
    for user in ["alice", "bob", "carol"] {
        tmux.press(user, "Escape");
        tmux.wait_for(user, "chat ended: 0");
    }
    let history = stdout(&run(
        &dir,
        &[
            "history",
            "--state",
            "carol.state",
            "--with",
            &format!("group {group}"),
        ],
    ));
    assert!(history.contains("alice: welcome, both"), "{history}");
    assert!(history.contains("bob: glad to be here"), "{history}");
    drop(tmux);
    std::fs::remove_dir_all(&dir).unwrap();
}
