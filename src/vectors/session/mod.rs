//! Session transcripts (PROTOCOL.md §5): `session/pqxdh_one_time_ratchet.json`,
//! `session/pqxdh_last_resort.json` and `session/pq_ratchet.json` (format `session`).
//!
//! Inputs: both identities' secrets, Bob's prekey secrets and ML-KEM seeds, his sealing seed,
//! every X25519 key and ML-KEM seed or randomness each side draws, in order, and a script of
//! sends and receives. Outputs, rebuilt twice over: through the public API fed the listed keys
//! (every wire message and every receive's outcome), and by a reference of §5 (`reference.rs`) on
//! the bare primitives (PQXDH's four DH outputs, the KEM, SK and the sealing keys; each
//! post-quantum step; every KDF_RK step; each message's chain key, message key and associated
//! data, with which the reference opens the API's wire bytes itself).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::{Failure, with_outputs};

mod reference;
mod scripts;

use crate::Identity;
use crate::crypto::x25519::SecretKey;
use crate::crypto::{mlkem, xwing};
use crate::error::Error;
use crate::session::{KeySource, PrekeyOwner, Session, SessionMessage};
use reference::{
    classical_opens_first, reference_message, reference_pq, reference_pqxdh, reference_steps,
};
pub(super) use scripts::{last_resort_inputs, one_time_inputs, pq_ratchet_inputs};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Who {
    Alice,
    Bob,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
struct Inputs {
    alice_identity_secret: String,
    bob_identity_secret: String,
    bob_signed_prekey_secret: String,
    bob_last_resort_secret: String,
    bob_last_resort_kem_seed: String,
    bob_one_time_prekey_secret: Option<String>,
    bob_one_time_kem_seed: Option<String>,
    bob_sealing_seed: String,
    alice_keys: Vec<String>,
    alice_kem_coins: Vec<String>,
    alice_kem_seeds: Vec<String>,
    bob_keys: Vec<String>,
    bob_kem_seeds: Vec<String>,
    bob_kem_coins: Vec<String>,
    script: Vec<Step>,
}

#[derive(Serialize)]
struct Pqxdh {
    alice_identity: String,
    bob_identity: String,
    bundle: String,
    dh1: String,
    dh2: String,
    dh3: String,
    dh4: String,
    kem_public_key: String,
    kem_ciphertext: String,
    kem_shared_secret: String,
    ad: String,
    sk: String,
    sealing_public_key: String,
    seal: String,
    seal_initiator_label: String,
    seal_initiator_key: String,
    seal_responder_label: String,
    seal_responder_key: String,
}

#[derive(Serialize)]
struct RatchetStep {
    sender: Who,
    sender_ratchet_public: String,
    receiver_ratchet_public: String,
    epoch: u32,
    dh: String,
    kem_shared_secret: Option<String>,
    root_key_in: String,
    root_key_out: String,
    chain_key: String,
}

#[derive(Serialize)]
struct PqStep {
    epoch: u32,
    owner: Who,
    kem_seed: String,
    kem_coins: String,
    kem_public_key: String,
    kem_ciphertext: String,
    kem_shared_secret: String,
    key_sent_in: Vec<usize>,
    ciphertext_sent_in: Vec<usize>,
}

#[derive(Serialize)]
struct Message {
    ratchet_step: usize,
    previous_counter: u32,
    counter: u32,
    epoch: u32,
    offer: Option<String>,
    chain_key: String,
    message_key: String,
    associated_data: String,
    wire: String,
}

#[derive(Serialize)]
struct Receipt {
    to: Who,
    send_index: usize,
    result: String,
    plaintext: String,
}

fn unhex(s: &str, at: &str) -> Result<Vec<u8>, Failure> {
    hex::decode(s).map_err(|_| Failure::input(at, "hex"))
}

fn array<const N: usize>(s: &str, at: &str) -> Result<[u8; N], Failure> {
    unhex(s, at)?
        .try_into()
        .map_err(|_| Failure::input(at, "hex of the right length"))
}

fn key(s: &str, at: &str) -> Result<SecretKey, Failure> {
    Ok(SecretKey::from_bytes(&array(s, at)?))
}

fn identity(s: &str, at: &str) -> Result<Identity, Failure> {
    Identity::from_secret_bytes(&unhex(s, at)?)
        .map_err(|_| Failure::input(at, "an identity secret"))
}

/// The reference's own result disagrees with the API's: a bug on one side.
fn disagree(at: &str, what: &str) -> Failure {
    Failure::mismatch(at, what.to_owned(), "something else".to_owned())
}

fn failed<E: Into<Error>>(at: &str) -> impl Fn(E) -> Failure + '_ {
    move |e| Failure::mismatch(at, "a result".into(), super::error_name(&e.into()))
}

