//! Helpers shared by the session tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use missive::Identity;
use missive::crypto::x25519::SecretKey;
use missive::crypto::{mlkem, xwing};
use missive::session::{KeySource, PrekeyOwner, Session, SessionMessage, VerifiedBundle};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Hands out listed secret keys in order: X25519 keys, ML-KEM-768 seeds and ML-KEM
/// encapsulation randomness each from their own list.
#[derive(Default)]
pub struct FixedKeys {
    pub keys: std::collections::VecDeque<SecretKey>,
    pub kem_seeds: std::collections::VecDeque<[u8; 64]>,
    pub kem_coins: std::collections::VecDeque<[u8; 32]>,
    pub sealing_seeds: std::collections::VecDeque<[u8; 32]>,
}

impl FixedKeys {
    /// How many listed values were not drawn.
    pub fn unused(&self) -> usize {
        self.keys.len() + self.kem_seeds.len() + self.kem_coins.len() + self.sealing_seeds.len()
    }
}

impl KeySource for FixedKeys {
    fn next_key(&mut self) -> SecretKey {
        self.keys.pop_front().expect("vector lists enough keys")
    }

    fn next_kem_key(&mut self) -> mlkem::SecretKey {
        let seed = self
            .kem_seeds
            .pop_front()
            .expect("vector lists enough KEM seeds");
        mlkem::SecretKey::from_seed(&seed)
    }

    fn next_kem_coins(&mut self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(
            self.kem_coins
                .pop_front()
                .expect("vector lists enough coins"),
        )
    }

    fn next_sealing_key(&mut self) -> xwing::SecretKey {
        let seed = self
            .sealing_seeds
            .pop_front()
            .expect("vector lists enough sealing seeds");
        xwing::SecretKey::from_seed(&seed)
    }
}

pub struct Pair {
    pub alice: Identity,
    pub bob: Identity,
    pub bob_prekeys: PrekeyOwner,
    pub alice_session: Session,
    pub bob_session: Session,
}

/// Alice and Bob with an established session (Alice wrote first, Bob has replied).
pub fn established(rng: &mut StdRng) -> Pair {
    let (alice, bob) = (Identity::generate(rng), Identity::generate(rng));
    let mut bob_prekeys = PrekeyOwner::new(rng, &bob);
    let one_time = bob_prekeys.generate_one_time(rng, 1, &bob).unwrap();
    let bundle = bob_prekeys.bundle(Some(&one_time[0])).unwrap();
    let bundle = bundle.verify().unwrap();
    let mut alice_session = Session::initiate(rng, &alice, &bundle).unwrap();
    let first = alice_session.encrypt(rng, b"first").unwrap();
    let (mut bob_session, pt) = Session::respond(&bob, &mut bob_prekeys, &first).unwrap();
    assert_eq!(pt, b"first");
    let reply = bob_session.encrypt(rng, b"reply").unwrap();
    assert_eq!(alice_session.decrypt(&reply).unwrap(), b"reply");
    Pair {
        alice,
        bob,
        bob_prekeys,
        alice_session,
        bob_session,
    }
}

/// A verified bundle of `owner` (whose identity is `identity`) with a fresh one-time prekey.
pub fn fresh_bundle(
    rng: &mut StdRng,
    owner: &mut PrekeyOwner,
    identity: &Identity,
) -> VerifiedBundle {
    let one_time = owner.generate_one_time(rng, 1, identity).unwrap();
    owner.bundle(Some(&one_time[0])).unwrap().verify().unwrap()
}

/// Re-encodes a message with one byte of its wire form flipped, if it still decodes.
pub fn flip(message: &SessionMessage, index: usize, mask: u8) -> Option<SessionMessage> {
    let mut bytes = message.to_bytes();
    let i = index % bytes.len();
    bytes[i] ^= mask.max(1);
    SessionMessage::from_bytes(&bytes).ok()
}
