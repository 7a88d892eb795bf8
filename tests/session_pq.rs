//! The post-quantum ratchet step (PROTOCOL.md §5.5): how often it comes, what it costs on the
//! wire, that lost and late messages only delay it, and what it heals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod session_support;

use missive::crypto::mlkem;
use missive::crypto::x25519::SecretKey;
use missive::session::{KeySource, PQ_INTERVAL, Session, SessionMessage};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, RngExt};
use session_support::{Pair, established, rng};

/// Sends one message and delivers it through its wire form; the sender's and receiver's
/// states go through storage first, so every stage of a step is saved and loaded.
fn send(rng: &mut StdRng, from: &mut Session, to: &mut Session, text: &[u8]) -> SessionMessage {
    *from = reload(from);
    let m = from.encrypt(rng, text).unwrap();
    let m = SessionMessage::from_bytes(&m.to_bytes()).unwrap();
    *to = reload(to);
    assert_eq!(to.decrypt(&m).unwrap(), text);
    m
}

fn reload(s: &Session) -> Session {
    let bytes = s.to_bytes();
    let loaded = Session::from_bytes(&bytes).unwrap();
    assert_eq!(loaded.to_bytes(), bytes);
    loaded
}

/// The message indexes at which `epochs` (one entry per message) went up.
fn steps(epochs: &[u32]) -> Vec<usize> {
    (1..epochs.len())
        .filter(|&i| epochs[i] > epochs[i - 1])
        .collect()
}

#[test]
fn while_both_talk_a_step_comes_within_the_interval_and_three_turns() {
    let mut rng = rng(1);
    let mut p = established(&mut rng);
    let mut epochs = Vec::new();
    let mut sizes = Vec::new();
    for i in 0..400u32 {
        let (from, to) = if i.is_multiple_of(2) {
            (&mut p.alice_session, &mut p.bob_session)
        } else {
            (&mut p.bob_session, &mut p.alice_session)
        };
        let m = send(&mut rng, from, to, b"a message");
        sizes.push(m.to_bytes().len());
        // Both sides' epochs: the receiver's follows the sender's at the latest one turn on.
        let (a, b) = (
            p.alice_session.post_quantum_epoch(),
            p.bob_session.post_quantum_epoch(),
        );
        assert!(a.abs_diff(b) <= 1);
        epochs.push(a.max(b));
    }
    let at = steps(&epochs);
    assert_eq!(*epochs.last().unwrap(), at.len() as u32);
    // One step at a time, each within the interval plus the three turns of key, ciphertext
    // and the chain that takes the secret in.
    assert!(
        at.windows(2)
            .all(|w| w[1] - w[0] <= PQ_INTERVAL as usize + 3)
    );
    // And not sooner: no offer before 50 messages have passed.
    assert!(at[0] >= PQ_INTERVAL as usize);
    assert!(at.windows(2).all(|w| w[1] - w[0] >= PQ_INTERVAL as usize));
    assert!(at.len() >= 7, "{at:?}");
    // Bytes: an ordinary message is its classical size plus two bytes (epoch 0x0N, no offer
    // 0x00); an offer replaces the 0x00 by 0x01, its kind, the epoch and the length-prefixed
    // key or ciphertext. In turn-by-turn talk each step sends one of each, once.
    let plain = 1 + 1 + (32 + 1 + 1 + 1 + 1) + (1 + 9 + 16);
    let (key, ciphertext) = (plain + 3 + 2 + 1184 - 1, plain + 3 + 2 + 1088 - 1);
    let count = |n| sizes.iter().filter(|&&s| s == n).count();
    assert_eq!(count(plain) + count(key) + count(ciphertext), sizes.len());
    assert!(count(ciphertext) >= at.len() && count(ciphertext) <= at.len() + 1);
    assert!(count(key) >= count(ciphertext) && count(key) <= count(ciphertext) + 1);
}

#[test]
fn one_side_talking_alone_takes_no_step_and_pays_nothing() {
    let mut rng = rng(2);
    let mut p = established(&mut rng);
    let first = p
        .alice_session
        .encrypt(&mut rng, b"x")
        .unwrap()
        .to_bytes()
        .len();
    for _ in 0..3 * PQ_INTERVAL {
        let m = send(&mut rng, &mut p.alice_session, &mut p.bob_session, b"x");
        // Only the counter's varint grows (at 128).
        assert!(m.to_bytes().len() <= first + 1);
    }
    assert_eq!(p.bob_session.post_quantum_epoch(), 0);
    assert_eq!(p.alice_session.post_quantum_epoch(), 0);
}

