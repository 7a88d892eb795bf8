//! `missive demo`: a relay on a temporary data directory and four users walking through every
//! message kind, showing what each reads and what the relay stored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use missive::SafetyNumber;
use missive::client::{Client, Content};
use missive::relay::{RelayConfig, RelayState, serve};

use crate::http::{Relay, now};
use crate::user_cmd::{contact, receive_all};

struct Demo {
    relay: Relay,
    data_dir: PathBuf,
    /// Every stored envelope body and part seen while they waited at the relay.
    stored: std::cell::RefCell<Vec<Vec<u8>>>,
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn start_relay(data_dir: &Path) -> Result<SocketAddr, String> {
    let state = RelayState::open(data_dir, RelayConfig::default()).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    std::thread::spawn(move || runtime.block_on(serve(listener, state, std::future::pending())));
    Ok(addr)
}

pub(crate) fn run() -> Result<(), String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let data_dir =
        std::env::temp_dir().join(format!("missive-demo-{}-{nanos}", std::process::id()));
    let addr = start_relay(&data_dir)?;
    println!(
        "Missive demo: a relay on http://{addr}, storing into {}",
        data_dir.display()
    );
    let demo = Demo {
        relay: Relay::new(&format!("http://{addr}")),
        data_dir: data_dir.clone(),
        stored: Default::default(),
    };
    let result = demo.walk();
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

impl Demo {
    fn user(&self, name: &str) -> Result<Client, String> {
        let mut client = Client::new(&mut rand::rng(), name.as_bytes());
        self.relay.publish(&mut client, 10)?;
        println!(
            "{name:>6}: identity, mailbox {}…, 10 one-time prekeys published",
            hex::encode(&client.mailbox_id().0[..4])
        );
        Ok(client)
    }

    fn read(&self, client: &mut Client) -> Result<(), String> {
        let name = String::from_utf8_lossy(client.user()).into_owned();
        let lines = receive_all(&self.relay, client)?;
        if lines.is_empty() {
            println!("{name:>6} reads: (nothing)");
        }
        for line in lines {
            println!("{name:>6} reads: {line}");
        }
        Ok(())
    }

    fn walk(&self) -> Result<(), String> {
        let plaintexts = [
            "Hi Bob, thanks for connecting. Coffee next week?",
            "Gladly, Alice. Tuesday works.",
            "Team: the offsite moves to Thursday.",
            "Welcome to the hiring committee, everyone.",
            "Thanks Carol, happy to help.",
        ];
        step("Users: each creates an identity and a mailbox, and publishes prekeys");
        let mut alice = self.user("alice")?;
        let mut bob = self.user("bob")?;
        let mut carol = self.user("carol")?;
        let mut dave = self.user("dave")?;

        step("1. A direct message, and a reply (pairwise Double Ratchet hands over the keys)");
        let bob_id = contact(&self.relay, &mut alice, "bob")?;
        self.relay.submit(
            &alice
                .send(
                    &mut rand::rng(),
                    &bob_id,
                    &Content::text(plaintexts[0]),
                    now(),
                )
                .map_err(|e| e.to_string())?,
        )?;
        println!(" alice sends bob a message");
        self.read(&mut bob)?;
        let alice_id = *alice.mailbox_id();
        self.relay.submit(
            &bob.send(
                &mut rand::rng(),
                &alice_id,
                &Content::text(plaintexts[1]),
                now(),
            )
            .map_err(|e| e.to_string())?,
        )?;
        println!("   bob replies");
        self.read(&mut alice)?;
        self.read(&mut carol)?;

        step("2. Safety numbers: alice and bob compare them out of band");
        let bob_as_alice_knows = alice
            .contact(&bob_id)
            .map(|c| c.identity)
            .ok_or("alice has no contact bob")?;
        let alice_as_bob_knows = bob
            .contact(&alice_id)
            .map(|c| c.identity)
            .ok_or("bob has no contact alice")?;
        let at_alice = SafetyNumber::new(b"alice", alice.identity(), b"bob", &bob_as_alice_knows);
        let at_bob = SafetyNumber::new(b"bob", bob.identity(), b"alice", &alice_as_bob_knows);
        println!(
            " alice sees {at_alice}\n   bob sees {at_bob}\n {}",
            if at_alice == at_bob {
                "they match"
            } else {
                "MISMATCH"
            }
        );

        step("3. One message to several recipients: the body once, 56 bytes per recipient");
        let ids = [
            bob_id,
            contact(&self.relay, &mut alice, "carol")?,
            contact(&self.relay, &mut alice, "dave")?,
        ];
        let (_, out) = alice
            .send_multi(&mut rand::rng(), &ids, &Content::text(plaintexts[2]), now())
            .map_err(|e| e.to_string())?;
        self.relay.submit(&out)?;
        println!(" alice sends one message to bob, carol and dave");
        self.show_relay("what the relay holds before anyone fetches")?;
        self.capture()?;
        for c in [&mut bob, &mut carol, &mut dave] {
            self.read(c)?;
        }

        step(
            "4. A group: carol (admin) creates it; every member gets the keys; messages cost O(1)",
        );
        let members = [
            contact(&self.relay, &mut carol, "alice")?,
            contact(&self.relay, &mut carol, "bob")?,
            contact(&self.relay, &mut carol, "dave")?,
        ];
        let (group, out) = carol
            .create_group(&mut rand::rng(), &members, now())
            .map_err(|e| e.to_string())?;
        self.relay.submit(&out)?;
        self.relay.submit(
            &carol
                .send_to_conversation(
                    &mut rand::rng(),
                    &group,
                    &Content::text(plaintexts[3]),
                    now(),
                )
                .map_err(|e| e.to_string())?,
        )?;
        println!(" carol posts to the group");
        self.capture()?;
        for c in [&mut alice, &mut bob, &mut dave] {
            self.read(c)?;
        }
        // Bob's first post hands his own chain to every member, so he needs a session with each.
        contact(&self.relay, &mut bob, "dave")?;
        self.relay.submit(
            &bob.send_to_conversation(
                &mut rand::rng(),
                &group,
                &Content::text(plaintexts[4]),
                now(),
            )
            .map_err(|e| e.to_string())?,
        )?;
        println!("   bob answers in the group");
        self.capture()?;
        for c in [&mut alice, &mut carol, &mut dave] {
            self.read(c)?;
        }

        step("5. What the relay never saw");
        self.audit(&[&alice, &bob, &carol, &dave], &plaintexts)?;
        self.show_relay("after every delivery was acknowledged")?;
        Ok(())
    }

