//! What a send hands back: the envelopes, held until the state that sent them is saved.
//!
//! Every send moves a ratchet, a chain or the token wallet on. An app that submitted the
//! envelopes, crashed, and restored the state from before the send would send its next message
//! under keys it had already used. So the envelopes come only out of [`Unsaved::save`], which
//! writes the state first; and while an [`Unsaved`] is alive the client is borrowed, so nothing
//! else can change it in between.

use rand::CryptoRng;

use super::Client;
use super::store::{ClientStore, StoreError};

/// The result of a send (or of anything else that produces what goes to the relay), handed out
/// by [`Unsaved::save`] once the client's state is saved.
///
/// The envelopes of a send are not envelopes until saved:
///
/// ```compile_fail
/// # use missive::client::{Client, Content, Outgoing};
/// # fn submit(_: &[Outgoing]) {}
/// # fn f(alice: &mut Client, bob: &missive::envelope::MailboxId) -> Result<(), missive::Error> {
/// let sent = alice.send(&mut rand::rng(), bob, &Content::text("hi"), 0)?;
/// submit(&sent); // an `Unsaved`, not `[Outgoing]`
/// # Ok(()) }
/// ```
///
/// and while they wait to be saved, the client cannot change (so what is saved is the state
/// that sent them):
///
/// ```compile_fail
/// # use missive::client::{Client, Content, MemoryStore};
/// # fn f(alice: &mut Client, bob: &missive::envelope::MailboxId) -> Result<(), Box<dyn std::error::Error>> {
/// let first = alice.send(&mut rand::rng(), bob, &Content::text("one"), 0)?;
/// let second = alice.send(&mut rand::rng(), bob, &Content::text("two"), 0)?;
/// first.save(&mut rand::rng(), &mut MemoryStore::default())?;
/// # Ok(()) }
/// ```
///
/// Saved, they are:
///
/// ```
/// # use missive::client::{Client, Content, MemoryStore, Outgoing};
/// # fn submit(_: &[Outgoing]) {}
/// # fn f(alice: &mut Client, bob: &missive::envelope::MailboxId) -> Result<(), Box<dyn std::error::Error>> {
/// let mut store = MemoryStore::default();
/// let first = alice.send(&mut rand::rng(), bob, &Content::text("one"), 0)?;
/// submit(&first.save(&mut rand::rng(), &mut store)?);
/// let second = alice.send(&mut rand::rng(), bob, &Content::text("two"), 0)?;
/// submit(&second.save(&mut rand::rng(), &mut store)?);
/// # Ok(()) }
/// ```
#[must_use = "what was sent comes only from `save`, after the state that sent it is stored"]
pub struct Unsaved<'a, T> {
    client: &'a mut Client,
    value: T,
}

impl<'a, T> Unsaved<'a, T> {
    /// What is not an envelope (a token request, a prekey publication, an access sync).
    pub(super) fn new(client: &'a mut Client, value: T) -> Self {
        Self { client, value }
    }

    /// Envelopes: queued in the outbox too, so the state that is saved still holds them
    /// until the relay takes them.
    pub(super) fn sent(client: &'a mut Client, value: T) -> Self
    where
        T: super::outbox::Outbound,
    {
        client.queue(value.outgoing());
        Self { client, value }
    }

    /// The client that sent it, read-only until saved (to find its store, say).
    pub fn client(&self) -> &Client {
        self.client
    }

    /// Saves the client's state to `store` (what changed since the last save), then hands
    /// over what was sent: submit it to the relay only now.
    ///
    /// # Errors
    /// The store's error. Nothing is handed over, and the client in memory has moved on past
    /// a send that never left (its recipients would miss keys it handed out): load the client
    /// again from the store, which holds the state before the send, and send again.
    pub fn save<R: CryptoRng>(
        self,
        rng: &mut R,
        store: &mut dyn ClientStore,
    ) -> Result<T, StoreError> {
        self.client.save_to(rng, store)?;
        Ok(self.value)
    }
}

impl<T> Unsaved<'_, T> {
    /// [`Unsaved::save`], then `then` with the client and the store: for tests that go on
    /// with the client loaded again from what was saved.
    #[doc(hidden)]
    pub fn save_then<R: CryptoRng>(
        self,
        rng: &mut R,
        store: &mut dyn ClientStore,
        then: impl FnOnce(&mut Client, &mut dyn ClientStore),
    ) -> Result<T, StoreError> {
        self.client.save_to(rng, store)?;
        then(self.client, store);
        Ok(self.value)
    }
}

impl<T> core::fmt::Debug for Unsaved<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Unsaved(..)")
    }
}

/// For the unit tests: what a send produced, after saving to a throwaway store.
#[cfg(test)]
pub(crate) fn saved<T>(unsaved: Result<Unsaved<'_, T>, crate::Error>) -> T {
    #[allow(clippy::unwrap_used)]
    unsaved
        .unwrap()
        .save(&mut rand::rng(), &mut super::MemoryStore::default())
        .unwrap()
}
