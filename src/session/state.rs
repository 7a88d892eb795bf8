//! Session and prekey-owner state at rest: versioned, strict, zeroized. PROTOCOL.md §5.7.
//!
//! Both forms are `version || postcard(state)`, like every wire structure, but encoded and
//! decoded through buffers that are zeroized on drop, since they hold secrets.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

use std::collections::BTreeMap;

use crate::crypto::x25519::{PublicKey, SecretKey};
use crate::crypto::{mlkem, xwing};
use crate::error::DecodeError;
use crate::identity::PublicIdentity;
use crate::wire;

use super::message::PrekeyRef;
use super::owner::{
    Generation, KemSecret, MAX_ONE_TIME_PREKEYS, OneTimeSecret, OwnerState, PrekeyOwner,
    SignedSecret,
};
use super::pairwise::{Session, SessionState};
use super::pq::PqRatchet;
use super::ratchet::{MAX_OLD_CHAINS, MAX_SKIPPED_KEYS, Ratchet};
use super::x3dh;

/// Version byte of a stored [`Session`].
pub(crate) const SESSION_VERSION: u8 = 4;
/// The version before sealing keys: the same, without the two options at the end.
const PQ_RATCHET_VERSION: u8 = 3;
/// The version before the post-quantum ratchet step: version 3 without its state at the end.
const HYBRID_SETUP_VERSION: u8 = 2;
/// Version byte of a stored [`PrekeyOwner`].
pub(crate) const OWNER_VERSION: u8 = 3;
/// The owner version before sealing keys: the same, without the list at the end.
const HYBRID_OWNER_VERSION: u8 = 2;
/// The version before post-quantum prekeys, still read (and written again as the current one).
const CLASSICAL_VERSION: u8 = 1;

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
        from_secret_bytes(deserializer, |b| Self(SecretKey::from_bytes(b)))
    }
}

/// Reads 32 secret bytes and makes `T` of them, the copy zeroized.
pub(crate) fn from_secret_bytes<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    make: impl FnOnce(&[u8; 32]) -> T,
) -> Result<T, D::Error> {
    let mut bytes = <[u8; 32]>::deserialize(deserializer)?;
    let made = make(&bytes);
    bytes.zeroize();
    Ok(made)
}

/// An X-Wing secret key as stored: its 32-byte seed.
#[derive(Clone)]
pub(crate) struct XWingSeed(pub(crate) xwing::SecretKey);

impl Serialize for XWingSeed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.seed().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for XWingSeed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_secret_bytes(deserializer, |b| Self(xwing::SecretKey::from_seed(b)))
    }
}

/// An ML-KEM-768 secret key as stored: its 64-byte seed `d || z`, as `bytes`.
#[derive(Clone)]
pub(crate) struct KemSeed(pub(crate) mlkem::SecretKey);

impl Serialize for KemSeed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0.seed().as_slice())
    }
}

