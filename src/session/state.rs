//! Session and prekey-owner state at rest: versioned, strict, zeroized. PROTOCOL.md §5.8.
//!
//! Both forms are `version || postcard(state)`, like every wire structure, but encoded and
//! decoded through buffers that are zeroized on drop, since they hold secrets.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::x25519::SecretKey;
use crate::error::DecodeError;
use crate::wire;

use super::owner::{MAX_ONE_TIME_PREKEYS, OwnerState, PrekeyOwner, SignedSecret};
use super::pairwise::{Session, SessionState};
use super::ratchet::{MAX_OLD_CHAINS, MAX_SKIPPED_KEYS};
use super::x3dh;

/// Version byte of a stored [`Session`].
pub(crate) const SESSION_VERSION: u8 = 1;
/// Version byte of a stored [`PrekeyOwner`].
pub(crate) const OWNER_VERSION: u8 = 1;

/// An X25519 secret key as stored: its 32 secret bytes (the public key is recomputed on load).
#[derive(Clone)]
pub(crate) struct Secret(pub(crate) SecretKey);

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.to_bytes().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut bytes = <[u8; 32]>::deserialize(deserializer)?;
        let key = SecretKey::from_bytes(&bytes);
        bytes.zeroize();
        Ok(Self(key))
    }
}

/// `version || postcard(value)` into a zeroizing buffer reserved at `bound` bytes, an upper
/// bound on the encoding, so it is never reallocated (which would leave copies behind).
fn encode<T: Serialize>(version: u8, value: &T, bound: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(bound));
    out.push(version);
    wire::encode_into(value, &mut out);
    out
}

/// The strict decoding of `wire::Wire`, with the canonical-form check done in a zeroizing
/// buffer.
fn decode<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    version: u8,
    what: &'static str,
) -> Result<T, DecodeError> {
    let (&got, body) = bytes.split_first().ok_or(DecodeError::Truncated { what })?;
    if got != version {
        return Err(DecodeError::UnknownVersion { what, got });
    }
    let (value, rest) = postcard::take_from_bytes::<T>(body).map_err(|e| match e {
        postcard::Error::DeserializeUnexpectedEnd => DecodeError::Truncated { what },
        _ => DecodeError::Invalid { what },
    })?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes { what });
    }
    let again = encode(version, &value, bytes.len());
    if again.as_slice() != bytes {
        return Err(DecodeError::NonCanonical { what });
    }
    Ok(value)
}

impl Session {
    /// The session's state for storage: `0x01 || postcard(state)`, zeroized on drop. Store it
    /// encrypted, and after every `encrypt` and successful `decrypt`.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let bound = 1024 + 80 * self.0.ratchet.skipped.len();
        encode(SESSION_VERSION, &self.0, bound)
    }

    /// Restores a session written by [`Session::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "session state";
        let mut session: SessionState = decode(bytes, SESSION_VERSION, WHAT)?;
        let ratchet = &session.ratchet;
        let has_chain = ratchet.sending.is_some() || ratchet.receiving.is_some();
        let pending_ok = session.pending_prekey.is_none_or(|p| {
            session.initiator && p.base_key == session.base_key && p.identity == session.local
        });
        let bounded =
            ratchet.skipped.len() <= MAX_SKIPPED_KEYS && ratchet.old_chains.len() <= MAX_OLD_CHAINS;
        if !has_chain || !pending_ok || !bounded {
            return Err(DecodeError::Invalid { what: WHAT });
        }
        let (a, b) = if session.initiator {
            (&session.local, &session.remote)
        } else {
            (&session.remote, &session.local)
        };
        session.ad = x3dh::associated_data(a, b);
        Ok(Self(session))
    }
}

impl PrekeyOwner {
    /// The owner's state for storage: `0x01 || postcard(state)`, zeroized on drop. Store it
    /// encrypted, after every change.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let bound = 1024 + 48 * self.0.one_time.len();
        encode(OWNER_VERSION, &self.0, bound)
    }

    /// Restores an owner written by [`PrekeyOwner::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "prekey owner state";
        let owner: OwnerState = decode(bytes, OWNER_VERSION, WHAT)?;
        let keys_match = |s: &SignedSecret| s.public.key() == s.secret.0.public_key();
        let generations = [Some(&owner.current), owner.previous.as_ref()];
        let consistent = generations.into_iter().flatten().all(|g| {
            keys_match(&g.signed)
                && keys_match(&g.last_resort)
                && g.signed.public.id() == g.last_resort.public.id()
        });
        let ids_ok = owner.one_time.keys().all(|&id| id < owner.next_one_time_id);
        let previous_ok = owner
            .previous
            .as_ref()
            .is_none_or(|p| p.id() < owner.current.id());
        if !consistent || !ids_ok || !previous_ok || owner.one_time.len() > MAX_ONE_TIME_PREKEYS {
            return Err(DecodeError::Invalid { what: WHAT });
        }
        Ok(Self(owner))
    }
}
