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
use missive::crypto::x25519::{PublicKey, SecretKey};
use missive::crypto::{mlkem, xwing};
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
    /// The 32-byte seed of Bob's generation-0 X-Wing sealing key (§9.2).
    bob_sealing_seed: String,
    /// Alice's keys in the order drawn: EK_A, then her ratchet keys.
    alice_keys: Vec<String>,
    /// Alice's ML-KEM encapsulation randomness (FIPS 203's `m`, 32 bytes) in the order drawn:
    /// the set-up's, then one per post-quantum step whose key Bob offered.
    alice_kem_coins: Vec<String>,
    /// Seeds of the ML-KEM-768 keys Alice offers at her post-quantum steps, in order.
    alice_kem_seeds: Vec<String>,
    /// Bob's ratchet keys in the order drawn.
    bob_keys: Vec<String>,
    /// Bob's ML-KEM seeds and encapsulation randomness for post-quantum steps, in order.
    bob_kem_seeds: Vec<String>,
    bob_kem_coins: Vec<String>,
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
    /// Bob's X-Wing sealing key, as the bundle carries it.
    sealing_public_key: String,
    /// `SEAL = HKDF-Expand(PRK, "missive/session/v4/seal" || AD, 32)`, PRK being SK's extract.
    seal: String,
    /// `label_d || key_d = HKDF-Expand(SEAL, "missive/session/v4/seal-keys" || d, 40)`, for
    /// d = 0x01 (what Alice, the initiator, seals) and 0x02 (what Bob seals).
    seal_initiator_label: String,
    seal_initiator_key: String,
    seal_responder_label: String,
    seal_responder_key: String,
}

/// One KDF_RK step; steps alternate Alice, Bob, Alice, ... and each one's receiver key is the
/// previous one's sender key (the first's is SPK_B).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct RatchetStep {
    sender: Who,
    sender_ratchet_public: String,
    receiver_ratchet_public: String,
    /// The post-quantum epoch its chain's headers name.
    epoch: u32,
    dh: String,
    /// At a post-quantum step (the epoch went up): the ML-KEM shared secret taken in beside
    /// the DH output, with info `missive/session/v3/root+kem`; null at the others.
    kem_shared_secret: Option<String>,
    root_key_in: String,
    root_key_out: String,
    chain_key: String,
}

/// One post-quantum step: the owner's key, the peer's encapsulation, the shared secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PqStep {
    epoch: u32,
    owner: Who,
    /// The seed of the offered key, and the encapsulation randomness, from the inputs.
    kem_seed: String,
    kem_coins: String,
    kem_public_key: String,
    kem_ciphertext: String,
    kem_shared_secret: String,
    /// The indexes of the messages that carried the key and the ciphertext.
    key_sent_in: Vec<usize>,
    ciphertext_sent_in: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Message {
    ratchet_step: usize,
    previous_counter: u32,
    counter: u32,
    epoch: u32,
    /// "key", "ciphertext" or null: what the header carries towards the next epoch.
    offer: Option<String>,
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
    pq_steps: Vec<PqStep>,
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

fn coins(s: &str) -> [u8; 32] {
    unhex(s).try_into().unwrap()
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
    let coins = coins(&inputs.alice_kem_coins[0]);
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
    let seal = hkdf(
        &[0; 32],
        &ikm,
        &[b"missive/session/v4/seal".as_slice(), &ad].concat(),
        32,
    );
    let seal_keys = |d: u8| {
        let mut okm = [0u8; 40];
        let info = [b"missive/session/v4/seal-keys".as_slice(), &[d]].concat();
        kdf::expand(&seal.clone().try_into().unwrap(), &info, &mut okm).unwrap();
        (hex::encode(&okm[..8]), hex::encode(&okm[8..]))
    };
    let ((il, ik), (rl, rk)) = (seal_keys(1), seal_keys(2));
    let sealing = xwing::SecretKey::from_seed(&unhex(&inputs.bob_sealing_seed).try_into().unwrap());
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
        sealing_public_key: hex::encode(sealing.public_key().as_bytes()),
        seal: hex::encode(seal),
        seal_initiator_label: il,
        seal_initiator_key: ik,
        seal_responder_label: rl,
        seal_responder_key: rk,
    }
}