impl<'de> Deserialize<'de> for KemSeed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let seed = Zeroizing::new(serde_bytes::ByteBuf::deserialize(deserializer)?.into_vec());
        let key = mlkem::SecretKey::from_seed_bytes(&seed).map_err(serde::de::Error::custom)?;
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
    /// The session's state for storage: `version || postcard(state)`, zeroized on drop. Store it
    /// encrypted, and after every `encrypt` and successful `decrypt`.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        // The prekey header, the sealing key and a post-quantum offer each hold at most 1300
        // bytes.
        let bound = 6144 + 80 * self.0.ratchet.skipped.len();
        encode(SESSION_VERSION, &self.0, bound)
    }

    /// Restores a session written by [`Session::to_bytes`], or by one of the three versions
    /// before (PROTOCOL.md §5.7).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "session state";
        let mut session: SessionState = match bytes.first() {
            Some(&CLASSICAL_VERSION) => {
                decode::<ClassicalSession>(&with_pq_ratchet(bytes), CLASSICAL_VERSION, WHAT)?
                    .into_current()
            }
            Some(&HYBRID_SETUP_VERSION) => decode(
                &without_sealing(&with_pq_ratchet(bytes)),
                SESSION_VERSION,
                WHAT,
            )?,
            Some(&PQ_RATCHET_VERSION) => decode(&without_sealing(bytes), SESSION_VERSION, WHAT)?,
            _ => decode(bytes, SESSION_VERSION, WHAT)?,
        };
        let ratchet = &session.ratchet;
        let has_chain = ratchet.sending.is_some() || ratchet.receiving.is_some();
        let pending_ok = session.pending_prekey.as_ref().is_none_or(|p| {
            session.initiator && p.base_key == session.base_key && p.identity == session.local
        });
        let sealing_ok = session.sealing_key.is_none() || session.pending_prekey.is_some();
        let bounded =
            ratchet.skipped.len() <= MAX_SKIPPED_KEYS && ratchet.old_chains.len() <= MAX_OLD_CHAINS;
        if !has_chain || !pending_ok || !sealing_ok || !bounded {
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
    /// The owner's state for storage: `version || postcard(state)`, zeroized on drop. Store it
    /// encrypted, after every change.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let bound = 12288 + 120 * self.0.one_time.len();
        encode(OWNER_VERSION, &self.0, bound)
    }

    /// Restores an owner written by [`PrekeyOwner::to_bytes`], or by a version before: one
    /// from before sealing keys (version 2) or before post-quantum prekeys (version 1) keeps
    /// its keys and [`PrekeyOwner::needs_rotation`] until it rotates.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "prekey owner state";
        let owner: OwnerState = match bytes.first() {
            Some(&CLASSICAL_VERSION) => {
                decode::<ClassicalOwner>(bytes, CLASSICAL_VERSION, WHAT)?.into_current()
            }
            Some(&HYBRID_OWNER_VERSION) => {
                let mut current = Zeroizing::new(Vec::with_capacity(bytes.len() + 1));
                current.push(OWNER_VERSION);
                current.extend_from_slice(&bytes[1..]);
                current.push(0); // no sealing keys
                decode(&current, OWNER_VERSION, WHAT)?
            }
            _ => decode(bytes, OWNER_VERSION, WHAT)?,
        };
        let keys_match = |s: &SignedSecret| s.public.key() == s.secret.0.public_key();
        let kem_matches = |k: &KemSecret| k.public.key() == k.secret.0.public_key();
        let generations = [Some(&owner.current), owner.previous.as_ref()];
        let consistent = generations.into_iter().flatten().all(|g| {
            keys_match(&g.signed)
                && keys_match(&g.last_resort)
                && g.signed.public.id() == g.last_resort.public.id()
                && g.kem
                    .as_ref()
                    .is_none_or(|k| kem_matches(k) && k.public.id() == g.id())
        });
        let ids_ok = owner.one_time.keys().all(|&id| id < owner.next_one_time_id);
        let ids = [
            Some(owner.current.id()),
            owner.previous.as_ref().map(Generation::id),
        ];
        let sealing_ok = owner.sealing.len() <= 2
            && owner
                .sealing
                .windows(2)
                .all(|w| w[0].public.id() < w[1].public.id())
            && owner.sealing.iter().all(|s| {
                s.public.key() == s.secret.0.public_key() && ids.contains(&Some(s.public.id()))
            });
        let previous_ok = owner
            .previous
            .as_ref()
            .is_none_or(|p| p.id() < owner.current.id());
        if !consistent
            || !ids_ok
            || !sealing_ok
            || !previous_ok
            || owner.one_time.len() > MAX_ONE_TIME_PREKEYS
        {
            return Err(DecodeError::Invalid { what: WHAT });
        }
        Ok(Self(owner))
    }
}

/// A session stored before the post-quantum ratchet step, with the state of a ratchet that
/// has taken no step appended: the ratchet is the last field of a session, and the
/// post-quantum state the last of a ratchet.
fn with_pq_ratchet(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() + 8));
    out.extend_from_slice(bytes);
    wire::encode_into(&PqRatchet::new(), &mut out);
    out
}

/// A version 3 session as version 4, without sealing keys: they are the last two fields,
/// both options.
fn without_sealing(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() + 2));
    out.push(SESSION_VERSION);
    out.extend_from_slice(bytes.get(1..).unwrap_or_default());
    out.extend_from_slice(&[0, 0]);
    out
}

/// Whether a stored session is of an earlier version: it loads, and the next save writes it
/// in the current form.
pub(crate) fn older_session_form(stored: &[u8]) -> bool {
    stored.first().is_some_and(|&v| v < SESSION_VERSION)
}

/// Whether a stored prekey owner is of an earlier version (as [`older_session_form`]).
pub(crate) fn older_owner_form(stored: &[u8]) -> bool {
    stored.first().is_some_and(|&v| v < OWNER_VERSION)
}

