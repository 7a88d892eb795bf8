//! A client's state through the store trait: in memory, and in the encrypted SQLite store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::saved::Saved;
use common::users::{NOW, connect, deliver, texts};
use missive::client::{Client, ClientStore, Content, MemoryStore, StoreError};

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

#[test]
fn a_tampered_state_is_refused() {
    let (ana, _) = pair();
    let mut bytes = ana.to_bytes().to_vec();
    bytes.push(0);
    assert!(Client::from_bytes(&bytes).is_err());
    let mut store = MemoryStore::default();
    store.save(&mut rand::rng(), &bytes).unwrap();
    assert!(matches!(
        Client::load_from(&store),
        Err(StoreError::Corrupt(_))
    ));
}

/// A memory store whose next save fails, as a full disk would.
#[derive(Default)]
struct Flaky {
    inner: MemoryStore,
    fail_next: bool,
}

impl ClientStore for Flaky {
    fn load(&self) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, StoreError> {
        self.inner.load()
    }

    fn save(&mut self, rng: &mut dyn rand::CryptoRng, state: &[u8]) -> Result<(), StoreError> {
        if core::mem::take(&mut self.fail_next) {
            return Err(StoreError::Backend);
        }
        self.inner.save(rng, state)
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
    assert!(*store.load().unwrap().unwrap() == *ana.to_bytes());
    assert_eq!(texts(&deliver(&mut ben, &out)), ["kept"]);
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
