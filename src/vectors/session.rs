//! Session transcripts (PROTOCOL.md §5): `session/pqxdh_one_time_ratchet.json`,
//! `session/pqxdh_last_resort.json` and `session/pq_ratchet.json` (format `session`).
//!
//! Inputs: both identities' secrets, Bob's prekey secrets and ML-KEM seeds, his sealing seed,
//! every X25519 key and ML-KEM seed or randomness each side draws, in order, and a script of
//! sends and receives. Outputs, rebuilt twice over: through the public API fed the listed keys
//! (every wire message and every receive's outcome), and by a reference of §5 written here on
//! the bare primitives (PQXDH's four DH outputs, the KEM, SK and the sealing keys; each
//! post-quantum step; every KDF_RK step; each message's chain key, message key and associated
//! data, with which the reference opens the API's wire bytes itself).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::{Failure, with_outputs};
use crate::Identity;
use crate::crypto::aead::AeadKey;
use crate::crypto::kdf;
use crate::crypto::x25519::{PublicKey, SecretKey};
use crate::crypto::{mlkem, xwing};
use crate::error::Error;
use crate::session::{KeySource, PrekeyOwner, Session, SessionMessage};

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

// ---- The reference, from PROTOCOL.md §5 ----

fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Result<Vec<u8>, Failure> {
    let mut out = vec![0; len];
    kdf::expand(&kdf::extract(salt, ikm), info, &mut out)
        .map_err(|_| Failure::input("inputs", "an HKDF length"))?;
    Ok(out)
}

fn split32(okm: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (a, b) = okm.split_at(32.min(okm.len()));
    (a.to_vec(), b.to_vec())
}

fn kdf_rk(rk: &[u8], dh: &[u8], ss: Option<&[u8]>) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    let okm = match ss {
        Some(ss) => hkdf(rk, &[dh, ss].concat(), b"missive/session/v3/root+kem", 64)?,
        None => hkdf(rk, dh, b"missive/session/v1/root", 64)?,
    };
    Ok(split32(&okm))
}

fn kdf_ck(ck: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    let ck: [u8; 32] = ck
        .try_into()
        .map_err(|_| Failure::input("inputs", "a 32-byte chain key"))?;
    let mut okm = [0u8; 64];
    kdf::expand(&ck, b"missive/session/v1/chain", &mut okm)
        .map_err(|_| Failure::input("inputs", "an HKDF length"))?;
    Ok(split32(&okm))
}

fn dh(secret: &SecretKey, public: &PublicKey, at: &str) -> Result<Vec<u8>, Failure> {
    Ok(secret
        .diffie_hellman(public)
        .map_err(failed(at))?
        .as_bytes()
        .to_vec())
}

