//! The prekey owner's side: the secrets behind a user's published prekeys. PROTOCOL.md §5.2.

use std::collections::BTreeMap;

use rand::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::crypto::x25519::SecretKey;
use crate::crypto::{mlkem, xwing};
use crate::error::{CryptoError, Error, UsageError};
use crate::identity::{Identity, PublicIdentity};

use super::message::{PrekeyHeader, PrekeyRef};
use super::prekey::{
    BundlePrekey, KemPrekey, OneTimePair, OneTimePrekey, PrekeyBundle, SealingKey, SignedKind,
    SignedPrekey,
};
use super::state::{KemSeed, Secret, XWingSeed};
use super::{KeySource, RngKeys};

/// The most one-time prekey secrets an owner holds at once.
pub const MAX_ONE_TIME_PREKEYS: usize = 1000;

/// A signed prekey with its secret.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SignedSecret {
    pub(crate) public: SignedPrekey,
    pub(crate) secret: Secret,
}

/// A signed ML-KEM-768 prekey with its secret.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct KemSecret {
    pub(crate) public: KemPrekey,
    pub(crate) secret: KemSeed,
}

/// A generation's signed X-Wing sealing key with its secret (PROTOCOL.md §9.2).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SealingSecret {
    pub(crate) public: SealingKey,
    pub(crate) secret: XWingSeed,
}

impl SealingSecret {
    fn generate(keys: &mut dyn KeySource, identity: &Identity, id: u32) -> Self {
        let secret = keys.next_sealing_key();
        let public = SealingKey::sign(identity, id, secret.public_key().clone());
        Self {
            public,
            secret: XWingSeed(secret),
        }
    }
}

/// One generation of signed keys: the signed prekey, the last-resort prekey and its ML-KEM
/// partner, rotated together, all with id = the generation number. `kem` is `None` only in a
/// generation made before post-quantum prekeys (a state of owner version 1): such an owner
/// must [`PrekeyOwner::rotate`] before it can publish a bundle.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Generation {
    pub(crate) signed: SignedSecret,
    pub(crate) last_resort: SignedSecret,
    pub(crate) kem: Option<KemSecret>,
}

/// The secrets of one one-time prekey: the X25519 key and its ML-KEM partner (`None` only for
/// a key made before post-quantum prekeys, which no bundle hands out any more).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct OneTimeSecret {
    pub(crate) key: Secret,
    pub(crate) kem: Option<KemSeed>,
}

/// The secrets behind a user's published prekeys.
///
/// * The signed prekey and the last-resort prekey are rotated together by
///   [`PrekeyOwner::rotate`], on whatever schedule the client chooses (Signal rotates weekly
///   to monthly). The previous generation is kept until the next rotation, so a bundle
///   fetched before a rotation still works for one more period.
/// * One-time prekeys are generated in batches; each secret is deleted once a session has
///   been created with it, and a second message naming it is refused with
///   [`CryptoError::Replay`].
///
/// Store it with [`PrekeyOwner::to_bytes`] after every change (and after every
/// [`Session::respond`](super::Session::respond)).
#[derive(Clone)]
pub struct PrekeyOwner(pub(crate) OwnerState);

/// The fields of a [`PrekeyOwner`], crate-private so that only [`PrekeyOwner::to_bytes`]
/// can serialize them.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct OwnerState {
    pub(crate) identity: PublicIdentity,
    pub(crate) current: Generation,
    pub(crate) previous: Option<Generation>,
    pub(crate) next_one_time_id: u32,
    pub(crate) one_time: BTreeMap<u32, OneTimeSecret>,
    /// The sealing keys of the current and previous generations that have one (none in a
    /// state saved before them: owner versions 1 and 2), oldest first.
    pub(crate) sealing: Vec<SealingSecret>,
}

impl SignedSecret {
    fn generate(keys: &mut dyn KeySource, identity: &Identity, kind: SignedKind, id: u32) -> Self {
        let secret = keys.next_key();
        let public = SignedPrekey::sign(identity, kind, id, *secret.public_key());
        Self {
            public,
            secret: Secret(secret),
        }
    }
}

impl KemSecret {
    fn generate(keys: &mut dyn KeySource, identity: &Identity, kind: SignedKind, id: u32) -> Self {
        let secret = keys.next_kem_key();
        let public = KemPrekey::sign(identity, kind, id, secret.public_key().clone());
        Self {
            public,
            secret: KemSeed(secret),
        }
    }
}

impl Generation {
    fn generate(keys: &mut dyn KeySource, identity: &Identity, id: u32) -> Self {
        let signed = SignedSecret::generate(keys, identity, SignedKind::Signed, id);
        let last_resort = SignedSecret::generate(keys, identity, SignedKind::LastResort, id);
        let kem = KemSecret::generate(keys, identity, SignedKind::KemLastResort, id);
        Self {
            signed,
            last_resort,
            kem: Some(kem),
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.signed.public.id()
    }
}

impl PrekeyOwner {
    /// A new owner for `identity` with generation 0 of its signed and last-resort prekeys and
    /// no one-time prekeys.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R, identity: &Identity) -> Self {
        Self::new_from_keys(&mut RngKeys(rng), identity)
    }