/// The listed keys, handed out in order; running short is remembered, never a panic.
#[derive(Default)]
struct Fixed {
    keys: VecDeque<[u8; 32]>,
    kem_seeds: VecDeque<[u8; 64]>,
    kem_coins: VecDeque<[u8; 32]>,
    sealing_seeds: VecDeque<[u8; 32]>,
    short: bool,
}

impl Fixed {
    fn unused(&self) -> (usize, usize, usize) {
        (self.keys.len(), self.kem_coins.len(), self.kem_seeds.len())
    }

    fn take<const N: usize>(list: &mut VecDeque<[u8; N]>, short: &mut bool) -> [u8; N] {
        list.pop_front().unwrap_or_else(|| {
            *short = true;
            [1; N]
        })
    }
}

impl KeySource for Fixed {
    fn next_key(&mut self) -> SecretKey {
        SecretKey::from_bytes(&Self::take(&mut self.keys, &mut self.short))
    }

    fn next_kem_key(&mut self) -> mlkem::SecretKey {
        mlkem::SecretKey::from_seed(&Self::take(&mut self.kem_seeds, &mut self.short))
    }

    fn next_kem_coins(&mut self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(Self::take(&mut self.kem_coins, &mut self.short))
    }

    fn next_sealing_key(&mut self) -> xwing::SecretKey {
        xwing::SecretKey::from_seed(&Self::take(&mut self.sealing_seeds, &mut self.short))
    }
}

fn listed<const N: usize>(list: &[String], at: &str) -> Result<VecDeque<[u8; N]>, Failure> {
    list.iter().map(|s| array(s, at)).collect()
}

// ---- The transcript through the public API ----

struct Run {
    bundle: Vec<u8>,
    sent: Vec<(Vec<u8>, Vec<u8>)>,
    receipts: Vec<Receipt>,
    /// What was listed and not drawn, per side.
    left: (Fixed, Fixed),
    /// The labels Alice's and Bob's sessions expect the other's sealed messages to carry.
    seal_labels: (Option<String>, Option<String>),
}

fn side(keys: &[String], coins: &[String], seeds: &[String]) -> Result<Fixed, Failure> {
    Ok(Fixed {
        keys: listed(keys, "inputs.keys")?,
        kem_coins: listed(coins, "inputs.kem_coins")?,
        kem_seeds: listed(seeds, "inputs.kem_seeds")?,
        ..Fixed::default()
    })
}

