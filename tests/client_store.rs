//! A client's state through the store trait: in memory, and in the encrypted SQLite store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::saved::Saved;
use common::users::{NOW, connect, deliver, texts};
use missive::client::{Client, ClientStore, Content, MemoryStore, RowKey, StorageKey, StoreError};
use missive::envelope::MailboxId;

fn pair() -> (Client, Client) {
    (
        Client::new(&mut rand::rng(), b"ana@example.com"),
        Client::new(&mut rand::rng(), b"ben@example.com"),
    )
}

#[test]
fn a_client_resumes_from_the_memory_store() {
    let (mut ana, mut ben) = pair();
    let ben_id = connect(&mut ana, &mut ben);
    let mut store = MemoryStore::default();
    assert!(Client::load_from(&store).unwrap().is_none());
    ana.save_to(&mut rand::rng(), &mut store).unwrap();
    let mut ana = Client::load_from(&store).unwrap().unwrap();
    let out = ana
        .send(
            &mut rand::rng(),
            &ben_id,
            &Content::text("after restart"),
            NOW,
        )
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut ben, &out)), ["after restart"]);
}

#[cfg(feature = "sqlite-store")]
#[test]
fn the_sqlite_store_is_encrypted_durable_and_keyed() {
    use missive::client::SqliteStore;
    let dir = std::env::temp_dir().join(format!("missive-client-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ana.db");
    let key = [7u8; 32];
    let (mut ana, mut ben) = pair();
    let ben_id = connect(&mut ana, &mut ben);
    {
        let mut store = SqliteStore::open(&path, &key).unwrap();
        ana.save_to(&mut rand::rng(), &mut store).unwrap();
    }
    // Nothing of the state is readable in the file: not the name, not the identity key.
    let raw: Vec<u8> = ["ana.db", "ana.db-wal"]
        .iter()
        .filter_map(|f| std::fs::read(dir.join(f)).ok())
        .flatten()
        .collect();
    for needle in [
        &b"ana@example.com"[..],
        &ana.identity().dh_key().as_bytes()[..],
        &ben_id.0[..],
    ] {
        assert!(!raw.windows(needle.len()).any(|w| w == needle));
    }
    let store = SqliteStore::open(&path, &key).unwrap();
    let mut resumed = Client::load_from(&store).unwrap().unwrap();
    let out = resumed
        .send(&mut rand::rng(), &ben_id, &Content::text("from disk"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut ben, &out)), ["from disk"]);
    let wrong = SqliteStore::open(&path, &[8u8; 32]).unwrap();
    assert_eq!(Client::load_from(&wrong).err(), Some(StoreError::Tampered));
    drop((store, wrong));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The client in `store`, loaded (lazily) and every record of it read and authenticated.
fn checked(store: &MemoryStore) -> Result<Option<Client>, StoreError> {
    let client = Client::load_from(store)?;
    if let Some(c) = &client {
        c.check_store()?;
    }
    Ok(client)
}

/// Ana with `n` contacts, saved to a memory store, and her first contact's mailbox.
fn saved_with_contacts(n: usize) -> (Client, Client, MemoryStore, MailboxId) {
    let (mut ana, mut ben) = pair();
    let ben_id = connect(&mut ana, &mut ben);
    for i in 1..n {
        let mut other = Client::new(&mut rand::rng(), format!("c{i}").as_bytes());
        connect(&mut ana, &mut other);
    }
    let mut store = MemoryStore::default();
    ana.save_to(&mut rand::rng(), &mut store).unwrap();
    (ana, ben, store, ben_id)
}

#[test]
fn every_changed_row_replayed_from_an_older_save_is_refused() {
    let (mut ana, _ben, mut store, ben_id) = saved_with_contacts(3);
    let before = store.rows_mut().clone();
    let out = ana
        .send(&mut rand::rng(), &ben_id, &Content::text("later"), NOW)
        .unwrap()
        .save(&mut rand::rng(), &mut store)
        .unwrap();
    assert!(!out.is_empty());
    let after = store.rows_mut().clone();
    let changed: Vec<_> = after
        .iter()
        .filter(|(row, value)| before.get(*row).is_some_and(|old| old != *value))
        .map(|(row, _)| *row)
        .collect();
    // The head, a leaf, a node and at least the record the send changed.
    assert!(changed.len() >= 4, "{} rows changed", changed.len());
    for row in changed {
        let mut replayed = after.clone();
        replayed.insert(row, before[&row].clone());
        *store.rows_mut() = replayed;
        assert_eq!(
            checked(&store).err(),
            Some(StoreError::Tampered),
            "one row put back as an older save wrote it"
        );
    }
    // All of them put back is the older state itself: it loads (the app's generation
    // counter is what can tell).
    *store.rows_mut() = before;
    let older = Client::load_from(&store).unwrap().unwrap();
    assert_eq!(older.generation() + 1, ana.generation());
}

#[test]
fn a_record_swapped_altered_or_dropped_is_refused() {
    let (_ana, _ben, mut store, _) = saved_with_contacts(3);
    let rows = store.rows_mut().clone();
    let keys: Vec<_> = rows.keys().copied().collect();
    assert!(keys.len() > 8);
    for (i, row) in keys.iter().enumerate() {
        let other = keys[(i + 1) % keys.len()];
        let mut swapped = rows.clone();
        swapped.insert(*row, rows[&other].clone());
        *store.rows_mut() = swapped;
        let refused = checked(&store).err();
        assert_eq!(refused, Some(StoreError::Tampered), "row {i} swapped");

        let mut altered = rows.clone();
        let value = altered.get_mut(row).unwrap();
        let last = value.len() - 1;
        value[last] ^= 1;
        *store.rows_mut() = altered;
        assert_eq!(checked(&store).err(), Some(StoreError::Tampered));

        let mut dropped = rows.clone();
        dropped.remove(row);
        *store.rows_mut() = dropped;
        match checked(&store) {
            Err(StoreError::Missing) => {}
            // Without its head (the all-zero row) the store holds no state at all.
            Ok(None) => assert_eq!(*row, [0u8; 16], "row {i} dropped reads as no state"),
            other => panic!("row {i} dropped: {other:?}"),
        }
    }
    *store.rows_mut() = rows;
    assert!(Client::load_from(&store).unwrap().is_some());
}

#[test]
fn a_save_after_one_message_writes_only_what_it_changed() {
    let (mut ana, mut ben, mut store, ben_id) = saved_with_contacts(40);
    let whole = ana.last_save_bytes();
    let ana_id = *ana.mailbox_id();
    for i in 0..3 {
        let out = ben
            .send(
                &mut rand::rng(),
                &ana_id,
                &Content::text(format!("m{i}")),
                NOW,
            )
            .saved()
            .unwrap();
        assert_eq!(texts(&deliver(&mut ana, &out)), [format!("m{i}")]);
        ana.save_to(&mut rand::rng(), &mut store).unwrap();
        let written = ana.last_save_bytes();
        assert!(written < 8 * 1024, "{written} bytes after one message");
        assert!(written * 10 < whole, "{written} of {whole}");
    }
    let out = ana
        .send(&mut rand::rng(), &ben_id, &Content::text("back"), NOW)
        .unwrap()
        .save(&mut rand::rng(), &mut store)
        .unwrap();
    assert!(ana.last_save_bytes() < 8 * 1024);
    assert_eq!(texts(&deliver(&mut ben, &out)), ["back"]);
    let loaded = Client::load_from(&store).unwrap().unwrap();
    assert!(*loaded.to_bytes().unwrap() == *ana.to_bytes().unwrap());
}

#[test]
fn a_store_holding_another_state_is_not_overwritten() {
    let (mut ana, mut ben) = pair();
    let mut store = MemoryStore::default();
    ana.save_to(&mut rand::rng(), &mut store).unwrap();
    assert_eq!(
        ben.save_to(&mut rand::rng(), &mut store).err(),
        Some(StoreError::Conflict)
    );
    // Nor by an older load of the same state once a newer save is there.
    let mut stale = Client::load_from(&store).unwrap().unwrap();
    ana.set_settings(missive::client::Settings {
        read_receipts: false,
        ..*ana.settings()
    });
    ana.save_to(&mut rand::rng(), &mut store).unwrap();
    assert_eq!(
        stale.save_to(&mut rand::rng(), &mut store).err(),
        Some(StoreError::Conflict)
    );
    let loaded = Client::load_from(&store).unwrap().unwrap();
    assert!(!loaded.settings().read_receipts);
}

/// A memory store whose next commit fails, as a full disk would.
#[derive(Default)]
struct Flaky {
    inner: MemoryStore,
    fail_next: bool,
}

impl ClientStore for Flaky {
    fn key(&self) -> &StorageKey {
        self.inner.key()
    }

    fn get(&self, row: &RowKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(row)
    }

    fn commit(
        &mut self,
        check: &RowKey,
        expected: Option<&[u8]>,
        changes: &[(RowKey, Option<Vec<u8>>)],
    ) -> Result<(), StoreError> {
        if core::mem::take(&mut self.fail_next) {
            return Err(StoreError::Backend);
        }
        self.inner.commit(check, expected, changes)
    }
}

#[test]
fn a_send_hands_out_nothing_until_its_state_is_saved() {
    let (mut ana, mut ben) = pair();
    let ben_id = connect(&mut ana, &mut ben);
    let mut store = Flaky::default();
    ana.save_to(&mut rand::rng(), &mut store).unwrap();
    store.fail_next = true;
    let sent = ana
        .send(&mut rand::rng(), &ben_id, &Content::text("lost"), NOW)
        .unwrap();
    assert_eq!(
        sent.save(&mut rand::rng(), &mut store).err(),
        Some(StoreError::Backend),
        "no envelope comes out of a failed save"
    );
    // The app starts again from what its store holds: the send never happened.
    let mut ana = Client::load_from(&store).unwrap().unwrap();
    let out = ana
        .send(&mut rand::rng(), &ben_id, &Content::text("kept"), NOW)
        .unwrap()
        .save(&mut rand::rng(), &mut store)
        .unwrap();
    // What the store holds is exactly the state after the send.
    let loaded = Client::load_from(&store).unwrap().unwrap();
    assert!(*loaded.to_bytes().unwrap() == *ana.to_bytes().unwrap());
    assert_eq!(texts(&deliver(&mut ben, &out)), ["kept"]);
    // A save that fails part way leaves the next one to write everything again, and to
    // delete what went meanwhile (the outbox entries the relay took).
    assert!(!ana.outbox().is_empty());
    for o in ana.outbox() {
        ana.accepted(&o);
    }
    store.fail_next = true;
    ana.set_settings(missive::client::Settings {
        typing_indicators: false,
        ..*ana.settings()
    });
    assert!(ana.save_to(&mut rand::rng(), &mut store).is_err());
    ana.save_to(&mut rand::rng(), &mut store).unwrap();
    let loaded = Client::load_from(&store).unwrap().unwrap();
    assert!(*loaded.to_bytes().unwrap() == *ana.to_bytes().unwrap());
    // Nothing is left behind: the store has the rows a fresh save of this state writes.
    let mut fresh = MemoryStore::new(store.inner.key().clone());
    Client::from_bytes(&ana.to_bytes().unwrap())
        .unwrap()
        .save_to(&mut rand::rng(), &mut fresh)
        .unwrap();
    assert_eq!(store.inner.rows_mut().len(), fresh.rows_mut().len());
}

#[test]
fn a_crash_after_submitting_never_reuses_a_key() {
    let (mut ana, mut ben) = pair();
    let ben_id = connect(&mut ana, &mut ben);
    let mut store = MemoryStore::default();
    let mut submitted = Vec::new();
    for i in 0..3 {
        // Submitted after the save; then the app crashes and restarts from its store.
        let out = ana
            .send(
                &mut rand::rng(),
                &ben_id,
                &Content::text(format!("m{i}")),
                NOW,
            )
            .unwrap()
            .save(&mut rand::rng(), &mut store)
            .unwrap();
        submitted.extend(out);
        ana = Client::load_from(&store).unwrap().unwrap();
    }
    // Each message went out under its own key: Ben reads all three, in order, none refused.
    let events = deliver(&mut ben, &submitted);
    assert_eq!(texts(&events), ["m0", "m1", "m2"]);
}

/// Run by [`a_killed_writer_leaves_the_old_state_or_the_new`] in a child process: saves small
/// changes to the store named in the environment as fast as it can, printing each generation
/// once its save returned, until it is killed.
#[cfg(feature = "sqlite-store")]
#[test]
#[ignore = "run as a child process by a_killed_writer_leaves_the_old_state_or_the_new"]
fn crash_child() {
    use missive::client::SqliteStore;
    use std::io::Write;
    let Some(path) = std::env::var_os("MISSIVE_CRASH_STORE") else {
        return;
    };
    let mut store = SqliteStore::open(std::path::Path::new(&path), &[3; 32]).unwrap();
    let mut client = Client::load_from(&store)
        .unwrap()
        .unwrap_or_else(|| Client::new(&mut rand::rng(), b"writer"));
    let mut out = std::io::stdout();
    for i in 0u64.. {
        let mut member = [0u8; 16];
        member[..8].copy_from_slice(&(i % 500).to_be_bytes());
        let profile = missive::platform::Profile {
            tier: missive::platform::Tier::PremiumCareer,
            open_profile: i % 2 == 0,
        };
        client
            .set_contact_profile(MailboxId(member), profile)
            .unwrap();
        client.save_to(&mut rand::rng(), &mut store).unwrap();
        writeln!(out, "saved {}", client.generation()).unwrap();
        out.flush().unwrap();
    }
}

#[cfg(all(feature = "sqlite-store", unix))]
#[test]
fn a_killed_writer_leaves_the_old_state_or_the_new() {
    use missive::client::SqliteStore;
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("missive-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("writer.db");
    let mut last = 0;
    for round in 0..4u64 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--ignored", "--nocapture"])
            .env("MISSIVE_CRASH_STORE", &path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acknowledged = 0;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(g) = line.strip_prefix("saved ") {
                    acknowledged = g.parse().unwrap();
                }
            }
            acknowledged
        });
        std::thread::sleep(std::time::Duration::from_millis(400 + 150 * round));
        child.kill().unwrap(); // SIGKILL: no destructor, no rollback, mid-commit or not
        child.wait().unwrap();
        let acknowledged: u64 = reader.join().unwrap();
        assert!(
            acknowledged > last,
            "round {round}: the writer saved nothing"
        );
        let store = SqliteStore::open(&path, &[3; 32]).unwrap();
        let loaded = Client::load_from(&store).unwrap().unwrap();
        // Every save that returned is there; at most the one in flight came too.
        let generation = loaded.generation();
        assert!(
            generation == acknowledged || generation == acknowledged + 1,
            "round {round}: loaded generation {generation}, last acknowledged {acknowledged}"
        );
        last = generation;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A state an earlier version saved whole in the SQLite store loads, and the next save turns
/// it into records (dropping the old table in the same commit).
#[cfg(feature = "sqlite-store")]
#[test]
fn a_state_saved_whole_by_an_earlier_version_is_converted_once() {
    use missive::client::SqliteStore;
    use missive::crypto::aead::AeadKey;
    let dir = std::env::temp_dir().join(format!("missive-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("old.db");
    let key = [5u8; 32];
    let (mut ana, mut ben) = pair();
    let ben_id = connect(&mut ana, &mut ben);
    let whole = ana.to_bytes().unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE client_state (slot INTEGER PRIMARY KEY CHECK (slot = 1),
                 nonce BLOB NOT NULL, sealed BLOB NOT NULL)",
        )
        .unwrap();
        let nonce = [9u8; 12];
        let sealed = AeadKey::new(&key).seal(&nonce, b"missive/v1/client-state", &whole);
        conn.execute(
            "INSERT INTO client_state VALUES (1, ?1, ?2)",
            rusqlite::params![&nonce[..], sealed],
        )
        .unwrap();
    }
    let mut store = SqliteStore::open(&path, &key).unwrap();
    let mut loaded = Client::load_from(&store).unwrap().unwrap();
    assert!(*loaded.to_bytes().unwrap() == *whole);
    loaded.save_to(&mut rand::rng(), &mut store).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'client_state'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "the whole state is gone once converted");
    drop(conn);
    let store = SqliteStore::open(&path, &key).unwrap();
    let mut again = Client::load_from(&store).unwrap().unwrap();
    assert!(*again.to_bytes().unwrap() == *whole);
    let out = again
        .send(&mut rand::rng(), &ben_id, &Content::text("migrated"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut ben, &out)), ["migrated"]);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two processes' worth of writers on one SQLite file (two connections, two clients loaded
