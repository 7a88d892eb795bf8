//! Deterministic session transcripts in `vectors/session/`, replayed by plain `cargo test`.
//!
//! Each file lists its secret inputs (identity secrets, Bob's prekey secrets and ML-KEM seeds,
//! Alice's ML-KEM encapsulation randomness, and every X25519 key each side generates, in the
//! order it is drawn) and a script of sends and receives. The replay rebuilds everything else
//! from those inputs twice over:
//!
//! * with the public API (`*_with_keys` functions fed the listed keys), which must reproduce
//!   every wire message and every receive outcome, and
//! * with a reference written here from PROTOCOL.md §5 on the bare primitives (PQXDH, KDF_RK,
//!   KDF_CK, the wire layout and the AEAD associated data), which must reproduce every
//!   intermediate secret and open every wire message with its listed message key.
//!
//! The rebuilt file must equal the stored one field for field.
//! Regenerate with `cargo test --test session_vectors -- --ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod session_support;

use std::collections::VecDeque;
use std::path::Path;

use missive::Identity;
use missive::crypto::aead::AeadKey;
use missive::crypto::kdf;
use missive::crypto::mlkem;
use missive::crypto::x25519::{PublicKey, SecretKey};
use missive::session::{PrekeyOwner, Session, SessionMessage};
use serde::{Deserialize, Serialize};
use session_support::{FixedKeys, rng};