/// A session as version 1 stored it: its prekey header had no ML-KEM ciphertext.
#[derive(Serialize, Deserialize)]
struct ClassicalSession {
    local: PublicIdentity,
    remote: PublicIdentity,
    initiator: bool,
    base_key: PublicKey,
    pending_prekey: Option<ClassicalPrekeyHeader>,
    ratchet: Ratchet,
}

#[derive(Serialize, Deserialize)]
struct ClassicalPrekeyHeader {
    identity: PublicIdentity,
    base_key: PublicKey,
    signed_prekey_id: u32,
    prekey: PrekeyRef,
}

impl ClassicalSession {
    /// An unanswered classical setup cannot be sent again (version 2 refuses version 1
    /// messages), so its header is dropped: a peer that took one of its messages holds the
    /// session, and one that did not needs a new setup, as after a lost session.
    fn into_current(self) -> SessionState {
        SessionState {
            local: self.local,
            remote: self.remote,
            initiator: self.initiator,
            base_key: self.base_key,
            pending_prekey: None,
            ad: Vec::new(),
            ratchet: self.ratchet,
            seal: None,
            sealing_key: None,
        }
    }
}

/// A prekey owner as version 1 stored it: no ML-KEM prekeys.
#[derive(Serialize, Deserialize)]
struct ClassicalOwner {
    identity: PublicIdentity,
    current: ClassicalGeneration,
    previous: Option<ClassicalGeneration>,
    next_one_time_id: u32,
    one_time: BTreeMap<u32, Secret>,
}

#[derive(Serialize, Deserialize)]
struct ClassicalGeneration {
    signed: SignedSecret,
    last_resort: SignedSecret,
}

impl ClassicalGeneration {
    fn into_current(self) -> Generation {
        Generation {
            signed: self.signed,
            last_resort: self.last_resort,
            kem: None,
        }
    }
}