/// from it), saving as fast as they can: a save based on a head the other replaced is refused
/// (`Conflict`) and nothing is lost: the store's generation counts every save that returned.
#[cfg(feature = "sqlite-store")]
#[test]
fn concurrent_writers_on_one_store_lose_no_save() {
    use missive::client::SqliteStore;
    let dir = std::env::temp_dir().join(format!("missive-race-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shared.db");
    let key = [4u8; 32];
    let mut first = Client::new(&mut rand::rng(), b"writer");
    first
        .save_to(
            &mut rand::rng(),
            &mut SqliteStore::open(&path, &key).unwrap(),
        )
        .unwrap();
    let start = first.generation();
    // Both load the same state before either saves: the second save of it must conflict.
    let loaded = std::sync::Barrier::new(2);
    let saves: Vec<(u64, u64)> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..2u8)
            .map(|w| {
                let (path, loaded) = (&path, &loaded);
                s.spawn(move || {
                    let mut store = SqliteStore::open(path, &key).unwrap();
                    let mut client = Client::load_from(&store).unwrap().unwrap();
                    loaded.wait();
                    let (mut saved, mut conflicts) = (0, 0);
                    for i in 0..60u64 {
                        let mut member = [w; 16];
                        member[8..].copy_from_slice(&i.to_be_bytes());
                        client
                            .set_contact_profile(
                                MailboxId(member),
                                missive::platform::Profile::FREE,
                            )
                            .unwrap();
                        match client.save_to(&mut rand::rng(), &mut store) {
                            Ok(()) => saved += 1,
                            Err(StoreError::Conflict) => {
                                conflicts += 1;
                                client = Client::load_from(&store).unwrap().unwrap();
                            }
                            Err(e) => panic!("writer {w}: {e}"),
                        }
                    }
                    (saved, conflicts)
                })
            })
            .collect();
        writers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let store = SqliteStore::open(&path, &key).unwrap();
    let last = Client::load_from(&store).unwrap().unwrap();
    let saved: u64 = saves.iter().map(|(s, _)| s).sum();
    assert_eq!(last.generation(), start + saved, "{saves:?}");
    assert!(saves.iter().all(|(s, _)| *s > 0), "{saves:?}");
    assert!(saves.iter().map(|(_, c)| c).sum::<u64>() > 0, "{saves:?}");
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `tests/fixtures/client_records_v1.json`: Ana's state saved as records by the version before
/// the catalog and the stored indexes (commit 4d80707), with Ben's and Cy's whole states to go
/// on talking to her: a direct conversation with Ben, a group of the three.
#[test]
fn records_saved_before_the_indexes_load_and_the_next_save_indexes_them() {
    let text = include_str!("fixtures/client_records_v1.json");
    let fixture: serde_json::Value = serde_json::from_str(text).unwrap();
    let hex_of = |key: &str| hex::decode(fixture[key].as_str().unwrap()).unwrap();
    let key: [u8; 32] = hex_of("key").try_into().unwrap();
    let mut store = MemoryStore::new(StorageKey::new(&key));
    for row in fixture["rows"].as_array().unwrap() {
        let row_key: RowKey = hex::decode(row[0].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let value = hex::decode(row[1].as_str().unwrap()).unwrap();
        store.rows_mut().insert(row_key, value);
    }
    let mut ana = Client::load_from(&store).unwrap().unwrap();
    // Both forms load into the same state. (Not byte for byte as saved then: its sessions and
    // prekeys are written back in their post-quantum version, PROTOCOL.md §5.7.)
    let whole = Client::from_bytes(&hex_of("whole")).unwrap();
    assert!(
        *ana.to_bytes().unwrap() == *whole.to_bytes().unwrap(),
        "it loads as it was saved"
    );
    let mut ben = Client::from_bytes(&hex_of("ben")).unwrap();
    let mut cy = Client::from_bytes(&hex_of("cy")).unwrap();
    let group = missive::conversation::ConversationId(hex_of("group").try_into().unwrap());
    let ana_id = *ana.mailbox_id();
    let text = Content::text("after the upgrade");
    let out = ben
        .send(&mut rand::rng(), &ana_id, &text, NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut ana, &out)), ["after the upgrade"]);
    ana.save_to(&mut rand::rng(), &mut store).unwrap();

    // From the save on, the state has its catalog and indexes: it loads lazily, finds the
    // group's next message by its label and a contact by name.
    let mut again = Client::load_from(&store).unwrap().unwrap();
    again.check_store().unwrap();
    // The first save wrote the whole state in the current form (PROTOCOL.md §5.7).
    assert!(*again.to_bytes().unwrap() == *ana.to_bytes().unwrap());
    let text = Content::text("still here");
    let out = cy
        .post_to_group(&mut rand::rng(), &group, &text, NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut again, &out)), ["still here"]);
    let found = again.contact_by_user(b"ben@example.com").unwrap().unwrap();
    assert_eq!(found.mailbox, *ben.mailbox_id());
    let out = again
        .send(
            &mut rand::rng(),
            ben.mailbox_id(),
            &Content::text("good"),
            NOW,
        )
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut ben, &out)), ["good"]);
}