/// A session message split per PROTOCOL.md §5.4–5.6.
struct Parsed<'a> {
    ratchet_key: [u8; 32],
    pn: u32,
    n: u32,
    epoch: u32,
    /// (0 key | 1 ciphertext, epoch, bytes)
    offer: Option<(u32, u32, Vec<u8>)>,
    /// The wire form up to the ciphertext: the AEAD associated data after AD.
    prefix: &'a [u8],
    ciphertext: &'a [u8],
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

fn parse_wire(wire: &[u8]) -> Parsed<'_> {
    assert_eq!(wire[0], 3, "version");
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
    let epoch = varint(wire, &mut at);
    at += 1;
    let offer = (wire[at - 1] == 1).then(|| {
        let kind = varint(wire, &mut at);
        let offer_epoch = varint(wire, &mut at);
        let len = varint(wire, &mut at) as usize;
        assert_eq!(len, [1184, 1088][kind as usize]);
        at += len;
        (kind, offer_epoch, wire[at - len..at].to_vec())
    });
    let prefix_end = at;
    let len = varint(wire, &mut at) as usize;
    assert_eq!(wire.len(), at + len);
    Parsed {
        ratchet_key,
        pn,
        n,
        epoch,
        offer,
        prefix: &wire[..prefix_end],
        ciphertext: &wire[at..],
    }
}

fn kdf_rk_hybrid(rk: &[u8], dh: &[u8], ss: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let okm = hkdf(rk, &[dh, ss].concat(), b"missive/session/v3/root+kem", 64);
    (okm[..32].to_vec(), okm[32..].to_vec())
}

/// The messages that carried one epoch's key and ciphertext, and those two values.
type Offers = (Vec<usize>, Vec<usize>, Vec<u8>, Vec<u8>);

/// Every completed post-quantum step, from the offers the messages carry and the listed
/// seeds and randomness: epoch e's key is the responder's (Bob's) when e is odd, Alice's
/// when even, each side drawing its seeds in order; the other side encapsulates with its
/// next randomness (Alice's first went to the set-up).
fn reference_pq(inputs: &Inputs, wires: &[Vec<u8>]) -> Vec<PqStep> {
    let mut by_epoch: std::collections::BTreeMap<u32, Offers> = Default::default();
    for (i, wire) in wires.iter().enumerate() {
        if let Some((kind, epoch, bytes)) = parse_wire(wire).offer {
            let entry = by_epoch.entry(epoch).or_default();
            if kind == 0 {
                entry.0.push(i);
                entry.2 = bytes;
            } else {
                entry.1.push(i);
                entry.3 = bytes;
            }
        }
    }
    let (mut alice_owned, mut bob_owned) = (0, 0);
    let mut steps = Vec::new();
    for (epoch, (key_in, ct_in, key, ct)) in by_epoch {
        let bob_owns = epoch % 2 == 1;
        let (owner, seed, coins) = if bob_owns {
            bob_owned += 1;
            (
                Who::Bob,
                &inputs.bob_kem_seeds[bob_owned - 1],
                &inputs.alice_kem_coins[bob_owned],
            )
        } else {
            alice_owned += 1;
            (
                Who::Alice,
                &inputs.alice_kem_seeds[alice_owned - 1],
                &inputs.bob_kem_coins[alice_owned - 1],
            )
        };
        assert!(!ct_in.is_empty(), "every step in a vector completes");
        let kem = mlkem::SecretKey::from_seed(&kem_seed(seed));
        assert_eq!(kem.public_key().as_bytes().to_vec(), key);
        let m: [u8; 32] = unhex(coins).try_into().unwrap();
        let (ciphertext, ss) = kem.public_key().encapsulate_deterministic(&m);
        assert_eq!(ciphertext.as_bytes().to_vec(), ct);
        assert_eq!(*kem.decapsulate(&ciphertext), *ss);
        steps.push(PqStep {
            epoch,
            owner,
            kem_seed: seed.clone(),
            kem_coins: coins.clone(),
            kem_public_key: hex::encode(key),
            kem_ciphertext: hex::encode(ct),
            kem_shared_secret: hex::encode(*ss),
            key_sent_in: key_in,
            ciphertext_sent_in: ct_in,
        });
    }
    steps
}