impl ClassicalOwner {
    fn into_current(self) -> OwnerState {
        OwnerState {
            identity: self.identity,
            current: self.current.into_current(),
            previous: self.previous.map(ClassicalGeneration::into_current),
            next_one_time_id: self.next_one_time_id,
            one_time: self
                .one_time
                .into_iter()
                .map(|(id, key)| (id, OneTimeSecret { key, kem: None }))
                .collect(),
            sealing: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;
    use crate::error::{CryptoError, Error, UsageError};
    use crate::session::message::SessionMessage;
    use crate::session::prekey::SealingKey;
    use crate::session::{PQ_INTERVAL, Sealing};

    /// A session encoded with a ratchet that took no post-quantum step, as versions 1 and 2
    /// wrote it: without that state.
    fn without_pq_ratchet(mut bytes: Zeroizing<Vec<u8>>) -> Zeroizing<Vec<u8>> {
        let mut idle = Vec::new();
        wire::encode_into(&PqRatchet::new(), &mut idle);
        assert!(bytes.ends_with(&idle));
        let keep = bytes.len() - idle.len();
        bytes.truncate(keep);
        bytes
    }

    /// A stored form one byte short or one byte long is refused, not completed.
    fn refused_unless_exact<T>(bytes: &[u8], load: impl Fn(&[u8]) -> Result<T, DecodeError>) {
        assert!(load(&bytes[..bytes.len() - 1]).is_err());
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(load(&long).is_err());
    }

    const INVALID_OWNER: Result<(), DecodeError> = Err(DecodeError::Invalid {
        what: "prekey owner state",
    });

    /// Loads an owner state as encoded, keeping only the outcome.
    fn load_owner(state: &OwnerState) -> Result<(), DecodeError> {
        let bytes = encode(OWNER_VERSION, state, 16384);
        PrekeyOwner::from_bytes(&bytes).map(|_| ())
    }

    /// A session as version 3 wrote it: no sealing keys (the two options at the end).
    fn without_sealing_keys(s: &Session) -> Zeroizing<Vec<u8>> {
        let mut state = s.0.clone();
        state.seal = None;
        state.sealing_key = None;
        let mut bytes = encode(SESSION_VERSION, &state, 8192);
        assert!(bytes.ends_with(&[0, 0]));
        let keep = bytes.len() - 2;
        bytes.truncate(keep);
        bytes[0] = PQ_RATCHET_VERSION;
        bytes
    }

    /// `owner` as version 1 wrote it: the same keys, no ML-KEM prekeys.
    fn classical_owner(owner: &PrekeyOwner) -> Zeroizing<Vec<u8>> {
        let s = owner.0.clone();
        let generation = |g: Generation| ClassicalGeneration {
            signed: g.signed,
            last_resort: g.last_resort,
        };
        let classical = ClassicalOwner {
            identity: s.identity,
            current: generation(s.current),
            previous: s.previous.map(generation),
            next_one_time_id: s.next_one_time_id,
            one_time: s.one_time.into_iter().map(|(id, k)| (id, k.key)).collect(),
        };
        encode(CLASSICAL_VERSION, &classical, 8192)
    }

    #[test]
    fn a_classical_owner_loads_and_must_rotate_before_publishing() {
        let mut rng = rand::rng();
        let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
        let mut owner = PrekeyOwner::new(&mut rng, &bob);
        let old_one_time = owner.generate_one_time(&mut rng, 2, &bob).unwrap();
        let bytes = classical_owner(&owner);
        assert_eq!(bytes[0], 1);
        assert!(older_owner_form(&bytes) && !older_owner_form(&owner.to_bytes()));
        let mut loaded = PrekeyOwner::from_bytes(&bytes).unwrap();
        assert!(loaded.needs_rotation());
        assert_eq!(loaded.one_time_count(), 2);
        assert_eq!(
            loaded.bundle(None).map(|_| ()),
            Err(UsageError::RotationNeeded)
        );
        // A bundle naming a one-time prekey the classical owner holds without a partner: the
        // prekey is unknown (no bundle of ours ever handed it out with one).
        let stale = owner
            .bundle(Some(&old_one_time[0]))
            .unwrap()
            .verify()
            .unwrap();
        let mut s = Session::initiate(&mut rng, &alice, &stale).unwrap();
        let m = s.encrypt(&mut rng, b"x").unwrap();
        let refused = Session::respond(&bob, &mut loaded, &m).unwrap_err();
        assert_eq!(refused, Error::Crypto(CryptoError::UnknownPrekey));
        // Once rotated, it publishes and answers as any owner does, and saves as version 2.
        loaded.rotate(&mut rng, &bob).unwrap();
        assert!(!loaded.needs_rotation());
        let fresh = loaded.bundle(None).unwrap().verify().unwrap();
        let mut s = Session::initiate(&mut rng, &alice, &fresh).unwrap();
        let m = s.encrypt(&mut rng, b"hello").unwrap();
        let (_, pt) = Session::respond(&bob, &mut loaded, &m).unwrap();
        assert_eq!(pt, b"hello");
        let saved = loaded.to_bytes();
        assert_eq!(saved[0], OWNER_VERSION);
        assert_eq!(PrekeyOwner::from_bytes(&saved).unwrap().to_bytes(), saved);
    }

    #[test]
    fn an_owner_whose_kem_keys_do_not_match_is_refused() {
        let mut rng = rand::rng();
        let bob = Identity::generate(&mut rng);
        let mut owner = PrekeyOwner::new(&mut rng, &bob);
        owner.rotate(&mut rng, &bob).unwrap();
        let other = PrekeyOwner::new(&mut rng, &bob);
        let (load, invalid) = (load_owner, INVALID_OWNER);
        assert_eq!(load(&owner.0), Ok(()));
        // Another owner's ML-KEM prekey (id 0) over generation 0's secret.
        let mut swapped = owner.0.clone();
        let previous = swapped.previous.as_mut().unwrap();
        previous.kem.as_mut().unwrap().public = other.0.current.kem.clone().unwrap().public;
        assert_eq!(load(&swapped), invalid);
        // Generation 0's ML-KEM prekey (its own, id 0) in generation 1.
        let mut misfiled = owner.0.clone();
        misfiled.current.kem = misfiled.previous.as_ref().unwrap().kem.clone();
        assert_eq!(load(&misfiled), invalid);
        // The X25519 keys are checked as before, whatever the ML-KEM ones.
        let mut x = owner.0.clone();
        x.current.last_resort.public = other.0.current.last_resort.public;
        assert_eq!(load(&x), invalid);
    }

    #[test]
    fn a_session_from_before_the_post_quantum_ratchet_loads_and_takes_its_steps() {
        let mut rng = rand::rng();
        let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
        let mut owner = PrekeyOwner::new(&mut rng, &bob);
        let bundle = owner.bundle(None).unwrap().verify().unwrap();
        let mut a = Session::initiate(&mut rng, &alice, &bundle).unwrap();
        let (b, _) =
            Session::respond(&bob, &mut owner, &a.encrypt(&mut rng, b"hi").unwrap()).unwrap();
        // Both as version 2 wrote them: the same fields, no post-quantum ratchet state.
        let version_2 = |s: &Session| {
            let mut state = s.clone();
            state.0.ratchet.pq = PqRatchet::new();
            let mut bytes = without_pq_ratchet(without_sealing_keys(&state));
            bytes[0] = HYBRID_SETUP_VERSION;
            bytes
        };
        let (old_a, old_b) = (version_2(&a), version_2(&b));
        assert!(older_session_form(&old_a) && !older_session_form(&a.to_bytes()));
        let mut a = Session::from_bytes(&old_a).unwrap();
        let mut b = Session::from_bytes(&old_b).unwrap();
        assert!(a.0.pending_prekey.is_some(), "an unanswered set-up is kept");
        for i in 0..2 * PQ_INTERVAL + 8 {
            let (from, to) = if i % 2 == 0 {
                (&mut b, &mut a)
            } else {
                (&mut a, &mut b)
            };
            let m = from.encrypt(&mut rng, b"on").unwrap();
            assert_eq!(to.decrypt(&m).unwrap(), b"on");
        }
        assert_eq!((a.post_quantum_epoch(), b.post_quantum_epoch()), (2, 2));
        assert_eq!(a.to_bytes()[0], SESSION_VERSION);
        // A truncated or extended version 2 state is refused, not completed.
        refused_unless_exact(&old_a, Session::from_bytes);
    }

    #[test]
    fn a_session_from_before_sealing_keys_loads_and_seals_classically() {
        let mut rng = rand::rng();
        let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
        let mut owner = PrekeyOwner::new(&mut rng, &bob);
        let bundle = owner.bundle(None).unwrap().verify().unwrap();
        let mut a = Session::initiate(&mut rng, &alice, &bundle).unwrap();
        assert!(matches!(a.sealing(), Sealing::Opening(_)));
        let (mut b, _) =
            Session::respond(&bob, &mut owner, &a.encrypt(&mut rng, b"hi").unwrap()).unwrap();
        assert!(matches!(b.sealing(), Sealing::Session(_)));
        let (old_a, old_b) = (without_sealing_keys(&a), without_sealing_keys(&b));
        assert!(older_session_form(&old_a) && older_session_form(&old_b));
        let mut a = Session::from_bytes(&old_a).unwrap();
        let loaded_b = Session::from_bytes(&old_b).unwrap();
        assert!(matches!(a.sealing(), Sealing::Classical));
        assert!(matches!(loaded_b.sealing(), Sealing::Classical));
        assert!(a.peer_seal_keys().is_none() && loaded_b.peer_seal_keys().is_none());
        // It goes on as before, and is written as version 4.
        let m = b.encrypt(&mut rng, b"on").unwrap();
        assert_eq!(a.decrypt(&m).unwrap(), b"on");
        assert_eq!(a.to_bytes()[0], SESSION_VERSION);
        assert_eq!(
            Session::from_bytes(&a.to_bytes()).unwrap().to_bytes(),
            a.to_bytes()
        );
        refused_unless_exact(&old_a, Session::from_bytes);
        // A sealing key is kept only with the prekey header it goes with.
        let mut stray = b.0.clone();
        stray.sealing_key = Some(Box::new(bundle.bundle().sealing_key().clone()));
        let bytes = encode(SESSION_VERSION, &stray, 8192);
        assert!(Session::from_bytes(&bytes).is_err());
    }

    #[test]
    fn an_owner_from_before_sealing_keys_loads_and_rotates_to_get_one() {
        let mut rng = rand::rng();
        let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
        let owner = PrekeyOwner::new(&mut rng, &bob);
        let mut state = owner.0.clone();
        state.sealing.clear();
        let mut old = encode(OWNER_VERSION, &state, 8192);
        assert_eq!(old.pop(), Some(0));
        old[0] = HYBRID_OWNER_VERSION;
        assert!(older_owner_form(&old));
        let mut loaded = PrekeyOwner::from_bytes(&old).unwrap();
        assert!(loaded.needs_rotation());
        assert_eq!(loaded.bundle(None).unwrap_err(), UsageError::RotationNeeded);
        assert_eq!(
            loaded.sealing_secret(0).map(|_| ()),
            Err(CryptoError::UnknownPrekey)
        );
        loaded.rotate(&mut rng, &bob).unwrap();
        assert!(!loaded.needs_rotation());
        let bundle = loaded.bundle(None).unwrap().verify().unwrap();
        assert_eq!(bundle.bundle().sealing_key().id(), 1);
        let mut s = Session::initiate(&mut rng, &alice, &bundle).unwrap();
        let m = s.encrypt(&mut rng, b"hello").unwrap();
        assert_eq!(Session::respond(&bob, &mut loaded, &m).unwrap().1, b"hello");
        let saved = loaded.to_bytes();
        assert_eq!(saved[0], OWNER_VERSION);
        assert_eq!(PrekeyOwner::from_bytes(&saved).unwrap().to_bytes(), saved);
        refused_unless_exact(&old, PrekeyOwner::from_bytes);
    }

    #[test]
    fn an_owner_keeps_the_sealing_keys_of_its_two_generations_only() {
        let mut rng = rand::rng();
        let bob = Identity::generate(&mut rng);
        let mut owner = PrekeyOwner::new(&mut rng, &bob);
        let first = owner.0.sealing[0].public.clone();
        owner.rotate(&mut rng, &bob).unwrap();
        assert!(owner.sealing_secret(0).is_ok() && owner.sealing_secret(1).is_ok());
        owner.rotate(&mut rng, &bob).unwrap();
        assert_eq!(
            owner.sealing_secret(0).map(|_| ()),
            Err(CryptoError::UnknownPrekey)
        );
        let ids: Vec<u32> = owner.0.sealing.iter().map(|s| s.public.id()).collect();
        assert_eq!(ids, [1, 2]);
        let (load, invalid) = (load_owner, INVALID_OWNER);
        assert_eq!(load(&owner.0), Ok(()));
        // A sealing key of a generation the owner no longer holds, keys out of order, a
        // public key that is not its secret's, or three of them: refused.
        let mut stale = owner.0.clone();
        stale.sealing[0].public = first.clone();
        assert_eq!(load(&stale), invalid);
        let mut reversed = owner.0.clone();
        reversed.sealing.reverse();
        assert_eq!(load(&reversed), invalid);
        let mut mismatched = owner.0.clone();
        mismatched.sealing[1].public =
            SealingKey::sign(&bob, 2, mismatched.sealing[0].secret.0.public_key().clone());
        assert_eq!(load(&mismatched), invalid);
        let mut three = owner.0.clone();
        three.sealing.push(three.sealing[1].clone());
        assert_eq!(load(&three), invalid);
    }

    #[test]
    fn a_classical_session_loads_without_its_unanswered_header() {
        let mut rng = rand::rng();
        let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
        let mut owner = PrekeyOwner::new(&mut rng, &bob);
        let bundle = owner.bundle(None).unwrap().verify().unwrap();
        let mut a = Session::initiate(&mut rng, &alice, &bundle).unwrap();
        let first = a.encrypt(&mut rng, b"first").unwrap();
        let (mut b, _) = Session::respond(&bob, &mut owner, &first).unwrap();
        let mut s = a.0.clone();
        s.ratchet.pq = PqRatchet::new();
        let header = s.pending_prekey.as_deref().unwrap();
        let classical = ClassicalSession {
            local: s.local,
            remote: s.remote,
            initiator: s.initiator,
            base_key: s.base_key,
            pending_prekey: Some(ClassicalPrekeyHeader {
                identity: header.identity,
                base_key: header.base_key,
                signed_prekey_id: header.signed_prekey_id,
                prekey: header.prekey,
            }),
            ratchet: s.ratchet,
        };
        let bytes = without_pq_ratchet(encode(CLASSICAL_VERSION, &classical, 4096));
        let mut loaded = Session::from_bytes(&bytes).unwrap();
        assert!(loaded.0.pending_prekey.is_none());
        // The peer that took a message of it holds the session: the two talk on.
        let next = loaded.encrypt(&mut rng, b"after the upgrade").unwrap();
        assert!(next.prekey.is_none());
        let next = SessionMessage::from_bytes(&next.to_bytes()).unwrap();
        assert_eq!(b.decrypt(&next).unwrap(), b"after the upgrade");
        let back = b.encrypt(&mut rng, b"back").unwrap();
        assert_eq!(loaded.decrypt(&back).unwrap(), b"back");
        assert_eq!(loaded.to_bytes()[0], SESSION_VERSION);
    }
}
