//! Where sessions live between messages: a small synchronous store trait, an in-memory
//! implementation, and the two calls that read and write sessions through it.

use std::collections::HashMap;

use rand::CryptoRng;

use crate::error::{CryptoError, Error};
use crate::identity::{Identity, PublicIdentity};

use super::message::SessionMessage;
use super::owner::PrekeyOwner;
use super::pairwise::Session;

/// Sessions keyed by the peer's identity, one session per peer.
///
/// An application backed by a database implements this over [`Session::to_bytes`] and
/// [`Session::from_bytes`]; `save` must be durable before the message it followed is
/// acknowledged, or a crash replays or loses ratchet state.
pub trait SessionStore {
    /// The session with `peer`, if any.
    fn load(&self, peer: &PublicIdentity) -> Option<Session>;
    /// Stores `session` as the session with `peer`, replacing any other.
    fn save(&mut self, peer: &PublicIdentity, session: Session);
}

/// A [`SessionStore`] in memory, for tests and short-lived clients.
#[derive(Clone, Debug, Default)]
pub struct MemorySessionStore {
    sessions: HashMap<PublicIdentity, Session>,
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SessionStore for MemorySessionStore {
    fn load(&self, peer: &PublicIdentity) -> Option<Session> {
        self.sessions.get(peer).cloned()
    }

    fn save(&mut self, peer: &PublicIdentity, session: Session) {
        self.sessions.insert(*peer, session);
    }
}

/// Encrypts `plaintext` to `peer` with the stored session and stores the advanced session.
///
/// # Errors
/// [`CryptoError::NoSession`] if there is none: start one with [`Session::initiate`] and
/// [`SessionStore::save`] it.
pub fn send<S: SessionStore + ?Sized, R: CryptoRng + ?Sized>(
    store: &mut S,
    rng: &mut R,
    peer: &PublicIdentity,
    plaintext: &[u8],
) -> Result<SessionMessage, Error> {
    let mut session = store.load(peer).ok_or(CryptoError::NoSession)?;
    let message = session.encrypt(rng, plaintext)?;
    store.save(peer, session);
    Ok(message)
}

/// Decrypts `message` from `sender` (as named by the envelope it came in), creating the
/// session if it is a prekey message for a setup we have not seen. The store and `prekeys`
/// change only on success.
///
/// A prekey message for a new setup replaces the stored session with that peer.
///
/// # Errors
/// As [`Session::decrypt`] and [`Session::respond`]; [`CryptoError::DecryptionFailed`] if a
/// prekey message's identity is not `sender`; [`CryptoError::NoSession`] for an ordinary
/// message from a peer we have no session with.
pub fn receive<S: SessionStore + ?Sized>(
    store: &mut S,
    identity: &Identity,
    prekeys: &mut PrekeyOwner,
    sender: &PublicIdentity,
    message: &SessionMessage,
) -> Result<Vec<u8>, Error> {
    if message
        .prekey_identity()
        .is_some_and(|claimed| claimed != sender)
    {
        return Err(CryptoError::DecryptionFailed.into());
    }
    let existing = store.load(sender).filter(|s| s.accepts(message));
    let (session, plaintext) = match existing {
        Some(mut session) => {
            let plaintext = session.decrypt(message)?;
            (session, plaintext)
        }
        None if message.prekey_identity().is_some() => {
            Session::respond(identity, prekeys, message)?
        }
        None => return Err(CryptoError::NoSession.into()),
    };
    store.save(sender, session);
    Ok(plaintext)
}