fn reference_steps(
    inputs: &Inputs,
    sk: &[u8],
    wires: &[Vec<u8>],
    pq: &[PqStep],
) -> Vec<RatchetStep> {
    let (alice, bob) = (&inputs.alice_keys[1..], &inputs.bob_keys);
    let mut receiver = *key(&inputs.bob_signed_prekey_secret).public_key();
    let mut root = sk.to_vec();
    let mut epoch = 0;
    let mut steps = Vec::new();
    for k in 0..alice.len() + bob.len() {
        let (sender, secret) = if k % 2 == 0 {
            (Who::Alice, &alice[k / 2])
        } else {
            (Who::Bob, &bob[k / 2])
        };
        let secret = key(secret);
        // The epoch this chain's messages name.
        let named: Vec<u32> = wires
            .iter()
            .map(|w| parse_wire(w))
            .filter(|p| &p.ratchet_key == secret.public_key().as_bytes())
            .map(|p| p.epoch)
            .collect();
        assert!(named.windows(2).all(|w| w[0] == w[1]));
        let step_epoch = named.first().copied().unwrap_or(epoch);
        let shared = dh(&secret, &receiver);
        let kem_shared_secret = (step_epoch != epoch).then(|| {
            assert_eq!(step_epoch, epoch + 1);
            pq.iter()
                .find(|s| s.epoch == step_epoch)
                .unwrap()
                .kem_shared_secret
                .clone()
        });
        let (root_out, chain) = match &kem_shared_secret {
            Some(ss) => kdf_rk_hybrid(&root, &shared, &unhex(ss)),
            None => kdf_rk(&root, &shared),
        };
        steps.push(RatchetStep {
            sender,
            sender_ratchet_public: hex::encode(secret.public_key().as_bytes()),
            receiver_ratchet_public: hex::encode(receiver.as_bytes()),
            epoch: step_epoch,
            dh: hex::encode(shared),
            kem_shared_secret,
            root_key_in: hex::encode(&root),
            root_key_out: hex::encode(&root_out),
            chain_key: hex::encode(chain),
        });
        root = root_out;
        receiver = *secret.public_key();
        epoch = step_epoch;
    }
    steps
}

