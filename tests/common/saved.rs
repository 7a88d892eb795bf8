//! Sends in tests hand out their envelopes only once saved. Each client is saved to a memory
//! store of its own, kept across its sends, so saves are incremental as in an app; after every
//! save the test loads the client again from its store and checks it is exactly the client
//! that was saved: a client that saves only what changed behaves as one that saves everything.

use std::cell::RefCell;
use std::collections::HashMap;

use missive::Error;
use missive::client::{Client, ClientStore, MemoryStore, StoreError, Unsaved};
use missive::envelope::MailboxId;

thread_local! {
    /// Each client's store, with the generation the client had after saving there.
    static STORES: RefCell<HashMap<MailboxId, (u64, MemoryStore)>> = RefCell::new(HashMap::new());
}

/// `.saved()`: what a send produced, after saving the client to its memory store.
pub(crate) trait Saved<T> {
    fn saved(self) -> Result<T, Error>;
}

impl<T> Saved<T> for Result<Unsaved<'_, T>, Error> {
    fn saved(self) -> Result<T, Error> {
        self.map(save_checked)
    }
}

impl<T> Saved<T> for Unsaved<'_, T> {
    fn saved(self) -> Result<T, Error> {
        Ok(save_checked(self))
    }
}

fn save_checked<T>(unsaved: Unsaved<'_, T>) -> T {
    let id = *unsaved.client().mailbox_id();
    let generation = unsaved.client().generation();
    let expected = unsaved
        .client()
        .to_bytes()
        .expect("a client reads its store");
    // A copy of a client (from bytes, or an older load) saves to a store of its own.
    let mut store = STORES
        .with(|s| s.borrow_mut().remove(&id))
        .filter(|(g, _)| *g == generation)
        .map(|(_, store)| store)
        .unwrap_or_default();
    let mut generation = 0;
    // Every other save, the test goes on with the client loaded from its store: lazily, so
    // every step after reads what it needs from the records. In between it goes on with the
    // client that saved, which keeps one record of a kind in memory: a save drops the rest.
    let reload = |client: &mut Client, store: &mut dyn ClientStore| {
        let mut loaded = Client::load_from(store)
            .expect("a saved state loads")
            .expect("a saved state is there");
        let bytes = loaded.to_bytes().expect("a loaded client reads its store");
        assert!(
            *bytes == *expected,
            "the state loaded from the records differs from the state saved"
        );
        let kept = client.to_bytes().expect("a client reads its store");
        assert!(*kept == *expected, "a save changed the client that saved");
        generation = loaded.generation();
        loaded.set_cache(1);
        client.set_cache(1);
        if generation % 2 == 0 {
            *client = loaded;
        }
    };
    let value = match unsaved.save_then(&mut rand::rng(), &mut store, reload) {
        Ok(value) => value,
        Err(StoreError::Conflict) => panic!("a test client's store holds another state"),
        Err(e) => panic!("a memory store saves: {e}"),
    };
    STORES.with(|s| s.borrow_mut().insert(id, (generation, store)));
    value
}