/// A lazily loaded client that replaces its contact key (a connection ended) hands the new
/// key to every other connection, not only to those whose records it happened to read.
#[test]
fn a_lazy_client_replacing_its_contact_key_tells_every_holder() {
    let (mut ana, _ben, mut store, ben_id) = saved_with_contacts(4);
    let first = ana
        .access_sync(&mut rand::rng(), NOW)
        .unwrap()
        .save(&mut rand::rng(), &mut store)
        .unwrap();
    assert!(first.notices.is_empty());
    let mut lazy = Client::load_from(&store).unwrap().unwrap();
    lazy.remove_connection(&mut rand::rng(), &ben_id, NOW)
        .unwrap()
        .save(&mut rand::rng(), &mut store)
        .unwrap();
    let sync = lazy
        .access_sync(&mut rand::rng(), NOW)
        .unwrap()
        .save(&mut rand::rng(), &mut store)
        .unwrap();
    assert_eq!(sync.notices.len(), 3, "the three connections left");
    let to: Vec<MailboxId> = sync
        .notices
        .iter()
        .flat_map(|o| missive::envelope::split(&o.envelope).unwrap())
        .map(|d| d.mailbox())
        .collect();
    assert!(!to.contains(&ben_id));
    assert!(sync.update.is_some(), "the new key is registered");
}

/// Two clients loaded lazily from one store: once one saves, a record the other first reads
/// after that save is the other writer's, so its step fails with `Conflict` (load again),
/// not `Tampered`.
#[test]
fn a_record_another_writer_rewrote_is_a_conflict_not_tampering() {
    let (_ana, _ben, mut store, ben_id) = saved_with_contacts(2);
    let mut first = Client::load_from(&store).unwrap().unwrap();
    let mut second = Client::load_from(&store).unwrap().unwrap();
    second
        .send(&mut rand::rng(), &ben_id, &Content::text("from one"), NOW)
        .unwrap()
        .save(&mut rand::rng(), &mut store)
        .unwrap();
    let err = first
        .send(
            &mut rand::rng(),
            &ben_id,
            &Content::text("from the other"),
            NOW,
        )
        .err();
    assert_eq!(err, Some(missive::Error::Store(StoreError::Conflict)));
}