#[test]
fn bursts_carry_an_offer_once_per_chain() {
    let mut rng = rng(3);
    let mut p = established(&mut rng);
    let mut big = 0;
    for turn in 0..60u32 {
        let burst = 1 + turn % 7;
        for k in 0..burst {
            let (from, to) = if turn % 2 == 0 {
                (&mut p.alice_session, &mut p.bob_session)
            } else {
                (&mut p.bob_session, &mut p.alice_session)
            };
            let m = send(&mut rng, from, to, b"burst");
            if m.to_bytes().len() > 1000 {
                big += 1;
                assert_eq!(k, 0, "an offer rides only on the first message of a chain");
            }
        }
    }
    assert!(p.alice_session.post_quantum_epoch() >= 3);
    assert!(big <= 3 * (p.alice_session.post_quantum_epoch() as usize + 1));
}

#[test]
fn late_copies_of_old_offers_are_ignored() {
    let mut rng = rng(4);
    let Pair {
        alice_session: mut alice,
        bob_session: mut bob,
        ..
    } = established(&mut rng);
    // Sizes tell the carried offer apart: a key adds 1,188 bytes, a ciphertext 1,092.
    let is_key = |m: &SessionMessage| m.to_bytes().len() > 1200;
    let is_ciphertext = |m: &SessionMessage| (1100..1200).contains(&m.to_bytes().len());
    // Epoch 1's first key (Bob's) and first ciphertext (Alice's) are held back; each is sent
    // again on its sender's next chain, so the step still comes.
    let (mut late_key, mut late_ciphertext) = (None, None);
    let (mut key_done, mut ciphertext_done) = (false, false);
    let mut resume_at = None;
    for turn in 0..1200u32 {
        let bob_turn = !turn.is_multiple_of(2);
        let m = if bob_turn { &mut bob } else { &mut alice }
            .encrypt(&mut rng, &turn.to_le_bytes())
            .unwrap();
        let epoch = if bob_turn { &alice } else { &bob }.post_quantum_epoch();
        if epoch == 0 && bob_turn && is_key(&m) && late_key.is_none() && !key_done {
            late_key = Some(m);
            continue;
        }
        if epoch == 0 && !bob_turn && is_ciphertext(&m) && late_ciphertext.is_none() {
            late_ciphertext = Some(m);
            continue;
        }
        // Bob offers a key again (epoch 3 or later): the old ciphertext reaches him now, while
        // he waits for the new one, and must not be taken for it.
        if bob_turn && epoch >= 2 && is_key(&m) && !ciphertext_done {
            let old = late_ciphertext.take().expect("held back");
            assert_eq!(bob.decrypt(&old).unwrap().len(), 4);
            ciphertext_done = true;
        }
        let to = if bob_turn { &mut alice } else { &mut bob };
        assert_eq!(to.decrypt(&m).unwrap(), turn.to_le_bytes());
        // Once epoch 2 is in, the old key (for epoch 1) reaches Alice, idle while Bob owns
        // the next epoch: it must not be taken for the key of epoch 3.
        if alice.post_quantum_epoch() == 2 && !key_done {
            let old = late_key.take().expect("held back");
            assert_eq!(alice.decrypt(&old).unwrap().len(), 4);
            key_done = true;
            resume_at = Some(alice.post_quantum_epoch());
        }
        if ciphertext_done && resume_at.is_some_and(|e| alice.post_quantum_epoch() >= e + 3) {
            return;
        }
    }
    panic!("the steps stopped after the late offers");
}

