//! Property tests of the session's security promises over random schedules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod session_support;

use missive::session::{
    self, MemorySessionStore, PrekeyOwner, Session, SessionMessage, SessionStore,
};
use missive::{CryptoError, Error, Identity, PublicIdentity};
use proptest::prelude::*;
use rand::rngs::StdRng;
use session_support::{established, flip, fresh_bundle, rng};

#[derive(Clone, Debug)]
enum Action {
    /// Alice (true) or Bob (false) sends.
    Send(bool),
    /// Deliver the n-th in-flight message to Alice (true) or Bob (false).
    Deliver(bool, usize),
    /// Deliver an already delivered message again.
    Duplicate(bool, usize),
    /// Lose an in-flight message.
    Drop(bool, usize),
    /// Deliver an in-flight message with one byte flipped.
    Flip(bool, usize, usize, u8),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => any::<bool>().prop_map(Action::Send),
        4 => (any::<bool>(), any::<usize>()).prop_map(|(a, i)| Action::Deliver(a, i)),
        1 => (any::<bool>(), any::<usize>()).prop_map(|(a, i)| Action::Duplicate(a, i)),
        1 => (any::<bool>(), any::<usize>()).prop_map(|(a, i)| Action::Drop(a, i)),
        1 => (any::<bool>(), any::<usize>(), any::<usize>(), any::<u8>())
            .prop_map(|(a, i, j, m)| Action::Flip(a, i, j, m)),
    ]
}

/// One party: identity, prekeys, sessions, and its mailbox.
struct Party {
    id: Identity,
    prekeys: PrekeyOwner,
    store: MemorySessionStore,
    in_flight: Vec<(SessionMessage, Vec<u8>)>,
    delivered: Vec<SessionMessage>,
}

impl Party {
    fn new(rng: &mut StdRng) -> Self {
        let id = Identity::generate(rng);
        let prekeys = PrekeyOwner::new(rng, &id);
        Self {
            id,
            prekeys,
            store: MemorySessionStore::new(),
            in_flight: vec![],
            delivered: vec![],
        }
    }

    fn snapshot(&self, peer: &PublicIdentity) -> (Option<Vec<u8>>, Vec<u8>) {
        let session = self.store.load(peer).map(|s| s.to_bytes().to_vec());
        (session, self.prekeys.to_bytes().to_vec())
    }

    fn receive(&mut self, from: &PublicIdentity, m: &SessionMessage) -> Result<Vec<u8>, Error> {
        session::receive(&mut self.store, &self.id, &mut self.prekeys, from, m)
    }
}

struct World {
    rng: StdRng,
    alice: Party,
    bob: Party,
    eve: Session,
    sent: usize,
}

impl World {
    fn new(seed: u64) -> Self {
        let mut rng = rng(seed);
        let (mut alice, mut bob) = (Party::new(&mut rng), Party::new(&mut rng));
        let bundle = fresh_bundle(&mut rng, &mut bob.prekeys, &bob.id);
        let start = Session::initiate(&mut rng, &alice.id, &bundle).unwrap();
        alice.store.save(bob.id.public(), start);
        // Eve has her own, genuine session with Bob.
        let eve_id = Identity::generate(&mut rng);
        let eve_bundle = fresh_bundle(&mut rng, &mut bob.prekeys, &bob.id);
        let eve = Session::initiate(&mut rng, &eve_id, &eve_bundle).unwrap();
        Self {
            rng,
            alice,
            bob,
            eve,
            sent: 0,
        }
    }

    fn parties(&mut self, to_alice: bool) -> (&mut Party, &mut Party) {
        if to_alice {
            (&mut self.alice, &mut self.bob)
        } else {
            (&mut self.bob, &mut self.alice)
        }
    }