    /// [`PrekeyOwner::new`] with explicit keys (the signed prekey, then the last-resort one,
    /// then its ML-KEM partner, then the sealing key).
    #[cfg(feature = "hazmat")]
    pub fn new_with_keys(keys: &mut dyn KeySource, identity: &Identity) -> Self {
        Self::new_from_keys(keys, identity)
    }

    fn new_from_keys(keys: &mut dyn KeySource, identity: &Identity) -> Self {
        Self(OwnerState {
            identity: *identity.public(),
            current: Generation::generate(keys, identity, 0),
            previous: None,
            next_one_time_id: 0,
            one_time: BTreeMap::new(),
            sealing: vec![SealingSecret::generate(keys, identity, 0)],
        })
    }

    /// Replaces the signed and last-resort prekeys; the replaced ones stay usable until the
    /// next rotation.
    pub fn rotate<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        identity: &Identity,
    ) -> Result<(), Error> {
        self.rotate_from_keys(&mut RngKeys(rng), identity)
    }

    /// [`PrekeyOwner::rotate`] with explicit keys.
    #[cfg(feature = "hazmat")]
    pub fn rotate_with_keys(
        &mut self,
        keys: &mut dyn KeySource,
        identity: &Identity,
    ) -> Result<(), Error> {
        self.rotate_from_keys(keys, identity)
    }

    fn rotate_from_keys(
        &mut self,
        keys: &mut dyn KeySource,
        identity: &Identity,
    ) -> Result<(), Error> {
        self.check_identity(identity)?;
        let id = self
            .0
            .current
            .id()
            .checked_add(1)
            .ok_or(UsageError::MessageLimitReached)?;
        let next = Generation::generate(keys, identity, id);
        let sealing = SealingSecret::generate(keys, identity, id);
        let previous = core::mem::replace(&mut self.0.current, next);
        self.0.sealing.retain(|s| s.public.id() == previous.id());
        self.0.sealing.push(sealing);
        self.0.previous = Some(previous);
        Ok(())
    }

    /// Generates `count` one-time prekeys, each an X25519 key with a signed ML-KEM-768 partner,
    /// and returns their public halves for upload.
    ///
    /// # Errors
    /// [`UsageError::TooLarge`] if the owner would hold more than [`MAX_ONE_TIME_PREKEYS`].
    pub fn generate_one_time<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        count: usize,
        identity: &Identity,
    ) -> Result<Vec<OneTimePair>, Error> {
        self.generate_one_time_from_keys(&mut RngKeys(rng), count, identity)
    }

    /// [`PrekeyOwner::generate_one_time`] with explicit keys (for each prekey, the X25519 key
    /// then the ML-KEM one).
    #[cfg(feature = "hazmat")]
    pub fn generate_one_time_with_keys(
        &mut self,
        keys: &mut dyn KeySource,
        count: usize,
        identity: &Identity,
    ) -> Result<Vec<OneTimePair>, Error> {
        self.generate_one_time_from_keys(keys, count, identity)
    }

    fn generate_one_time_from_keys(
        &mut self,
        keys: &mut dyn KeySource,
        count: usize,
        identity: &Identity,
    ) -> Result<Vec<OneTimePair>, Error> {
        self.check_identity(identity)?;
        let too_many = UsageError::TooLarge {
            what: "one-time prekey batch",
        };
        if self.0.one_time.len().saturating_add(count) > MAX_ONE_TIME_PREKEYS {
            return Err(too_many.into());
        }
        let count_u32 = u32::try_from(count).map_err(|_| too_many)?;
        self.0
            .next_one_time_id
            .checked_add(count_u32)
            .ok_or(UsageError::MessageLimitReached)?;
        Ok((0..count)
            .map(|_| self.add_one_time(keys, identity))
            .collect())
    }

    fn add_one_time(&mut self, keys: &mut dyn KeySource, identity: &Identity) -> OneTimePair {
        let id = self.0.next_one_time_id;
        let secret: SecretKey = keys.next_key();
        let prekey = OneTimePrekey {
            id,
            key: *secret.public_key(),
        };
        let kem = KemSecret::generate(keys, identity, SignedKind::KemOneTime, id);
        let pair = OneTimePair {
            prekey,
            kem: kem.public,
        };
        let secrets = OneTimeSecret {
            key: Secret(secret),
            kem: Some(kem.secret),
        };
        self.0.one_time.insert(id, secrets);
        self.0.next_one_time_id += 1; // checked for the whole batch by the caller
        pair
    }

    /// The identity these prekeys belong to.
    pub fn identity(&self) -> &PublicIdentity {
        &self.0.identity
    }

    /// The current signed prekey, to publish.
    pub fn signed_prekey(&self) -> &SignedPrekey {
        &self.0.current.signed.public
    }

    /// The current last-resort prekey, to publish.
    pub fn last_resort_prekey(&self) -> &SignedPrekey {
        &self.0.current.last_resort.public
    }

    /// How many one-time prekey secrets are held (unused so far).
    pub fn one_time_count(&self) -> usize {
        self.0.one_time.len()
    }

    /// Whether the current generation predates post-quantum prekeys (an owner saved as
    /// version 1) or sealing keys (saved as version 2): then [`PrekeyOwner::bundle`] refuses
    /// until [`PrekeyOwner::rotate`].
    pub fn needs_rotation(&self) -> bool {
        self.0.current.kem.is_none() || self.current_sealing().is_none()
    }

    fn current_sealing(&self) -> Option<&SealingSecret> {
        let id = self.0.current.id();
        self.0.sealing.iter().find(|s| s.public.id() == id)
    }

    /// The secret of generation `id`'s sealing key, to open a sealed message that names it.
    pub(crate) fn sealing_secret(&self, id: u32) -> Result<&xwing::SecretKey, CryptoError> {
        let found = self.0.sealing.iter().find(|s| s.public.id() == id);
        found.map(|s| &s.secret.0).ok_or(CryptoError::UnknownPrekey)
    }

    /// A bundle of the current signed prekey and `one_time`, or the last-resort prekeys if
    /// `None`, as a relay would hand it out.
    ///
    /// # Errors
    /// [`UsageError::RotationNeeded`] for an owner whose current generation has no ML-KEM
    /// last-resort prekey or no sealing key ([`PrekeyOwner::needs_rotation`]).
    pub fn bundle(&self, one_time: Option<&OneTimePair>) -> Result<PrekeyBundle, UsageError> {
        let current = &self.0.current;
        let kem = current.kem.as_ref().ok_or(UsageError::RotationNeeded)?;
        let sealing = self.current_sealing().ok_or(UsageError::RotationNeeded)?;
        let (prekey, kem_prekey) = match one_time {
            Some(p) => (BundlePrekey::OneTime(p.prekey), p.kem.clone()),
            None => (
                BundlePrekey::LastResort(current.last_resort.public),
                kem.public.clone(),
            ),
        };
        Ok(PrekeyBundle::new(
            self.0.identity,
            current.signed.public,
            prekey,
            kem_prekey,
            sealing.public.clone(),
        ))
    }

    pub(crate) fn check_identity(&self, identity: &Identity) -> Result<(), UsageError> {
        if identity.public() != &self.0.identity {
            return Err(UsageError::WrongIdentity);
        }
        Ok(())
    }

    fn generation(&self, id: u32) -> Result<&Generation, CryptoError> {
        [Some(&self.0.current), self.0.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|g| g.id() == id)
            .ok_or(CryptoError::UnknownPrekey)
    }

    /// The secrets a prekey message names: (SPK_B, OPK_B or the last-resort key, and the
    /// ML-KEM partner of the latter). A prekey without an ML-KEM partner (made before them)
    /// is unknown: no bundle handed it out with one.
    pub(crate) fn secrets(
        &self,
        header: &PrekeyHeader,
    ) -> Result<(&SecretKey, &SecretKey, &mlkem::SecretKey), CryptoError> {
        let signed = &self.generation(header.signed_prekey_id)?.signed.secret.0;
        let (prekey, kem) = match header.prekey {
            PrekeyRef::OneTime(id) => {
                let secret = self.one_time_secret(id)?;
                (&secret.key.0, secret.kem.as_ref())
            }
            PrekeyRef::LastResort(id) => {
                let generation = self.generation(id)?;
                let kem = generation.kem.as_ref().map(|k| &k.secret);
                (&generation.last_resort.secret.0, kem)
            }
        };
        let kem = kem.ok_or(CryptoError::UnknownPrekey)?;
        Ok((signed, prekey, &kem.0))
    }

    fn one_time_secret(&self, id: u32) -> Result<&OneTimeSecret, CryptoError> {
        match self.0.one_time.get(&id) {
            Some(secret) => Ok(secret),
            // Ids are handed out in order and secrets only deleted once used.
            None if id < self.0.next_one_time_id => Err(CryptoError::Replay),
            None => Err(CryptoError::UnknownPrekey),
        }
    }

    /// Deletes a one-time prekey secret once a session has been created with it.
    pub(crate) fn consume(&mut self, prekey: &PrekeyRef) {
        if let PrekeyRef::OneTime(id) = prekey {
            self.0.one_time.remove(id);
        }
    }
}

impl core::fmt::Debug for PrekeyOwner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PrekeyOwner")
            .field("identity", &self.0.identity)
            .field("generation", &self.0.current.id())
            .field("one_time_count", &self.0.one_time.len())
            .finish_non_exhaustive()
    }
}