fn reference_pqxdh(inputs: &Inputs, bundle: &[u8]) -> Result<Pqxdh, Failure> {
    let at = "inputs";
    let alice = identity(
        &inputs.alice_identity_secret,
        "inputs.alice_identity_secret",
    )?;
    let bob = identity(&inputs.bob_identity_secret, "inputs.bob_identity_secret")?;
    let base = key(
        inputs.alice_keys.first().map_or("", String::as_str),
        "inputs.alice_keys",
    )?;
    let spk = key(
        &inputs.bob_signed_prekey_secret,
        "inputs.bob_signed_prekey_secret",
    )?;
    let opk = key(
        inputs
            .bob_one_time_prekey_secret
            .as_ref()
            .unwrap_or(&inputs.bob_last_resort_secret),
        "inputs.bob_one_time_prekey_secret",
    )?;
    let dh1 = alice
        .diffie_hellman(spk.public_key())
        .map_err(failed(at))?
        .as_bytes()
        .to_vec();
    let dh2 = dh(&base, bob.public().dh_key(), at)?;
    let (dh3, dh4) = (
        dh(&base, spk.public_key(), at)?,
        dh(&base, opk.public_key(), at)?,
    );
    // Bob computes the same four from his side.
    let bob_dh2 = bob.diffie_hellman(base.public_key()).map_err(failed(at))?;
    if dh(&spk, alice.public().dh_key(), at)? != dh1
        || bob_dh2.as_bytes()[..] != dh2[..]
        || dh(&spk, base.public_key(), at)? != dh3
        || dh(&opk, base.public_key(), at)? != dh4
    {
        return Err(disagree(at, "the same DH outputs on both sides"));
    }
    let kem_seed = inputs
        .bob_one_time_kem_seed
        .as_ref()
        .unwrap_or(&inputs.bob_last_resort_kem_seed);
    let kem = mlkem::SecretKey::from_seed(&array(kem_seed, "inputs.bob_one_time_kem_seed")?);
    let coins = array(
        inputs.alice_kem_coins.first().map_or("", String::as_str),
        "inputs.alice_kem_coins",
    )?;
    let (ct, ss) = kem.public_key().encapsulate_deterministic(&coins);
    if *kem.decapsulate(&ct) != *ss {
        return Err(disagree(at, "the same ML-KEM secret on both sides"));
    }
    let ad = [alice.public().to_bytes(), bob.public().to_bytes()].concat();
    let ikm = [&dh1[..], &dh2, &dh3, &dh4, &ss[..]].concat();
    let sk = hkdf(
        &[0; 32],
        &ikm,
        &[b"missive/session/v2/pqxdh".as_slice(), &ad].concat(),
        32,
    )?;
    let seal = hkdf(
        &[0; 32],
        &ikm,
        &[b"missive/session/v4/seal".as_slice(), &ad].concat(),
        32,
    )?;
    let seal_keys = |d: u8| -> Result<(String, String), Failure> {
        let mut okm = [0u8; 40];
        let info = [b"missive/session/v4/seal-keys".as_slice(), &[d]].concat();
        let prk: [u8; 32] = seal
            .clone()
            .try_into()
            .map_err(|_| Failure::input(at, "a 32-byte seal"))?;
        kdf::expand(&prk, &info, &mut okm).map_err(|_| Failure::input(at, "an HKDF length"))?;
        Ok((hex::encode(&okm[..8]), hex::encode(&okm[8..])))
    };
    let ((il, ik), (rl, rk)) = (seal_keys(1)?, seal_keys(2)?);
    let sealing =
        xwing::SecretKey::from_seed(&array(&inputs.bob_sealing_seed, "inputs.bob_sealing_seed")?);
    Ok(Pqxdh {
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
    })
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

/// Reads bytes of a wire message in order; any read past the end is `None`.
struct Reader<'a> {
    wire: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.wire.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }

    /// A LEB128 varint (postcard's u32 encoding).
    fn varint(&mut self) -> Option<u32> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let b = *self.bytes(1)?.first()?;
            value |= u32::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

fn parse_wire(wire: &[u8]) -> Option<Parsed<'_>> {
    let mut r = Reader { wire, at: 0 };
    if r.bytes(1)? != [3] {
        return None;
    }
    if r.bytes(1)? == [1] {
        r.bytes(64 + 32)?; // IK_A, EK_A
        r.varint()?; // signed prekey id
        r.varint()?; // prekey kind
        r.varint()?; // prekey id
        let len = r.varint()?; // the ML-KEM ciphertext's length, then it
        r.bytes(usize::try_from(len).ok()?)?;
    }
    let ratchet_key: [u8; 32] = r.bytes(32)?.try_into().ok()?;
    let (pn, n, epoch) = (r.varint()?, r.varint()?, r.varint()?);
    let offer = match r.bytes(1)? {
        [1] => {
            let (kind, offer_epoch) = (r.varint()?, r.varint()?);
            let len = usize::try_from(r.varint()?).ok()?;
            Some((kind, offer_epoch, r.bytes(len)?.to_vec()))
        }
        _ => None,
    };
    let prefix_end = r.at;
    let len = usize::try_from(r.varint()?).ok()?;
    let ciphertext_at = r.at;
    r.bytes(len)?;
    (r.at == wire.len()).then_some(Parsed {
        ratchet_key,
        pn,
        n,
        epoch,
        offer,
        prefix: wire.get(..prefix_end)?,
        ciphertext: wire.get(ciphertext_at..)?,
    })
}

fn parsed(wire: &[u8]) -> Result<Parsed<'_>, Failure> {
    parse_wire(wire).ok_or_else(|| disagree("outputs.messages", "a session message of §5.6"))
}

/// The messages that carried one epoch's key and ciphertext, and those two values.
type Offers = (Vec<usize>, Vec<usize>, Vec<u8>, Vec<u8>);

