//! A pairwise session: PQXDH setup, then the Double Ratchet. PROTOCOL.md §5.3–5.6.

use rand::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::crypto::aead::TAG_LEN;
use crate::crypto::x25519::PublicKey;
use crate::error::{CryptoError, Error};
use crate::identity::{Identity, PublicIdentity};

use super::message::{PrekeyHeader, PrekeyRef, SessionMessage};
use super::owner::PrekeyOwner;
use super::prekey::{BundlePrekey, SealingKey, VerifiedBundle};
use super::ratchet::Ratchet;
use super::seal::{SealKeys, SealSecret};
use super::{KeySource, RngKeys, x3dh};

/// One side of an encrypted, forward-secret, self-healing channel with one peer.
///
/// Plain bytes in, plain bytes out: the session does not pad (padding is the envelope
/// layer's job, PROTOCOL.md §7). Messages may arrive late, out of order or not at all, within
/// the bounds [`MAX_SKIP`](super::MAX_SKIP) and [`MAX_SKIPPED_KEYS`](super::MAX_SKIPPED_KEYS).
/// A session cannot decrypt what it sent itself: an application keeps its own plaintext.
#[derive(Clone)]
pub struct Session(pub(crate) SessionState);

/// The fields of a [`Session`], kept crate-private so that only [`Session::to_bytes`] (with
/// its version byte and zeroized buffer) can serialize them.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SessionState {
    pub(crate) local: PublicIdentity,
    pub(crate) remote: PublicIdentity,
    pub(crate) initiator: bool,
    /// EK_A: identifies the setup this session came from, on both sides.
    pub(crate) base_key: PublicKey,
    /// The initiator's prekey header, sent until the first reply is decrypted (boxed: its
    /// ML-KEM ciphertext is 1088 bytes).
    pub(crate) pending_prekey: Option<Box<PrekeyHeader>>,
    /// AD = wire(IK_A) || wire(IK_B), derived from the identities.
    #[serde(skip)]
    pub(crate) ad: Vec<u8>,
    pub(crate) ratchet: Ratchet,
    /// The sealed layer's secret (PROTOCOL.md §9.2); `None` in a session set up before it
    /// (stored as version 3 or earlier), whose messages are sealed as before.
    pub(crate) seal: Option<SealSecret>,
    /// The responder's sealing key from the bundle, while the prekey header is sent: messages
    /// that open the session are sealed to it.
    pub(crate) sealing_key: Option<Box<SealingKey>>,
}

/// How a message of a session is sealed for the relay (PROTOCOL.md §9.2).
pub enum Sealing<'a> {
    /// A message that opens the session: HPKE over X-Wing to the responder's sealing key.
    Opening(&'a SealingKey),
    /// Any later message: HPKE DHKEM(X25519) to the identity key around an inner seal keyed
    /// from the session.
    Session(SealKeys),
    /// A session set up before sealing keys: HPKE DHKEM(X25519) to the identity key alone.
    Classical,
}

