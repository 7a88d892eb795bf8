//! Pairwise sessions: prekey bundles, asynchronous setup and the Double Ratchet.
//!
//! Every key a conversation hands a recipient travels over one of these. The design is
//! Signal's: PQXDH-style setup from a published [`PrekeyBundle`] (so the peer may be offline),
//! then the Double Ratchet for forward secrecy and post-compromise security. PROTOCOL.md §5
//! gives every byte.
//!
//! ```
//! use missive::Identity;
//! use missive::session::{PrekeyOwner, Session, VerifiedBundle};
//! # fn main() -> Result<(), missive::Error> {
//! let mut rng = rand::rng();
//! let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
//!
//! // Bob publishes prekeys; a relay hands Alice a bundle with one of them.
//! let mut bob_prekeys = PrekeyOwner::new(&mut rng, &bob);
//! let one_time = bob_prekeys.generate_one_time(&mut rng, 10, &bob)?;
//! let bundle_bytes = bob_prekeys.bundle(Some(&one_time[0]))?.to_bytes();
//!
//! // Alice verifies the bundle and writes first; Bob answers from her message alone.
//! let bundle = VerifiedBundle::from_bytes(&bundle_bytes)?;
//! let mut alice_session = Session::initiate(&mut rng, &alice, &bundle)?;
//! let first = alice_session.encrypt(&mut rng, b"hi Bob")?;
//! let (mut bob_session, plaintext) = Session::respond(&bob, &mut bob_prekeys, &first)?;
//! assert_eq!(plaintext, b"hi Bob");
//!
//! let reply = bob_session.encrypt(&mut rng, b"hi Alice")?;
//! assert_eq!(alice_session.decrypt(&reply)?, b"hi Alice");
//! # Ok(()) }
//! ```

mod chain;
mod message;
mod owner;
mod pairwise;
mod pq;
mod prekey;
mod ratchet;
mod seal;
mod state;
mod store;
mod x3dh;

use rand::CryptoRng;

use zeroize::Zeroizing;

use crate::crypto::x25519::SecretKey;
use crate::crypto::{mlkem, xwing};

pub use message::SessionMessage;
pub use owner::{MAX_ONE_TIME_PREKEYS, PrekeyOwner};
pub use pairwise::{Sealing, Session};
pub use pq::PQ_INTERVAL;
pub use prekey::{
    BundlePrekey, KemPrekey, ONE_TIME_PREKEY_LEN, OneTimePair, OneTimePrekey,
    PREKEY_SIGNATURE_LABEL, PrekeyBundle, SealingKey, SignedPrekey, VerifiedBundle,
};
pub use ratchet::{MAX_SKIP, MAX_SKIPPED_KEYS};
#[cfg(feature = "vectors")]
pub(crate) use seal::SealSecret;
pub use seal::{SEAL_LABEL_LEN, SealKeys};
pub(crate) use state::{older_owner_form, older_session_form};
pub use store::{MemorySessionStore, SessionStore, receive, send};

/// Where a session's fresh X25519 key pairs come from. Applications pass an RNG to the
/// public functions; test vectors use the `*_with_keys` functions (feature `hazmat`) with a
/// source that hands out listed keys, so a vector names its secrets instead of depending on an
/// RNG.
#[cfg(feature = "hazmat")]
pub trait KeySource {
    /// The next key pair.
    fn next_key(&mut self) -> SecretKey;
    /// The next ML-KEM-768 key pair.
    fn next_kem_key(&mut self) -> mlkem::SecretKey;
    /// The next 32 bytes of ML-KEM encapsulation randomness (FIPS 203's `m`).
    fn next_kem_coins(&mut self) -> Zeroizing<[u8; 32]>;
    /// The next X-Wing key pair (a prekey generation's sealing key).
    fn next_sealing_key(&mut self) -> xwing::SecretKey;
}

/// Where a session's fresh X25519 key pairs come from: an RNG (the `hazmat` feature lets
/// vectors list them).
#[cfg(not(feature = "hazmat"))]
pub(crate) trait KeySource {
    /// The next key pair.
    fn next_key(&mut self) -> SecretKey;
    /// The next ML-KEM-768 key pair.
    fn next_kem_key(&mut self) -> mlkem::SecretKey;
    /// The next 32 bytes of ML-KEM encapsulation randomness (FIPS 203's `m`).
    fn next_kem_coins(&mut self) -> Zeroizing<[u8; 32]>;
    /// The next X-Wing key pair (a prekey generation's sealing key).
    fn next_sealing_key(&mut self) -> xwing::SecretKey;
}

/// Fresh keys from an RNG.
pub(crate) struct RngKeys<'a, R: ?Sized>(pub(crate) &'a mut R);

impl<R: CryptoRng + ?Sized> KeySource for RngKeys<'_, R> {
    fn next_key(&mut self) -> SecretKey {
        SecretKey::generate(self.0)
    }

    fn next_kem_key(&mut self) -> mlkem::SecretKey {
        mlkem::SecretKey::generate(self.0)
    }

    fn next_kem_coins(&mut self) -> Zeroizing<[u8; 32]> {
        let mut m = Zeroizing::new([0u8; 32]);
        self.0.fill_bytes(m.as_mut());
        m
    }

    fn next_sealing_key(&mut self) -> xwing::SecretKey {
        xwing::SecretKey::generate(self.0)
    }
}