    fn send(&mut self, from_alice: bool) {
        let (receiver, sender) = if from_alice {
            (&mut self.bob, &mut self.alice)
        } else {
            (&mut self.alice, &mut self.bob)
        };
        let peer = *receiver.id.public();
        if sender.store.load(&peer).is_none() {
            return; // Bob cannot write before Alice's first message reached him.
        }
        let plaintext = format!("message {}", self.sent).into_bytes();
        let m = session::send(&mut sender.store, &mut self.rng, &peer, &plaintext).unwrap();
        self.sent += 1;
        receiver.in_flight.push((m, plaintext));
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Send(from_alice) => self.send(from_alice),
            Action::Deliver(to, i) => self.deliver(to, i),
            Action::Duplicate(to, i) => self.duplicate(to, i),
            Action::Drop(to, i) => {
                let (receiver, _) = self.parties(to);
                if !receiver.in_flight.is_empty() {
                    let n = receiver.in_flight.len();
                    receiver.in_flight.remove(i % n);
                }
            }
            Action::Flip(to, i, j, mask) => self.flip(to, i, j, mask),
        }
    }

    fn deliver(&mut self, to_alice: bool, i: usize) {
        let eve_before = self.eve.to_bytes();
        let (receiver, sender) = self.parties(to_alice);
        if receiver.in_flight.is_empty() {
            return;
        }
        let n = receiver.in_flight.len();
        let (m, plaintext) = receiver.in_flight.remove(i % n);
        let from = *sender.id.public();
        assert_eq!(receiver.receive(&from, &m).unwrap(), plaintext);
        receiver.delivered.push(m.clone());
        // A third party's session decrypts nothing and is not changed by trying.
        assert!(self.eve.decrypt(&m).is_err());
        assert_eq!(self.eve.to_bytes(), eve_before);
    }

    fn refused_unchanged(&mut self, to_alice: bool, m: &SessionMessage) -> Error {
        let (receiver, sender) = self.parties(to_alice);
        let from = *sender.id.public();
        let before = receiver.snapshot(&from);
        let err = receiver.receive(&from, m).unwrap_err();
        assert_eq!(
            receiver.snapshot(&from),
            before,
            "a failed decryption changed state"
        );
        err
    }

    fn duplicate(&mut self, to_alice: bool, i: usize) {
        let (receiver, _) = self.parties(to_alice);
        if receiver.delivered.is_empty() {
            return;
        }
        let m = receiver.delivered[i % receiver.delivered.len()].clone();
        let err = self.refused_unchanged(to_alice, &m);
        assert!(
            matches!(
                err,
                Error::Crypto(CryptoError::Replay | CryptoError::DecryptionFailed)
            ),
            "{err:?}"
        );
    }

    fn flip(&mut self, to_alice: bool, i: usize, j: usize, mask: u8) {
        let (receiver, _) = self.parties(to_alice);
        if receiver.in_flight.is_empty() {
            return;
        }
        let original = receiver.in_flight[i % receiver.in_flight.len()].0.clone();
        if let Some(m) = flip(&original, j, mask) {
            self.refused_unchanged(to_alice, &m);
        }
    }

    /// Forward secrecy: today's state, also restored from storage, opens no delivered message.
    fn check_keys_deleted(&mut self) {
        for to_alice in [true, false] {
            let (receiver, sender) = self.parties(to_alice);
            let Some(session) = receiver.store.load(sender.id.public()) else {
                continue;
            };
            let mut restored = Session::from_bytes(&session.to_bytes()).unwrap();
            for m in &receiver.delivered {
                assert!(restored.decrypt(m).is_err());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Everything delivered decrypts exactly once to what was sent; duplicates and flipped
    /// bytes are refused and change nothing; a third party's session decrypts nothing.
    #[test]
    fn random_schedules(seed: u64, actions in prop::collection::vec(action(), 1..60)) {
        let mut world = World::new(seed);
        world.send(true);
        for a in actions {
            world.apply(a);
        }
        // Drain: everything still in flight arrives, in reverse order.
        for to in [false, true, false] {
            while !world.parties(to).0.in_flight.is_empty() {
                let last = world.parties(to).0.in_flight.len() - 1;
                world.deliver(to, last);
            }
        }
        world.check_keys_deleted();
    }

    /// Post-compromise security: a copy of Bob's state taken at any point reads what Bob reads
    /// next, but nothing Alice sends after two round trips.
    #[test]
    fn stolen_state_heals(seed: u64, before in prop::collection::vec(any::<bool>(), 0..12)) {
        let mut rng = rng(seed);
        let mut p = established(&mut rng);
        for from_alice in before {
            exchange(&mut rng, &mut p.alice_session, &mut p.bob_session, from_alice);
        }
        let mut eve = p.bob_session.clone();
        let a1 = p.alice_session.encrypt(&mut rng, b"a1").unwrap();
        assert_eq!(eve.decrypt(&a1).unwrap(), b"a1");
        p.bob_session.decrypt(&a1).unwrap();
        let b1 = p.bob_session.encrypt(&mut rng, b"b1").unwrap();
        p.alice_session.decrypt(&b1).unwrap();
        exchange(&mut rng, &mut p.alice_session, &mut p.bob_session, true);
        exchange(&mut rng, &mut p.alice_session, &mut p.bob_session, false);
        for i in 0..3u8 {
            let m = p.alice_session.encrypt(&mut rng, &[i]).unwrap();
            prop_assert!(eve.decrypt(&m).is_err());
            prop_assert_eq!(p.bob_session.decrypt(&m).unwrap(), [i]);
        }
    }
}

/// One message from one side to the other, delivered.
fn exchange(rng: &mut StdRng, alice: &mut Session, bob: &mut Session, from_alice: bool) {
    let (from, to) = if from_alice {
        (alice, bob)
    } else {
        (bob, alice)
    };
    let m = from.encrypt(rng, b"x").unwrap();
    assert_eq!(to.decrypt(&m).unwrap(), b"x");
}