fn run_api(inputs: &Inputs) -> Result<Run, Failure> {
    let at = "inputs.script";
    let alice = identity(
        &inputs.alice_identity_secret,
        "inputs.alice_identity_secret",
    )?;
    let bob = identity(&inputs.bob_identity_secret, "inputs.bob_identity_secret")?;
    let mut owner_keys = Fixed {
        keys: [
            &inputs.bob_signed_prekey_secret,
            &inputs.bob_last_resort_secret,
        ]
        .iter()
        .map(|s| array(s, "inputs.bob_signed_prekey_secret"))
        .collect::<Result<_, _>>()?,
        kem_seeds: [array(
            &inputs.bob_last_resort_kem_seed,
            "inputs.bob_last_resort_kem_seed",
        )?]
        .into(),
        sealing_seeds: [array(&inputs.bob_sealing_seed, "inputs.bob_sealing_seed")?].into(),
        ..Fixed::default()
    };
    let mut owner = PrekeyOwner::new_with_keys(&mut owner_keys, &bob);
    let one_time = match (
        &inputs.bob_one_time_prekey_secret,
        &inputs.bob_one_time_kem_seed,
    ) {
        (Some(secret), Some(seed)) => {
            let mut keys = Fixed {
                keys: [array(secret, "inputs.bob_one_time_prekey_secret")?].into(),
                kem_seeds: [array(seed, "inputs.bob_one_time_kem_seed")?].into(),
                ..Fixed::default()
            };
            let made = owner
                .generate_one_time_with_keys(&mut keys, 1, &bob)
                .map_err(failed(at))?;
            owner_keys.short |= keys.short;
            made.into_iter().next()
        }
        (None, None) => None,
        _ => {
            return Err(Failure::input(
                "inputs",
                "a one-time prekey with its KEM seed, or neither",
            ));
        }
    };
    let bundle = owner.bundle(one_time.as_ref()).map_err(failed(at))?;
    let mut alice_keys = side(
        &inputs.alice_keys,
        &inputs.alice_kem_coins,
        &inputs.alice_kem_seeds,
    )?;
    let mut bob_keys = side(
        &inputs.bob_keys,
        &inputs.bob_kem_coins,
        &inputs.bob_kem_seeds,
    )?;
    let verified = bundle.clone().verify().map_err(failed(at))?;
    let mut a =
        Session::initiate_with_keys(&mut alice_keys, &alice, &verified).map_err(failed(at))?;
    let mut b: Option<Session> = None;
    let (mut sent, mut receipts) = (Vec::new(), Vec::new());
    for step in &inputs.script {
        match step {
            Step::Send {
                from, plaintext, ..
            } => {
                let pt = unhex(plaintext, at)?;
                let m = match (from, &mut b) {
                    (Who::Alice, _) => a.encrypt_with_keys(&mut alice_keys, &pt),
                    (Who::Bob, Some(b)) => b.encrypt_with_keys(&mut bob_keys, &pt),
                    (Who::Bob, None) => {
                        return Err(Failure::input(at, "Bob receives before he sends"));
                    }
                };
                sent.push((m.map_err(failed(at))?.to_bytes(), pt));
            }
            Step::Receive {
                to,
                send_index,
                tamper,
                ..
            } => {
                let mut wire = sent
                    .get(*send_index)
                    .ok_or_else(|| Failure::input(at, "the index of a message sent before"))?
                    .0
                    .clone();
                if let (true, Some(last)) = (*tamper, wire.last_mut()) {
                    *last ^= 0x80;
                }
                let m = SessionMessage::from_bytes(&wire).map_err(failed(at))?;
                let result = match (to, &mut b) {
                    (Who::Alice, _) => a.decrypt(&m),
                    (Who::Bob, Some(session)) => session.decrypt(&m),
                    (Who::Bob, None) => Session::respond(&bob, &mut owner, &m).map(|(s, pt)| {
                        b = Some(s);
                        pt
                    }),
                };
                let (result, plaintext) = match result {
                    Ok(pt) => ("ok".to_owned(), hex::encode(pt)),
                    Err(Error::Crypto(e)) => (format!("{e:?}"), String::new()),
                    Err(e) => return Err(failed(at)(e)),
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
    if owner_keys.short || owner_keys.unused() != (0, 0, 0) || !owner_keys.sealing_seeds.is_empty()
    {
        return Err(Failure::input(
            "inputs",
            "exactly the prekey secrets the owner draws",
        ));
    }
    let seal_labels = (
        a.peer_seal_keys().map(|k| hex::encode(k.label())),
        b.as_ref()
            .and_then(Session::peer_seal_keys)
            .map(|k| hex::encode(k.label())),
    );
    Ok(Run {
        seal_labels,
        bundle: bundle.to_bytes(),
        sent,
        receipts,
        left: (alice_keys, bob_keys),
    })
}

fn outputs(inputs: &Inputs) -> Result<Value, Failure> {
    let run = run_api(inputs)?;
    let (a, b) = &run.left;
    if a.short || b.short || a.unused() != (0, 0, 0) || b.unused() != (0, 0, 0) {
        return Err(Failure::input(
            "inputs",
            "exactly the keys the script draws",
        ));
    }
    let pqxdh = reference_pqxdh(inputs, &run.bundle)?;
    // The sessions find each other's sealed messages by the reference's labels, and the
    // bundle carries the sealing key.
    let expected = (
        Some(pqxdh.seal_responder_label.clone()),
        Some(pqxdh.seal_initiator_label.clone()),
    );
    let sealing = unhex(&pqxdh.sealing_public_key, "outputs.pqxdh")?;
    if run.seal_labels != expected || !run.bundle.windows(sealing.len()).any(|w| w == sealing) {
        return Err(disagree(
            "outputs.pqxdh",
            "the sealing labels and key the sessions use",
        ));
    }
    let wires: Vec<Vec<u8>> = run.sent.iter().map(|(w, _)| w.clone()).collect();
    let pq_steps = reference_pq(inputs, &wires)?;
    let steps = reference_steps(
        inputs,
        &unhex(&pqxdh.sk, "outputs.pqxdh")?,
        &wires,
        &pq_steps,
    )?;
    let ad = unhex(&pqxdh.ad, "outputs.pqxdh")?;
    let classical = classical_opens_first(inputs, &pqxdh, &ad, &wires, &pq_steps)?;
    let messages = run
        .sent
        .iter()
        .map(|(wire, pt)| reference_message(&steps, &ad, wire, pt))
        .collect::<Result<Vec<_>, _>>()?;
    serde_json::to_value(serde_json::json!({
        "pqxdh": pqxdh, "pq_steps": pq_steps, "ratchet_steps": steps,
        "messages": messages, "receipts": run.receipts,
        "classical_key_opens_first_message": classical,
    }))
    .map_err(|_| Failure::input("inputs", "values JSON can hold"))
}

/// Whether the classical key (X3DH's four DH outputs without the ML-KEM secret) opens the first
/// message: an adversary who later breaks X25519 learns every DH output, not `SS`.
fn read_inputs(file: &Value) -> Result<Inputs, Failure> {
    let inputs = file
        .get("inputs")
        .cloned()
        .ok_or_else(|| Failure::input("inputs", "the inputs"))?;
    serde_json::from_value(inputs)
        .map_err(|_| Failure::input("inputs", "the fields of a session transcript's inputs"))
}

/// A transcript recomputed from its inputs.
pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    Ok(with_outputs(file, outputs(&read_inputs(file)?)?))
}
