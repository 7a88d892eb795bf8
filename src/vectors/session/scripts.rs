//! Our transcripts' inputs: keys from a seeded RNG, as many as each script draws.

use serde_json::Value;

use super::{Inputs, Step, Who, run_api};
use crate::Identity;
use crate::crypto::x25519::SecretKey;

fn send(from: Who, text: &str, description: &str) -> Step {
    Step::Send {
        description: description.into(),
        from,
        plaintext: hex::encode(text),
    }
}

fn receive(to: Who, send_index: usize, description: &str) -> Step {
    Step::Receive {
        description: description.into(),
        to,
        send_index,
        tamper: false,
    }
}

fn tampered(to: Who, send_index: usize, description: &str) -> Step {
    Step::Receive {
        description: description.into(),
        to,
        send_index,
        tamper: true,
    }
}

fn exchange_script() -> Vec<Step> {
    use Who::{Alice, Bob};
    vec![
        send(
            Alice,
            "m0: hello Bob",
            "Alice's first message: prekey header, chain of step 0, N=0",
        ),
        send(Alice, "m1", "Alice, step 0 chain, N=1 (will arrive late)"),
        send(Alice, "m2", "Alice, step 0 chain, N=2"),
        receive(
            Bob,
            2,
            "Bob creates his session from m2 alone; m0 and m1 keys are stored as skipped",
        ),
        receive(Bob, 0, "m0 arrives out of order: opened with a skipped key"),
        tampered(
            Bob,
            1,
            "m1 with its tag's last byte flipped: refused, nothing changes",
        ),
        send(
            Bob,
            "m3: hi Alice",
            "Bob's first send: DH ratchet step 1 with his first ratchet key",
        ),
        send(Bob, "m4", "Bob, step 1 chain, N=1"),
        receive(Alice, 4, "Alice ratchets on m4, skipping m3"),
        send(Alice, "m5", "Alice's reply: DH ratchet step 2, PN=3"),
        receive(
            Bob,
            5,
            "Bob ratchets on m5; m1 is still in his skipped keys",
        ),
        receive(
            Bob,
            1,
            "m1 arrives after a ratchet step: opened with its skipped key",
        ),
        receive(Bob, 1, "m1 again: a replay, refused"),
        receive(Alice, 3, "m3 arrives late at Alice: skipped key"),
        send(Bob, "m6", "Bob: DH ratchet step 3, PN=2"),
        receive(Alice, 6, "Alice receives m6"),
        receive(Bob, 2, "m2 replayed to Bob: refused"),
    ]
}

fn last_resort_script() -> Vec<Step> {
    use Who::{Alice, Bob};
    vec![
        send(
            Alice,
            "hello",
            "Alice's first message, against the last-resort prekey",
        ),
        receive(Bob, 0, "Bob creates his session"),
        send(Bob, "hi", "Bob replies: DH ratchet step 1"),
        receive(Alice, 1, "Alice receives the reply"),
        send(
            Alice,
            "no prekey header now",
            "Alice: step 2, without the prekey header",
        ),
        receive(Bob, 2, "Bob receives it"),
    ]
}

/// Turn-by-turn talk, each message received at once, through two post-quantum steps (Bob
/// owns the first, Alice the second); Bob's messages are the odd ones.
fn post_quantum_script() -> Vec<Step> {
    use Who::{Alice, Bob};
    let mut script = vec![
        send(Alice, "hello", "Alice's first message"),
        receive(Bob, 0, "Bob creates his session"),
    ];
    for i in 1..2 * 56 {
        let (from, to) = if i % 2 == 1 {
            (Bob, Alice)
        } else {
            (Alice, Bob)
        };
        script.push(send(from, &format!("m{i}"), "turn by turn"));
        script.push(receive(to, i, "received at once"));
    }
    script
}

/// A transcript's inputs: keys from a seeded RNG, as many as the script draws.
fn generate(description: &str, one_time: bool, script: Vec<Step>, seed: u64) -> Value {
    use rand::SeedableRng;
    const DRAWN: usize = 80;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut secret = || hex::encode(SecretKey::generate(&mut rng).to_bytes().as_slice());
    let (spk, lr) = (secret(), secret());
    let opk = one_time.then(&mut secret);
    let alice_keys: Vec<String> = (0..DRAWN).map(|_| secret()).collect();
    let bob_keys: Vec<String> = (0..DRAWN).map(|_| secret()).collect();
    let mut bytes = |n: usize| {
        let mut out = vec![0u8; n];
        rand::Rng::fill_bytes(&mut rng, &mut out);
        hex::encode(out)
    };
    let lr_kem = bytes(64);
    let opk_kem = one_time.then(|| bytes(64));
    let mut list = |n: usize| (0..8).map(|_| bytes(n)).collect::<Vec<_>>();
    let (alice_kem_coins, alice_kem_seeds) = (list(32), list(64));
    let (bob_kem_coins, bob_kem_seeds) = (list(32), list(64));
    let bob_sealing_seed = bytes(32);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed + 1);
    let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let mut inputs = Inputs {
        alice_identity_secret: hex::encode(alice.to_secret_bytes().as_slice()),
        bob_identity_secret: hex::encode(bob.to_secret_bytes().as_slice()),
        bob_signed_prekey_secret: spk,
        bob_last_resort_secret: lr,
        bob_last_resort_kem_seed: lr_kem,
        bob_one_time_prekey_secret: opk,
        bob_one_time_kem_seed: opk_kem,
        bob_sealing_seed,
        alice_keys,
        alice_kem_coins,
        alice_kem_seeds,
        bob_keys,
        bob_kem_seeds,
        bob_kem_coins,
        script,
    };
    // Keep what the script draws.
    if let Ok(run) = run_api(&inputs) {
        let keep = |list: &mut Vec<String>, left: usize| list.truncate(list.len() - left);
        let ((ak, ac, as_), (bk, bc, bs)) = (run.left.0.unused(), run.left.1.unused());
        keep(&mut inputs.alice_keys, ak);
        keep(&mut inputs.alice_kem_coins, ac);
        keep(&mut inputs.alice_kem_seeds, as_);
        keep(&mut inputs.bob_keys, bk);
        keep(&mut inputs.bob_kem_coins, bc);
        keep(&mut inputs.bob_kem_seeds, bs);
    }
    crate::vectors::skeleton(
        "session",
        description,
        serde_json::to_value(&inputs).unwrap_or_default(),
    )
}

/// `session/pqxdh_one_time_ratchet.json`.
pub(in crate::vectors) fn one_time_inputs() -> Value {
    generate(
        "Setup with a one-time prekey, then an exchange with out-of-order and skipped messages, \
         three DH ratchet steps, a tampered message and two replays.",
        true,
        exchange_script(),
        1,
    )
}

/// `session/pqxdh_last_resort.json`.
pub(in crate::vectors) fn last_resort_inputs() -> Value {
    generate(
        "Setup against the last-resort prekey (no one-time prekey left), one round trip, and \
         the prekey header dropped once Alice has a reply.",
        false,
        last_resort_script(),
        3,
    )
}

/// `session/pq_ratchet.json`.
pub(in crate::vectors) fn pq_ratchet_inputs() -> Value {
    generate(
        "Turn-by-turn talk through two post-quantum ratchet steps: Bob offers an ML-KEM-768 \
         key once 50 messages have passed, Alice encapsulates to it, Bob's next chain takes \
         the secret in (epoch 1); then Alice owns epoch 2.",
        true,
        post_quantum_script(),
        5,
    )
}