    fn database_bytes(&self) -> Vec<u8> {
        ["relay.db", "relay.db-wal"]
            .iter()
            .filter_map(|f| std::fs::read(self.data_dir.join(f)).ok())
            .flatten()
            .collect()
    }

    fn open_db(&self) -> Result<rusqlite::Connection, String> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        rusqlite::Connection::open_with_flags(self.data_dir.join("relay.db"), flags)
            .map_err(|e| e.to_string())
    }

    /// Keeps a copy of every envelope body and part the relay holds right now.
    fn capture(&self) -> Result<(), String> {
        let conn = self.open_db()?;
        let mut stmt = conn
            .prepare("SELECT bytes FROM bodies UNION ALL SELECT part FROM deliveries UNION ALL SELECT mailbox FROM deliveries")
            .map_err(|e| e.to_string())?;
        let blobs = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| e.to_string())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        self.stored.borrow_mut().extend(blobs);
        Ok(())
    }

    /// Searches what the relay stored of every envelope for names and identity keys, and its
    /// whole database (directory included, deleted pages included) for message texts.
    fn audit(&self, users: &[&Client], plaintexts: &[&str]) -> Result<(), String> {
        let stored = self.stored.borrow();
        let in_envelopes = |needle: &[u8]| {
            stored
                .iter()
                .any(|b| b.windows(needle.len()).any(|w| w == needle))
        };
        let db = self.database_bytes();
        let in_database = |needle: &[u8]| db.windows(needle.len()).any(|w| w == needle);
        let mut leaks = Vec::new();
        for u in users {
            let identity = u.identity();
            let name = String::from_utf8_lossy(u.user()).into_owned();
            let keys = [
                ("identity key", &identity.dh_key().as_bytes()[..]),
                ("signing key", &identity.verifying_key().as_bytes()[..]),
                ("name", u.user()),
            ];
            for (what, needle) in keys {
                if in_envelopes(needle) {
                    leaks.push(format!("{name}'s {what} in an envelope"));
                }
            }
        }
        for text in plaintexts {
            if in_database(text.as_bytes()) {
                leaks.push(format!("plaintext {text:?}"));
            }
        }
        let bytes: usize = stored.iter().map(Vec::len).sum();
        println!(
            " {} stored envelope bodies and parts ({bytes} bytes): no sender name, identity key or signing key",
            stored.len()
        );
        println!(
            " {} bytes of relay database and log: none of the {} message texts",
            db.len(),
            plaintexts.len()
        );
        println!(
            " (the directory does hold each user's public bundle, by account name, as any directory must)"
        );
        if !leaks.is_empty() {
            return Err(format!(
                "the relay stored what it must not: {}",
                leaks.join(", ")
            ));
        }
        Ok(())
    }

    fn show_relay(&self, title: &str) -> Result<(), String> {
        let conn = self.open_db()?;
        let mut stmt = conn
            .prepare(
                "SELECT hex(d.mailbox), length(b.bytes), length(d.part), d.received_at, d.expires_at, b.body_id
                 FROM deliveries d JOIN bodies b ON b.body_id = d.body_id ORDER BY d.seq",
            )
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .map_err(|e| e.to_string())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        println!(" relay storage, {title}: {} deliveries", rows.len());
        if !rows.is_empty() {
            println!(
                "   {:<10} {:>8} {:>10} {:>5} {:>8}",
                "mailbox", "body id", "body bytes", "part", "kept for"
            );
        }
        for (mailbox, body, part, received, expires, body_id) in rows {
            let days = (expires - received) / 86_400;
            println!(
                "   {:<10} {body_id:>8} {body:>10} {part:>5} {days:>6} d",
                &mailbox[..8.min(mailbox.len())]
            );
        }
        Ok(())
    }
}