impl Session {
    /// Starts a session with the owner of `bundle`. The returned session can
    /// [`encrypt`](Self::encrypt) at once; its messages carry the prekey header until the peer
    /// replies.
    ///
    /// The bundle's signatures are verified, but whether its identity is the person you mean
    /// is yours to check (safety numbers).
    pub fn initiate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        identity: &Identity,
        bundle: &VerifiedBundle,
    ) -> Result<Self, Error> {
        Self::initiate_from_keys(&mut RngKeys(rng), identity, bundle)
    }

    /// [`Session::initiate`] with explicit keys: EK_A, the ML-KEM encapsulation randomness,
    /// then Alice's first ratchet key.
    #[cfg(feature = "hazmat")]
    pub fn initiate_with_keys(
        keys: &mut dyn KeySource,
        identity: &Identity,
        bundle: &VerifiedBundle,
    ) -> Result<Self, Error> {
        Self::initiate_from_keys(keys, identity, bundle)
    }

    fn initiate_from_keys(
        keys: &mut dyn KeySource,
        identity: &Identity,
        bundle: &VerifiedBundle,
    ) -> Result<Self, Error> {
        let bundle = bundle.bundle();
        let base = keys.next_key();
        let (kem_ciphertext, kem_shared) = bundle
            .kem_prekey()
            .key()
            .encapsulate_with(&keys.next_kem_coins());
        let ad = x3dh::associated_data(identity.public(), bundle.identity());
        let (signed, prekey) = (bundle.signed_prekey(), bundle.prekey());
        let (sk, seal) = x3dh::initiator_secret(
            identity,
            &base,
            bundle.identity(),
            signed.key(),
            prekey.key(),
            &kem_shared,
            &ad,
        )?;
        let ratchet = Ratchet::initiator(&sk, keys.next_key(), signed.key())?;
        let pending = PrekeyHeader {
            identity: *identity.public(),
            base_key: *base.public_key(),
            signed_prekey_id: signed.id(),
            prekey: match prekey {
                BundlePrekey::OneTime(p) => PrekeyRef::OneTime(p.id()),
                BundlePrekey::LastResort(p) => PrekeyRef::LastResort(p.id()),
            },
            kem_ciphertext,
        };
        Ok(Self(SessionState {
            local: *identity.public(),
            remote: *bundle.identity(),
            initiator: true,
            base_key: pending.base_key,
            pending_prekey: Some(Box::new(pending)),
            ad,
            ratchet,
            seal: Some(seal),
            sealing_key: Some(Box::new(bundle.sealing_key().clone())),
        }))
    }

    /// Creates the responder's side from the initiator's first (prekey) message and decrypts
    /// it. On success the one-time prekey it used is deleted from `prekeys`; on failure
    /// nothing changes.
    ///
    /// # Errors
    /// [`CryptoError::NoSession`] if `message` is not a prekey message,
    /// [`CryptoError::Replay`] if its one-time prekey was already used,
    /// [`CryptoError::UnknownPrekey`] if it names a prekey we do not hold.
    pub fn respond(
        identity: &Identity,
        prekeys: &mut PrekeyOwner,
        message: &SessionMessage,
    ) -> Result<(Self, Vec<u8>), Error> {
        let header = message.prekey.as_deref().ok_or(CryptoError::NoSession)?;
        prekeys.check_identity(identity)?;
        let (signed, prekey, kem) = prekeys.secrets(header)?;
        let kem_shared = kem.decapsulate(&header.kem_ciphertext);
        let ad = x3dh::associated_data(&header.identity, identity.public());
        let (sk, seal) = x3dh::responder_secret(
            identity,
            signed,
            prekey,
            &header.identity,
            &header.base_key,
            &kem_shared,
            &ad,
        )?;
        let mut session = Self(SessionState {
            local: *identity.public(),
            remote: header.identity,
            initiator: false,
            base_key: header.base_key,
            pending_prekey: None,
            ad,
            ratchet: Ratchet::responder(sk, signed.clone()),
            seal: Some(seal),
            sealing_key: None,
        });
        let plaintext = session.decrypt(message)?;
        prekeys.consume(&header.prekey);
        Ok((session, plaintext))
    }

    /// Encrypts `plaintext` as the next message to the peer.
    ///
    /// # Errors
    /// [`UsageError::MessageLimitReached`](crate::UsageError::MessageLimitReached) after
    /// 2^32 − 1 messages in one sending chain (until the peer replies).
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<SessionMessage, Error> {
        self.encrypt_from_keys(&mut RngKeys(rng), plaintext)
    }

    /// [`Session::encrypt`] with explicit keys, drawn only when a DH ratchet step is due: the
    /// ratchet key, then an ML-KEM key pair if a post-quantum offer is due, or encapsulation
    /// randomness if the peer's offer is waiting (PROTOCOL.md §5.5).
    #[cfg(feature = "hazmat")]
    pub fn encrypt_with_keys(
        &mut self,
        keys: &mut dyn KeySource,
        plaintext: &[u8],
    ) -> Result<SessionMessage, Error> {
        self.encrypt_from_keys(keys, plaintext)
    }

    fn encrypt_from_keys(
        &mut self,
        keys: &mut dyn KeySource,
        plaintext: &[u8],
    ) -> Result<SessionMessage, Error> {
        let (header, message_key) = self.0.ratchet.next_send(keys, self.0.initiator)?;
        let mut ciphertext = Vec::with_capacity(plaintext.len() + TAG_LEN);
        ciphertext.extend_from_slice(plaintext);
        let mut message = SessionMessage {
            prekey: self.0.pending_prekey.clone(),
            header,
            ciphertext,
        };
        let aad = message.associated_data(&self.0.ad);
        message_key.seal(&aad, &mut message.ciphertext);
        Ok(message)
    }

    /// Decrypts a message from the peer. On any error the session is exactly as before.
    ///
    /// # Errors
    /// [`CryptoError::Replay`] for a message already decrypted (or whose key was evicted),
    /// [`CryptoError::TooManySkipped`] for a gap beyond [`MAX_SKIP`](super::MAX_SKIP),
    /// [`CryptoError::DecryptionFailed`] for anything that does not authenticate.
    pub fn decrypt(&mut self, message: &SessionMessage) -> Result<Vec<u8>, Error> {
        if !self.accepts(message) {
            return Err(CryptoError::DecryptionFailed.into());
        }
        let aad = message.associated_data(&self.0.ad);
        let plaintext =
            self.0
                .ratchet
                .decrypt(&message.header, &aad, &message.ciphertext, self.0.initiator)?;
        // A reply proves the peer holds the session: stop sending the prekey header.
        self.0.pending_prekey = None;
        self.0.sealing_key = None;
        Ok(plaintext)
    }

    /// Whether `message` belongs to this session: any ordinary message does; a prekey message
    /// only if this is the responder's session created from that same setup.
    pub fn accepts(&self, message: &SessionMessage) -> bool {
        match &message.prekey {
            None => true,
            Some(p) => {
                !self.0.initiator && p.base_key == self.0.base_key && p.identity == self.0.remote
            }
        }
    }

    /// How many post-quantum ratchet steps this session has taken since set-up (PROTOCOL.md
    /// §5.5): each one puts a fresh ML-KEM-768 secret into the root key.
    pub fn post_quantum_epoch(&self) -> u32 {
        self.0.ratchet.pq.epoch
    }

    /// How our next message is to be sealed: to the peer's sealing key while it opens the
    /// session, else with the session's keys (or classically, for a session set up before
    /// them).
    pub fn sealing(&self) -> Sealing<'_> {
        // The sealing key is kept only beside the prekey header: `decrypt` drops both, and a
        // stored state with the key and not the header does not load.
        match (&self.0.sealing_key, &self.0.seal) {
            (Some(key), _) => Sealing::Opening(key),
            (_, Some(seal)) => Sealing::Session(seal.keys(self.0.initiator)),
            _ => Sealing::Classical,
        }
    }

    /// The keys of the sealed layer of the peer's messages, for a session that has them.
    pub fn peer_seal_keys(&self) -> Option<SealKeys> {
        self.0.seal.as_ref().map(|s| s.keys(!self.0.initiator))
    }

    /// The peer's identity.
    pub fn remote_identity(&self) -> &PublicIdentity {
        &self.0.remote
    }

    /// Our identity.
    pub fn local_identity(&self) -> &PublicIdentity {
        &self.0.local
    }
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("local", &self.0.local)
            .field("remote", &self.0.remote)
            .field("initiator", &self.0.initiator)
            .field("skipped_keys", &self.0.ratchet.skipped.len())
            .finish_non_exhaustive()
    }
}
