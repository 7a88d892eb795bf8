#![no_main]
//! Alice and Bob driven by fuzz input: 8 bytes of seed, then one action per byte (send,
//! deliver, drop, duplicate, reorder). Every delivered message must decrypt to what was sent,
//! exactly once; every duplicate must be refused without changing state. Past 50 messages of
//! talk in turns, the post-quantum ratchet steps (PROTOCOL.md §5.5) run too.

use missive::Identity;
use missive::crypto::mlkem;
use missive::crypto::x25519::SecretKey;
use missive::session::{
    self, KeySource, MemorySessionStore, PrekeyOwner, Session, SessionMessage, SessionStore,
};

/// Deterministic keys from the seed; fuzzing needs reproducibility, not secrecy.
struct Keys {
    seed: [u8; 8],
    counter: u64,
}

impl Keys {
    fn bytes(&mut self) -> [u8; 32] {
        self.counter += 1;
        let mut out = [0x5a; 32];
        out[..8].copy_from_slice(&self.seed);
        out[8..16].copy_from_slice(&self.counter.to_le_bytes());
        out
    }

    fn identity(&mut self) -> Identity {
        let mut secret = vec![1];
        secret.extend_from_slice(&self.bytes());
        secret.extend_from_slice(&self.bytes());
        Identity::from_secret_bytes(&secret).expect("well-formed identity secret")
    }
}

impl KeySource for Keys {
    fn next_key(&mut self) -> SecretKey {
        SecretKey::from_bytes(&self.bytes())
    }

    fn next_kem_key(&mut self) -> mlkem::SecretKey {
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(&self.bytes());
        seed[32..].copy_from_slice(&self.bytes());
        mlkem::SecretKey::from_seed(&seed)
    }

    fn next_kem_coins(&mut self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.bytes())
    }

    fn next_sealing_key(&mut self) -> missive::crypto::xwing::SecretKey {
        missive::crypto::xwing::SecretKey::from_seed(&self.bytes())
    }
}

struct Party {
    id: Identity,
    prekeys: PrekeyOwner,
    store: MemorySessionStore,
    inbox: Vec<(SessionMessage, Vec<u8>)>,
    delivered: Vec<SessionMessage>,
}

/// At most this many sends per input, so no gap reaches MAX_SKIP and no key is evicted.
const MAX_SENDS: usize = 200;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (seed, actions) = data.split_at(8);
    let mut keys = Keys {
        seed: seed.try_into().expect("8 bytes"),
        counter: 0,
    };
    let mut parties = [party(&mut keys), party(&mut keys)];
    let bob_id = parties[1].id.clone();
    let one_time = parties[1]
        .prekeys
        .generate_one_time_with_keys(&mut keys, 1, &bob_id)
        .expect("one key");
    let bundle = parties[1]
        .prekeys
        .bundle(Some(&one_time[0]))
        .expect("a current owner")
        .verify()
        .expect("own bundle verifies");
    let start = Session::initiate_with_keys(&mut keys, &parties[0].id, &bundle).expect("setup");
    let bob = *parties[1].id.public();
    parties[0].store.save(&bob, start);
    let mut sends = 0;
    let mut bytes = actions.iter();
    while let Some(&action) = bytes.next() {
        let arg = usize::from(bytes.next().copied().unwrap_or(0));
        let who = usize::from(action & 1);
        match (action >> 1) % 5 {
            0 if sends < MAX_SENDS => {
                sends += 1;
                send(&mut parties, &mut keys, who, sends);
            }
            1 => deliver(&mut parties, who, arg),
            2 => {
                let inbox = &mut parties[who].inbox;
                if !inbox.is_empty() {
                    let n = inbox.len();
                    inbox.remove(arg % n);
                }
            }
            3 => duplicate(&mut parties, who, arg),
            _ => {
                let inbox = &mut parties[who].inbox;
                if inbox.len() > 1 {
                    let n = inbox.len();
                    inbox.swap(arg % n, (arg / 7) % n);
                }
            }
        }
    }
});

fn party(keys: &mut Keys) -> Party {
    let id = keys.identity();
    let prekeys = PrekeyOwner::new_with_keys(keys, &id);
    Party {
        id,
        prekeys,
        store: MemorySessionStore::new(),
        inbox: Vec::new(),
        delivered: Vec::new(),
    }
}

fn send(parties: &mut [Party; 2], keys: &mut Keys, from: usize, n: usize) {
    let to = 1 - from;
    let peer = *parties[to].id.public();
    let Some(mut session) = parties[from].store.load(&peer) else {
        return;
    };
    let plaintext = n.to_le_bytes().to_vec();
    let m = session
        .encrypt_with_keys(keys, &plaintext)
        .expect("encrypt");
    parties[from].store.save(&peer, session);
    parties[to].inbox.push((m, plaintext));
}

fn deliver(parties: &mut [Party; 2], to: usize, arg: usize) {
    if parties[to].inbox.is_empty() {
        return;
    }
    let n = parties[to].inbox.len();
    let (m, plaintext) = parties[to].inbox.remove(arg % n);
    let from = *parties[1 - to].id.public();
    let p = &mut parties[to];
    let got = session::receive(&mut p.store, &p.id, &mut p.prekeys, &from, &m);
    assert_eq!(got.expect("delivered message decrypts"), plaintext);
    p.delivered.push(m);
}

fn duplicate(parties: &mut [Party; 2], to: usize, arg: usize) {
    if parties[to].delivered.is_empty() {
        return;
    }
    let n = parties[to].delivered.len();
    let m = parties[to].delivered[arg % n].clone();
    let from = *parties[1 - to].id.public();
    let p = &mut parties[to];
    let before = p.store.load(&from).map(|s| s.to_bytes());
    assert!(
        session::receive(&mut p.store, &p.id, &mut p.prekeys, &from, &m).is_err(),
        "replay accepted"
    );
    assert_eq!(
        p.store.load(&from).map(|s| s.to_bytes()),
        before,
        "refused replay changed state"
    );
}