fn reference_message(steps: &[RatchetStep], ad: &[u8], wire: &[u8], plaintext: &[u8]) -> Message {
    let p = parse_wire(wire);
    let step = steps
        .iter()
        .position(|s| unhex(&s.sender_ratchet_public) == p.ratchet_key)
        .unwrap();
    assert_eq!(steps[step].epoch, p.epoch);
    let mut chain = unhex(&steps[step].chain_key);
    for _ in 0..p.n {
        chain = kdf_ck(&chain).0;
    }
    let message_key = kdf_ck(&chain).1;
    let aad = [ad, p.prefix].concat();
    let aead = AeadKey::new(&message_key.clone().try_into().unwrap());
    assert_eq!(aead.open(&[0; 12], &aad, p.ciphertext).unwrap(), plaintext);
    Message {
        ratchet_step: step,
        previous_counter: p.pn,
        counter: p.n,
        epoch: p.epoch,
        offer: p
            .offer
            .map(|(kind, _, _)| ["key", "ciphertext"][kind as usize].to_string()),
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
    /// What was listed and not drawn, per side.
    left: (FixedKeys, FixedKeys),
    /// The labels Alice's and Bob's sessions expect the other's sealed messages to carry.
    seal_labels: (Option<String>, Option<String>),
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
    owner_keys
        .sealing_seeds
        .push_back(coins(&inputs.bob_sealing_seed));
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
    alice_keys.kem_coins = inputs.alice_kem_coins.iter().map(|c| coins(c)).collect();
    alice_keys.kem_seeds = inputs.alice_kem_seeds.iter().map(|c| kem_seed(c)).collect();
    bob_keys.kem_coins = inputs.bob_kem_coins.iter().map(|c| coins(c)).collect();
    bob_keys.kem_seeds = inputs.bob_kem_seeds.iter().map(|c| kem_seed(c)).collect();
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
    let seal_labels = (
        a.peer_seal_keys().map(|k| hex::encode(k.label())),
        b.as_ref()
            .and_then(Session::peer_seal_keys)
            .map(|k| hex::encode(k.label())),
    );
    Run {
        seal_labels,
        bundle: bundle.to_bytes(),
        sent,
        receipts,
        left: (alice_keys, bob_keys),
    }
}

fn build(description: &str, inputs: &Inputs) -> (VectorFile, (usize, usize)) {
    let run = run_api(inputs);
    let pqxdh = reference_pqxdh(inputs, &run.bundle);
    // The sessions find each other's sealed messages by the reference's labels, and the
    // bundle carries the sealing key.
    assert_eq!(
        run.seal_labels,
        (
            Some(pqxdh.seal_responder_label.clone()),
            Some(pqxdh.seal_initiator_label.clone())
        )
    );
    let sealing = unhex(&pqxdh.sealing_public_key);
    assert!(run.bundle.windows(sealing.len()).any(|w| w == sealing));
    let wires: Vec<Vec<u8>> = run.sent.iter().map(|(w, _)| w.clone()).collect();
    let pq_steps = reference_pq(inputs, &wires);
    let steps = reference_steps(inputs, &unhex(&pqxdh.sk), &wires, &pq_steps);
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
        pq_steps,
        ratchet_steps: steps,
        messages,
        receipts: run.receipts,
    };
    (file, (run.left.0.unused(), run.left.1.unused()))
}

#[test]
fn session_vectors_replay() {
    let mut count = 0;
    for entry in std::fs::read_dir(DIR).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            // Files in the command's formats (state.json) are replayed by tests/vectors_check.rs.
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            if value.get("missive_format").is_some() {
                continue;
            }
            let stored: VectorFile = serde_json::from_value(value).unwrap();
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
        let wires: Vec<Vec<u8>> = file.messages.iter().map(|m| unhex(&m.wire)).collect();
        let steps = reference_steps(&file.inputs, &sk, &wires, &file.pq_steps);
        let p = parse_wire(&wires[0]);
        let mut chain = unhex(&steps[0].chain_key);
        for _ in 0..p.n {
            chain = kdf_ck(&chain).0;
        }
        let key = AeadKey::new(&kdf_ck(&chain).1.try_into().unwrap());
        key.open(&[0; 12], &[&ad[..], p.prefix].concat(), p.ciphertext)
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
    const DRAWN: usize = 80;
    let mut rng = rng(seed);
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
        bob_sealing_seed,
        alice_keys,
        alice_kem_coins,
        alice_kem_seeds,
        bob_keys,
        bob_kem_seeds,
        bob_kem_coins,
        script,
    };
    let (a, b) = run_api(&inputs).left;
    let keep = |list: &mut Vec<String>, left: usize| list.truncate(list.len() - left);
    keep(&mut inputs.alice_keys, a.keys.len());
    keep(&mut inputs.alice_kem_coins, a.kem_coins.len());
    keep(&mut inputs.alice_kem_seeds, a.kem_seeds.len());
    keep(&mut inputs.bob_keys, b.keys.len());
    keep(&mut inputs.bob_kem_coins, b.kem_coins.len());
    keep(&mut inputs.bob_kem_seeds, b.kem_seeds.len());
    let (file, _) = build(description, &inputs);
    let json = serde_json::to_string_pretty(&file).unwrap();
    std::fs::write(Path::new(DIR).join(name), json + "\n").unwrap();
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
    generate(
        "pq_ratchet.json",
        "Turn-by-turn talk through two post-quantum ratchet steps: Bob offers an ML-KEM-768 \
         key once 50 messages have passed, Alice encapsulates to it, Bob's next chain takes \
         the secret in (epoch 1); then Alice owns epoch 2.",
        true,
        post_quantum_script(),
        5,
    );
}