/// One side's messages in flight, delivered late, out of order or never.
#[derive(Default)]
struct Flight(Vec<SessionMessage>);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Lost, late and reordered messages (offers among them) never break the session; the
    /// steps still come, later.
    #[test]
    fn lost_and_late_offers_only_delay_a_step(seed: u64) {
        let mut rng = rng(seed);
        let mut p = established(&mut rng);
        let (mut to_bob, mut to_alice) = (Flight::default(), Flight::default());
        for turn in 0..400u32 {
            let alice_turn = turn.is_multiple_of(2);
            for _ in 0..rng.random_range(1..4) {
                let (from, flight) = if alice_turn {
                    (&mut p.alice_session, &mut to_bob)
                } else {
                    (&mut p.bob_session, &mut to_alice)
                };
                let text = rng.next_u32().to_le_bytes();
                let m = from.encrypt(&mut rng, &text).unwrap();
                // A fifth of messages are lost.
                if rng.random_range(0..5) != 0 {
                    flight.0.push(m);
                }
            }
            let (to, flight) = if alice_turn {
                (&mut p.bob_session, &mut to_bob)
            } else {
                (&mut p.alice_session, &mut to_alice)
            };
            // Deliver all but a late few, in a shuffled order; the late ones come next turn.
            while flight.0.len() > rng.random_range(0..2) {
                let i = rng.random_range(0..flight.0.len());
                let m = flight.0.swap_remove(i);
                prop_assert!(to.decrypt(&m).is_ok());
            }
        }
        prop_assert!(p.alice_session.post_quantum_epoch() >= 2);
        prop_assert!(p.alice_session.post_quantum_epoch().abs_diff(p.bob_session.post_quantum_epoch()) <= 1);
    }

    /// Post-compromise security against a quantum adversary: who copies Alice's state and
    /// then learns every X25519 secret Alice draws (as one who breaks X25519 would) reads what
    /// Bob sends until the first post-quantum step begun after the copy, and nothing from it
    /// on, whichever side owns that step.
    #[test]
    fn a_copied_state_with_every_later_x25519_secret_heals_at_the_next_step(
        seed: u64,
        after_step in 0usize..2,
        extra in 0u32..20,
    ) {
        let mut rng = rng(seed);
        let Pair { mut alice_session, mut bob_session, .. } = established(&mut rng);
        let mut alice_keys = Split::new(seed);
        // Talk through `after_step` + 1 steps, then a few messages: Alice is between steps.
        let mut turn = 0u32;
        while alice_session.post_quantum_epoch() <= after_step as u32 {
            talk(&mut alice_session, &mut bob_session, &mut alice_keys, &mut rng, &mut turn);
        }
        for _ in 0..extra {
            talk(&mut alice_session, &mut bob_session, &mut alice_keys, &mut rng, &mut turn);
        }
        let copied_at = alice_session.post_quantum_epoch();
        let mut eve = alice_session.clone();
        let mut eve_keys = Split { x: alice_keys.x.clone(), kem: session_support::rng(!seed) };
        let (mut read_before, mut read_after) = (0, 0);
        while bob_session.post_quantum_epoch() <= copied_at + 1 {
            let (m, from_alice) = talk(&mut alice_session, &mut bob_session, &mut alice_keys, &mut rng, &mut turn);
            if from_alice {
                // Eve mirrors Alice's send with the same X25519 keys (her own ML-KEM ones).
                let _ = eve.encrypt_with_keys(&mut eve_keys, b"");
            } else if bob_session.post_quantum_epoch() == copied_at {
                prop_assert!(eve.decrypt(&m).is_ok());
                read_before += 1;
            } else {
                prop_assert!(eve.decrypt(&m).is_err());
                read_after += 1;
            }
        }
        prop_assert!(read_before > 0 && read_after > 0);
    }
}

/// One message, Alice's (with her keys) and Bob's in turn, delivered.
fn talk(
    alice: &mut Session,
    bob: &mut Session,
    keys: &mut Split,
    rng: &mut StdRng,
    turn: &mut u32,
) -> (SessionMessage, bool) {
    let from_alice = turn.is_multiple_of(2);
    *turn += 1;
    let text = turn.to_le_bytes();
    if from_alice {
        let m = alice.encrypt_with_keys(keys, &text).unwrap();
        assert_eq!(bob.decrypt(&m).unwrap(), text);
        (m, true)
    } else {
        let m = bob.encrypt(rng, &text).unwrap();
        assert_eq!(alice.decrypt(&m).unwrap(), text);
        (m, false)
    }
}

/// X25519 keys from one stream, ML-KEM keys and coins from another, so that a test adversary
/// can be handed the first without the second.
struct Split {
    x: XStream,
    kem: StdRng,
}

/// The n-th X25519 key of a seeded stream (a copy continues the stream where it was).
#[derive(Clone)]
struct XStream {
    seed: u64,
    n: u64,
}

impl Split {
    fn new(seed: u64) -> Self {
        Self {
            x: XStream { seed, n: 0 },
            kem: rng(seed ^ 0xc0ffee),
        }
    }
}

impl KeySource for Split {
    fn next_key(&mut self) -> SecretKey {
        self.x.n += 1;
        SecretKey::generate(&mut rng(self.x.seed.wrapping_mul(1 << 20) ^ self.x.n))
    }

    fn next_kem_key(&mut self) -> mlkem::SecretKey {
        mlkem::SecretKey::generate(&mut self.kem)
    }

    fn next_kem_coins(&mut self) -> zeroize::Zeroizing<[u8; 32]> {
        let mut m = zeroize::Zeroizing::new([0u8; 32]);
        self.kem.fill_bytes(m.as_mut());
        m
    }

    fn next_sealing_key(&mut self) -> missive::crypto::xwing::SecretKey {
        missive::crypto::xwing::SecretKey::generate(&mut self.kem)
    }
}
