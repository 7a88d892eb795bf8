//! A peer's pairwise sessions. Usually one; more when both sides started a session at the same
//! time (each from the other's bundle). Messages are tried on each, newest first, and the one
//! that opens becomes the one we send with, so both sides converge on one session, as
//! libsignal does with its archived states.

use crate::error::{CryptoError, Error};
use crate::session::{Session, SessionMessage};

/// How many sessions are kept per peer.
pub(super) const MAX_PER_PEER: usize = 4;

/// A peer's sessions, the one we send with first.
#[derive(Clone, Default)]
pub(super) struct PeerSessions(Vec<Session>);

impl PeerSessions {
    pub(super) fn new(session: Session) -> Self {
        Self(vec![session])
    }

    /// Adds a newer session, which becomes the one we send with.
    pub(super) fn push_front(&mut self, session: Session) {
        self.0.insert(0, session);
        self.0.truncate(MAX_PER_PEER);
    }

    /// Keeps an older session behind the ones already held (restoring saved state).
    pub(super) fn push_back(&mut self, session: Session) {
        if self.0.len() < MAX_PER_PEER {
            self.0.push(session);
        }
    }

    /// The session we send with.
    pub(super) fn current_mut(&mut self) -> Option<&mut Session> {
        self.0.first_mut()
    }

    /// Every session, the current one first.
    pub(super) fn all(&self) -> &[Session] {
        &self.0
    }

    /// Whether one of the sessions would take `message`.
    pub(super) fn accept(&self, message: &SessionMessage) -> bool {
        self.0.iter().any(|s| s.accepts(message))
    }

    /// Decrypts with the first session that opens `message`, and makes it the current one.
    /// On failure every session is as it was.
    pub(super) fn decrypt(&mut self, message: &SessionMessage) -> Result<Vec<u8>, Error> {
        let mut last = Error::Crypto(CryptoError::DecryptionFailed);
        for i in 0..self.0.len() {
            if !self.0[i].accepts(message) {
                continue;
            }
            match self.0[i].decrypt(message) {
                Ok(plaintext) => {
                    let session = self.0.remove(i);
                    self.0.insert(0, session);
                    return Ok(plaintext);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}