const DIR: &str = "vectors/session";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Who {
    Alice,
    Bob,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Step {
    /// `from` encrypts `plaintext` (hex).
    Send {
        description: String,
        from: Who,
        plaintext: String,
    },
    /// `to` decrypts the `send_index`-th sent message; `tamper` flips its last byte first.
    Receive {
        description: String,
        to: Who,
        send_index: usize,
        tamper: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Inputs {
    /// `Identity::to_secret_bytes`: 0x01 || X25519 secret || Ed25519 seed.
    alice_identity_secret: String,
    bob_identity_secret: String,
    /// Bob's generation-0 signed prekey and last-resort prekey secrets.
    bob_signed_prekey_secret: String,
    bob_last_resort_secret: String,
    /// The 64-byte seed `d || z` of Bob's generation-0 ML-KEM-768 last-resort prekey.
    bob_last_resort_kem_seed: String,
    /// Bob's one-time prekey 0, or null: the bundle then carries the last-resort prekey.
    bob_one_time_prekey_secret: Option<String>,
    /// The seed of one-time prekey 0's ML-KEM-768 partner (null with the above).
    bob_one_time_kem_seed: Option<String>,
    /// Alice's keys in the order drawn: EK_A, then her ratchet keys.
    alice_keys: Vec<String>,
    /// The 32 bytes of Alice's ML-KEM encapsulation randomness (FIPS 203's `m`).
    alice_kem_coins: String,
    /// Bob's ratchet keys in the order drawn.
    bob_keys: Vec<String>,
    script: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Pqxdh {
    alice_identity: String,
    bob_identity: String,
    bundle: String,
    dh1: String,
    dh2: String,
    dh3: String,
    dh4: String,
    /// The ML-KEM-768 encapsulation key used (the one-time or last-resort prekey's partner).
    kem_public_key: String,
    kem_ciphertext: String,
    kem_shared_secret: String,
    ad: String,
    sk: String,
}

/// One KDF_RK step; steps alternate Alice, Bob, Alice, ... and each one's receiver key is the
/// previous one's sender key (the first's is SPK_B).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct RatchetStep {
    sender: Who,
    sender_ratchet_public: String,
    receiver_ratchet_public: String,
    dh: String,
    root_key_in: String,
    root_key_out: String,
    chain_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Message {
    ratchet_step: usize,
    previous_counter: u32,
    counter: u32,
    /// CK before this message's KDF_CK step.
    chain_key: String,
    message_key: String,
    associated_data: String,
    wire: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Receipt {
    to: Who,
    send_index: usize,
    /// "ok" or the `CryptoError` variant name.
    result: String,
    plaintext: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct VectorFile {
    description: String,
    inputs: Inputs,
    pqxdh: Pqxdh,
    ratchet_steps: Vec<RatchetStep>,
    messages: Vec<Message>,
    receipts: Vec<Receipt>,
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn key(s: &str) -> SecretKey {
    SecretKey::from_bytes(&unhex(s).try_into().unwrap())
}

fn keys(list: &[String]) -> FixedKeys {
    FixedKeys {
        keys: list.iter().map(|s| key(s)).collect::<VecDeque<_>>(),
        ..FixedKeys::default()
    }
}

fn kem_seed(s: &str) -> [u8; 64] {
    unhex(s).try_into().unwrap()
}

// ---- The reference, from PROTOCOL.md §5 ----

fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    kdf::expand(&kdf::extract(salt, ikm), info, &mut out).unwrap();
    out
}

fn kdf_rk(rk: &[u8], dh: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let okm = hkdf(rk, dh, b"missive/session/v1/root", 64);
    (okm[..32].to_vec(), okm[32..].to_vec())
}

fn kdf_ck(ck: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut okm = [0u8; 64];
    kdf::expand(
        &ck.try_into().unwrap(),
        b"missive/session/v1/chain",
        &mut okm,
    )
    .unwrap();
    (okm[..32].to_vec(), okm[32..].to_vec())
}

fn dh(secret: &SecretKey, public: &PublicKey) -> Vec<u8> {
    secret.diffie_hellman(public).unwrap().as_bytes().to_vec()
}

fn reference_pqxdh(inputs: &Inputs, bundle: &[u8]) -> Pqxdh {
    let alice = Identity::from_secret_bytes(&unhex(&inputs.alice_identity_secret)).unwrap();
    let bob = Identity::from_secret_bytes(&unhex(&inputs.bob_identity_secret)).unwrap();
    let base = key(&inputs.alice_keys[0]);
    let spk = key(&inputs.bob_signed_prekey_secret);
    let opk = key(inputs
        .bob_one_time_prekey_secret
        .as_ref()
        .unwrap_or(&inputs.bob_last_resort_secret));
    let dh1 = alice
        .diffie_hellman(spk.public_key())
        .unwrap()
        .as_bytes()
        .to_vec();
    let dh2 = dh(&base, bob.public().dh_key());
    let (dh3, dh4) = (dh(&base, spk.public_key()), dh(&base, opk.public_key()));
    // Bob computes the same four from his side.
    assert_eq!(dh(&spk, alice.public().dh_key()), dh1);
    assert_eq!(
        bob.diffie_hellman(base.public_key())
            .unwrap()
            .as_bytes()
            .to_vec(),
        dh2
    );
    assert_eq!(
        (dh(&spk, base.public_key()), dh(&opk, base.public_key())),
        (dh3.clone(), dh4.clone())
    );
    let kem = mlkem::SecretKey::from_seed(&kem_seed(
        inputs
            .bob_one_time_kem_seed
            .as_ref()
            .unwrap_or(&inputs.bob_last_resort_kem_seed),
    ));
    let coins: [u8; 32] = unhex(&inputs.alice_kem_coins).try_into().unwrap();
    let (ct, ss) = kem.public_key().encapsulate_deterministic(&coins);
    assert_eq!(*kem.decapsulate(&ct), *ss);
    let ad = [alice.public().to_bytes(), bob.public().to_bytes()].concat();
    let ikm = [
        dh1.clone(),
        dh2.clone(),
        dh3.clone(),
        dh4.clone(),
        ss.to_vec(),
    ]
    .concat();
    let sk = hkdf(
        &[0; 32],
        &ikm,
        &[b"missive/session/v2/pqxdh".as_slice(), &ad].concat(),
        32,
    );
    Pqxdh {
        alice_identity: hex::encode(alice.public().to_bytes()),
        bob_identity: hex::encode(bob.public().to_bytes()),
        bundle: hex::encode(bundle),
        dh1: hex::encode(dh1),
        dh2: hex::encode(dh2),
        dh3: hex::encode(dh3),
        dh4: hex::encode(dh4),
        kem_public_key: hex::encode(kem.public_key().as_bytes()),
        kem_ciphertext: hex::encode(ct.as_bytes()),
        kem_shared_secret: hex::encode(*ss),
        ad: hex::encode(ad),
        sk: hex::encode(sk),
    }
}

fn reference_steps(inputs: &Inputs, sk: &[u8]) -> Vec<RatchetStep> {
    let (alice, bob) = (&inputs.alice_keys[1..], &inputs.bob_keys);
    let mut receiver = *key(&inputs.bob_signed_prekey_secret).public_key();
    let mut root = sk.to_vec();
    let mut steps = Vec::new();
    for k in 0..alice.len() + bob.len() {
        let (sender, secret) = if k % 2 == 0 {
            (Who::Alice, &alice[k / 2])
        } else {
            (Who::Bob, &bob[k / 2])
        };
        let secret = key(secret);
        let shared = dh(&secret, &receiver);
        let (root_out, chain) = kdf_rk(&root, &shared);
        steps.push(RatchetStep {
            sender,
            sender_ratchet_public: hex::encode(secret.public_key().as_bytes()),
            receiver_ratchet_public: hex::encode(receiver.as_bytes()),
            dh: hex::encode(shared),
            root_key_in: hex::encode(&root),
            root_key_out: hex::encode(&root_out),
            chain_key: hex::encode(chain),
        });
        root = root_out;
        receiver = *secret.public_key();
    }
    steps
}

/// Reads a LEB128 varint (postcard's u32 encoding).
fn varint(bytes: &[u8], at: &mut usize) -> u32 {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let b = bytes[*at];
        *at += 1;
        value |= u32::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
    }
    value
}

/// Splits a session message per PROTOCOL.md §5.6: (ratchet key, PN, N, prefix, ciphertext).
fn parse_wire(wire: &[u8]) -> ([u8; 32], u32, u32, &[u8], &[u8]) {
    assert_eq!(wire[0], 2, "version");
    let mut at = 2;
    if wire[1] == 1 {
        at += 64 + 32; // IK_A, EK_A
        varint(wire, &mut at); // signed prekey id
        varint(wire, &mut at); // prekey kind
        varint(wire, &mut at); // prekey id
        assert_eq!(varint(wire, &mut at), 1088); // the ML-KEM ciphertext's length, then it
        at += 1088;
    }
    let ratchet_key: [u8; 32] = wire[at..at + 32].try_into().unwrap();
    at += 32;
    let pn = varint(wire, &mut at);
    let n = varint(wire, &mut at);
    let prefix_end = at;
    let len = varint(wire, &mut at) as usize;
    assert_eq!(wire.len(), at + len);
    (ratchet_key, pn, n, &wire[..prefix_end], &wire[at..])
}

fn reference_message(steps: &[RatchetStep], ad: &[u8], wire: &[u8], plaintext: &[u8]) -> Message {
    let (ratchet_key, pn, n, prefix, ciphertext) = parse_wire(wire);
    let step = steps
        .iter()
        .position(|s| unhex(&s.sender_ratchet_public) == ratchet_key)
        .unwrap();
    let mut chain = unhex(&steps[step].chain_key);
    for _ in 0..n {
        chain = kdf_ck(&chain).0;
    }
    let message_key = kdf_ck(&chain).1;
    let aad = [ad, prefix].concat();
    let aead = AeadKey::new(&message_key.clone().try_into().unwrap());
    assert_eq!(aead.open(&[0; 12], &aad, ciphertext).unwrap(), plaintext);
    Message {
        ratchet_step: step,
        previous_counter: pn,
        counter: n,
        chain_key: hex::encode(chain),
        message_key: hex::encode(message_key),
        associated_data: hex::encode(aad),
        wire: hex::encode(wire),
    }
}

// ---- The transcript through the public API ----

struct Run {
    bundle: Vec<u8>,
    sent: Vec<(Vec<u8>, Vec<u8>)>,
    receipts: Vec<Receipt>,
    unused_keys: (usize, usize),
}

fn run_api(inputs: &Inputs) -> Run {
    let alice = Identity::from_secret_bytes(&unhex(&inputs.alice_identity_secret)).unwrap();
    let bob = Identity::from_secret_bytes(&unhex(&inputs.bob_identity_secret)).unwrap();
    let mut owner_keys = keys(&[
        inputs.bob_signed_prekey_secret.clone(),
        inputs.bob_last_resort_secret.clone(),
    ]);
    owner_keys
        .kem_seeds
        .push_back(kem_seed(&inputs.bob_last_resort_kem_seed));
    let mut owner = PrekeyOwner::new_with_keys(&mut owner_keys, &bob);
    assert_eq!(owner_keys.unused(), 0);
    let one_time = inputs.bob_one_time_prekey_secret.as_ref().map(|s| {
        let mut one_time_keys = keys(std::slice::from_ref(s));
        let seed = inputs.bob_one_time_kem_seed.as_ref().unwrap();
        one_time_keys.kem_seeds.push_back(kem_seed(seed));
        owner
            .generate_one_time_with_keys(&mut one_time_keys, 1, &bob)
            .unwrap()
            .remove(0)
    });
    let bundle = owner.bundle(one_time.as_ref()).unwrap();
    let (mut alice_keys, mut bob_keys) = (keys(&inputs.alice_keys), keys(&inputs.bob_keys));
    alice_keys
        .kem_coins
        .push_back(unhex(&inputs.alice_kem_coins).try_into().unwrap());
    let mut a =
        Session::initiate_with_keys(&mut alice_keys, &alice, &bundle.clone().verify().unwrap())
            .unwrap();
    let mut b: Option<Session> = None;
    let (mut sent, mut receipts) = (Vec::new(), Vec::new());
    for step in &inputs.script {
        match step {
            Step::Send {
                from, plaintext, ..
            } => {
                let pt = unhex(plaintext);
                let m = match from {
                    Who::Alice => a.encrypt_with_keys(&mut alice_keys, &pt),
                    Who::Bob => b.as_mut().unwrap().encrypt_with_keys(&mut bob_keys, &pt),
                };
                sent.push((m.unwrap().to_bytes(), pt));
            }
            Step::Receive {
                to,
                send_index,
                tamper,
                ..
            } => {
                let mut wire = sent[*send_index].0.clone();
                if *tamper {
                    *wire.last_mut().unwrap() ^= 0x80;
                }
                let m = SessionMessage::from_bytes(&wire).unwrap();
                let result = match (to, &mut b) {
                    (Who::Alice, _) => a.decrypt(&m),
                    (Who::Bob, Some(session)) => session.decrypt(&m),
                    (Who::Bob, None) => Session::respond(&bob, &mut owner, &m).map(|(s, pt)| {
                        b = Some(s);
                        pt
                    }),
                };
                let (result, plaintext) = match result {
                    Ok(pt) => ("ok".to_string(), hex::encode(pt)),
                    Err(missive::Error::Crypto(e)) => (format!("{e:?}"), String::new()),
                    Err(e) => panic!("unexpected {e:?}"),
                };
                receipts.push(Receipt {
                    to: *to,
                    send_index: *send_index,
                    result,
                    plaintext,
                });
            }
        }
    }
    Run {
        bundle: bundle.to_bytes(),
        sent,
        receipts,
        unused_keys: (alice_keys.unused(), bob_keys.unused()),
    }
}

fn build(description: &str, inputs: &Inputs) -> (VectorFile, (usize, usize)) {
    let run = run_api(inputs);
    let pqxdh = reference_pqxdh(inputs, &run.bundle);
    let steps = reference_steps(inputs, &unhex(&pqxdh.sk));
    let ad = unhex(&pqxdh.ad);
    let messages = run
        .sent
        .iter()
        .map(|(wire, pt)| reference_message(&steps, &ad, wire, pt))
        .collect();
    let file = VectorFile {
        description: description.to_string(),
        inputs: inputs.clone(),
        pqxdh,
        ratchet_steps: steps,
        messages,
        receipts: run.receipts,
    };
    (file, run.unused_keys)
}

#[test]
fn session_vectors_replay() {
    let mut count = 0;
    for entry in std::fs::read_dir(DIR).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let stored: VectorFile =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let (rebuilt, unused) = build(&stored.description, &stored.inputs);
            assert_eq!(
                unused,
                (0, 0),
                "{}: every listed key is used",
                path.display()
            );
            assert_eq!(rebuilt, stored, "{}", path.display());
            count += 1;
        }
    }
    assert!(count >= 2, "expected the session vector files in {DIR}");
}

#[test]
fn x25519_secrets_alone_do_not_open_the_first_message() {
    // An adversary who later breaks X25519 learns every DH output of the setup and of the
    // ratchet (the files list all X25519 secrets), but not the ML-KEM shared secret: the
    // classical X3DH key (no SS) opens nothing, the PQXDH key (with SS) opens the first message.
    let path = Path::new(DIR).join("pqxdh_one_time_ratchet.json");
    let file: VectorFile = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let p = &file.pqxdh;
    let ad = unhex(&p.ad);
    let open_first = |ikm: Vec<u8>| {
        let sk = hkdf(
            &[0; 32],
            &ikm,
            &[b"missive/session/v2/pqxdh".as_slice(), &ad].concat(),
            32,
        );
        let steps = reference_steps(&file.inputs, &sk);
        let wire = unhex(&file.messages[0].wire);
        let (_, _, n, prefix, ciphertext) = parse_wire(&wire);
        let mut chain = unhex(&steps[0].chain_key);
        for _ in 0..n {
            chain = kdf_ck(&chain).0;
        }
        let key = AeadKey::new(&kdf_ck(&chain).1.try_into().unwrap());
        key.open(&[0; 12], &[&ad[..], prefix].concat(), ciphertext)
            .is_ok()
    };
    let dh = [&p.dh1, &p.dh2, &p.dh3, &p.dh4].map(|d| unhex(d)).concat();
    assert!(!open_first(dh.clone()));
    assert!(open_first([dh, unhex(&p.kem_shared_secret)].concat()));
}

// ---- The generator ----

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

fn generate(name: &str, description: &str, one_time: bool, script: Vec<Step>, seed: u64) {
    let mut rng = rng(seed);
    let mut secret = || hex::encode(SecretKey::generate(&mut rng).to_bytes().as_slice());
    let (spk, lr) = (secret(), secret());
    let opk = one_time.then(&mut secret);
    let alice_keys: Vec<String> = (0..8).map(|_| secret()).collect();
    let bob_keys: Vec<String> = (0..8).map(|_| secret()).collect();
    let mut bytes = |n: usize| {
        let mut out = vec![0u8; n];
        rand::Rng::fill_bytes(&mut rng, &mut out);
        hex::encode(out)
    };
    let (lr_kem, alice_kem_coins) = (bytes(64), bytes(32));
    let opk_kem = one_time.then(|| bytes(64));
    let mut rng = session_support::rng(seed + 1);
    let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let mut inputs = Inputs {
        alice_identity_secret: hex::encode(alice.to_secret_bytes().as_slice()),
        bob_identity_secret: hex::encode(bob.to_secret_bytes().as_slice()),
        bob_signed_prekey_secret: spk,
        bob_last_resort_secret: lr,
        bob_last_resort_kem_seed: lr_kem,
        bob_one_time_prekey_secret: opk,
        bob_one_time_kem_seed: opk_kem,
        alice_keys,
        alice_kem_coins,
        bob_keys,
        script,
    };
    let (unused_a, unused_b) = run_api(&inputs).unused_keys;
    inputs.alice_keys.truncate(8 - unused_a);
    inputs.bob_keys.truncate(8 - unused_b);
    let (file, _) = build(description, &inputs);
    let json = serde_json::to_string_pretty(&file).unwrap();
    std::fs::write(Path::new(DIR).join(name), json + "\n").unwrap();
}

#[test]
#[ignore = "writes vectors/session/"]
fn generate_session_vectors() {
    std::fs::create_dir_all(DIR).unwrap();
    generate(
        "pqxdh_one_time_ratchet.json",
        "Setup with a one-time prekey, then an exchange with out-of-order and skipped messages, \
         three DH ratchet steps, a tampered message and two replays.",
        true,
        exchange_script(),
        1,
    );
    generate(
        "pqxdh_last_resort.json",
        "Setup against the last-resort prekey (no one-time prekey left), one round trip, and \
         the prekey header dropped once Alice has a reply.",
        false,
        last_resort_script(),
        3,
    );
}
