//! Sends in tests hand out their envelopes through a throwaway memory store; the tests about
//! saving use real stores.

use missive::Error;
use missive::client::{MemoryStore, Unsaved};

/// `.saved()`: what a send produced, after saving the client to a memory store.
pub(crate) trait Saved<T> {
    fn saved(self) -> Result<T, Error>;
}

impl<T> Saved<T> for Result<Unsaved<'_, T>, Error> {
    fn saved(self) -> Result<T, Error> {
        self.map(|u| {
            u.save(&mut rand::rng(), &mut MemoryStore::default())
                .expect("a memory store saves")
        })
    }
}

impl<T> Saved<T> for Unsaved<'_, T> {
    fn saved(self) -> Result<T, Error> {
        Ok(Ok(self).saved().expect("a memory store saves"))
    }
}