/// Every completed post-quantum step, from the offers the messages carry and the listed
/// seeds and randomness: epoch e's key is the responder's (Bob's) when e is odd, Alice's
/// when even, each side drawing its seeds in order; the other side encapsulates with its
/// next randomness (Alice's first went to the set-up).
fn reference_pq(inputs: &Inputs, wires: &[Vec<u8>]) -> Result<Vec<PqStep>, Failure> {
    let mut by_epoch: BTreeMap<u32, Offers> = BTreeMap::new();
    for (i, wire) in wires.iter().enumerate() {
        if let Some((kind, epoch, bytes)) = parsed(wire)?.offer {
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
    let short = || Failure::input("inputs", "a KEM seed and randomness for every step");
    for (epoch, (key_in, ct_in, key, ct)) in by_epoch {
        let (owner, seed, coins) = if epoch % 2 == 1 {
            bob_owned += 1;
            let seed = inputs.bob_kem_seeds.get(bob_owned - 1).ok_or_else(short)?;
            let coins = inputs.alice_kem_coins.get(bob_owned).ok_or_else(short)?;
            (Who::Bob, seed, coins)
        } else {
            alice_owned += 1;
            let seed = inputs
                .alice_kem_seeds
                .get(alice_owned - 1)
                .ok_or_else(short)?;
            let coins = inputs
                .bob_kem_coins
                .get(alice_owned - 1)
                .ok_or_else(short)?;
            (Who::Alice, seed, coins)
        };
        let kem = mlkem::SecretKey::from_seed(&array(seed, "inputs.kem_seeds")?);
        let (ciphertext, ss) = kem
            .public_key()
            .encapsulate_deterministic(&array(coins, "inputs.kem_coins")?);
        if ct_in.is_empty()
            || kem.public_key().as_bytes()[..] != key[..]
            || ciphertext.as_bytes()[..] != ct[..]
            || *kem.decapsulate(&ciphertext) != *ss
        {
            return Err(disagree(
                "outputs.pq_steps",
                "each step's key and ciphertext",
            ));
        }
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
    Ok(steps)
}

fn reference_steps(
    inputs: &Inputs,
    sk: &[u8],
    wires: &[Vec<u8>],
    pq: &[PqStep],
) -> Result<Vec<RatchetStep>, Failure> {
    let at = "outputs.ratchet_steps";
    let (alice, bob) = (
        inputs.alice_keys.get(1..).unwrap_or_default(),
        &inputs.bob_keys,
    );
    let mut receiver = *key(&inputs.bob_signed_prekey_secret, "inputs")?.public_key();
    let mut root = sk.to_vec();
    let mut epoch = 0;
    let mut steps = Vec::new();
    let parsed_all = wires
        .iter()
        .map(|w| parsed(w))
        .collect::<Result<Vec<_>, _>>()?;
    for k in 0..alice.len() + bob.len() {
        let (sender, secret) = match (k % 2, alice.get(k / 2), bob.get(k / 2)) {
            (0, Some(s), _) => (Who::Alice, s),
            (1, _, Some(s)) => (Who::Bob, s),
            _ => break,
        };
        let secret = key(secret, "inputs.keys")?;
        // The epoch this chain's messages name.
        let named: Vec<u32> = parsed_all
            .iter()
            .filter(|p| &p.ratchet_key == secret.public_key().as_bytes())
            .map(|p| p.epoch)
            .collect();
        if !named.windows(2).all(|w| w[0] == w[1]) {
            return Err(disagree(at, "one epoch per chain"));
        }
        let step_epoch = named.first().copied().unwrap_or(epoch);
        let shared = dh(&secret, &receiver, at)?;
        let kem_shared_secret = if step_epoch == epoch {
            None
        } else if step_epoch == epoch + 1 {
            let step = pq.iter().find(|s| s.epoch == step_epoch);
            Some(
                step.ok_or_else(|| disagree(at, "a step for each epoch"))?
                    .kem_shared_secret
                    .clone(),
            )
        } else {
            return Err(disagree(at, "epochs one after another"));
        };
        let ss = kem_shared_secret
            .as_deref()
            .map(|s| unhex(s, at))
            .transpose()?;
        let (root_out, chain) = kdf_rk(&root, &shared, ss.as_deref())?;
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
    Ok(steps)
}

fn reference_message(
    steps: &[RatchetStep],
    ad: &[u8],
    wire: &[u8],
    plaintext: &[u8],
) -> Result<Message, Failure> {
    let at = "outputs.messages";
    let p = parsed(wire)?;
    let sender = hex::encode(p.ratchet_key);
    let step = steps
        .iter()
        .position(|s| s.sender_ratchet_public == sender)
        .ok_or_else(|| disagree(at, "a ratchet step for each message"))?;
    if steps[step].epoch != p.epoch {
        return Err(disagree(at, "the epoch of its step"));
    }
    let mut chain = unhex(&steps[step].chain_key, at)?;
    for _ in 0..p.n {
        chain = kdf_ck(&chain)?.0;
    }
    let message_key = kdf_ck(&chain)?.1;
    let aad = [ad, p.prefix].concat();
    let key: [u8; 32] = message_key
        .clone()
        .try_into()
        .map_err(|_| disagree(at, "a 32-byte message key"))?;
    let opened = AeadKey::new(&key).open(&[0; 12], &aad, p.ciphertext);
    if opened.ok().as_deref() != Some(plaintext) {
        return Err(disagree(
            at,
            "the plaintext, opened with the reference's key",
        ));
    }
    Ok(Message {
        ratchet_step: step,
        previous_counter: p.pn,
        counter: p.n,
        epoch: p.epoch,
        offer: p
            .offer
            .map(|(kind, _, _)| if kind == 0 { "key" } else { "ciphertext" }.to_owned()),
        chain_key: hex::encode(chain),
        message_key: hex::encode(message_key),
        associated_data: hex::encode(aad),
        wire: hex::encode(wire),
    })
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
fn classical_opens_first(
    inputs: &Inputs,
    pqxdh: &Pqxdh,
    ad: &[u8],
    wires: &[Vec<u8>],
    pq: &[PqStep],
) -> Result<bool, Failure> {
    let at = "outputs.pqxdh";
    let dh = [&pqxdh.dh1, &pqxdh.dh2, &pqxdh.dh3, &pqxdh.dh4]
        .iter()
        .map(|d| unhex(d, at))
        .collect::<Result<Vec<_>, _>>()?
        .concat();
    let sk = hkdf(
        &[0; 32],
        &dh,
        &[b"missive/session/v2/pqxdh".as_slice(), ad].concat(),
        32,
    )?;
    let steps = reference_steps(inputs, &sk, wires, pq)?;
    let (Some(first), Some(step)) = (wires.first(), steps.first()) else {
        return Ok(false);
    };
    let p = parsed(first)?;
    let mut chain = unhex(&step.chain_key, at)?;
    for _ in 0..p.n {
        chain = kdf_ck(&chain)?.0;
    }
    let key: [u8; 32] = kdf_ck(&chain)?
        .1
        .try_into()
        .map_err(|_| disagree(at, "a 32-byte message key"))?;
    let aad = [ad, p.prefix].concat();
    Ok(AeadKey::new(&key)
        .open(&[0; 12], &aad, p.ciphertext)
        .is_ok())
}

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

// ---- Our inputs ----

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
    super::skeleton(
        "session",
        description,
        serde_json::to_value(&inputs).unwrap_or_default(),
    )
}

/// `session/pqxdh_one_time_ratchet.json`.
pub(super) fn one_time_inputs() -> Value {
    generate(
        "Setup with a one-time prekey, then an exchange with out-of-order and skipped messages, \
         three DH ratchet steps, a tampered message and two replays.",
        true,
        exchange_script(),
        1,
    )
}

/// `session/pqxdh_last_resort.json`.
pub(super) fn last_resort_inputs() -> Value {
    generate(
        "Setup against the last-resort prekey (no one-time prekey left), one round trip, and \
         the prekey header dropped once Alice has a reply.",
        false,
        last_resort_script(),
        3,
    )
}

/// `session/pq_ratchet.json`.
pub(super) fn pq_ratchet_inputs() -> Value {
    generate(
        "Turn-by-turn talk through two post-quantum ratchet steps: Bob offers an ML-KEM-768 \
         key once 50 messages have passed, Alice encapsulates to it, Bob's next chain takes \
         the secret in (epoch 1); then Alice owns epoch 2.",
        true,
        post_quantum_script(),
        5,
    )
}
