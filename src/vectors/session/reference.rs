//! A reference of PROTOCOL.md §5 on the bare primitives, written apart from the session code:
//! PQXDH's agreements and keys, each post-quantum step, every KDF_RK step, and each message's
//! chain key, message key and associated data, with which it opens the API's wire bytes itself.

use std::collections::BTreeMap;

use super::{
    Inputs, Message, PqStep, Pqxdh, RatchetStep, Who, array, disagree, failed, identity, key, unhex,
};
use crate::crypto::aead::AeadKey;
use crate::crypto::kdf;
use crate::crypto::x25519::{PublicKey, SecretKey};
use crate::crypto::{mlkem, xwing};
use crate::vectors::Failure;

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

pub(super) fn reference_pqxdh(inputs: &Inputs, bundle: &[u8]) -> Result<Pqxdh, Failure> {
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
pub(super) fn reference_pq(inputs: &Inputs, wires: &[Vec<u8>]) -> Result<Vec<PqStep>, Failure> {
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

pub(super) fn reference_steps(
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

pub(super) fn reference_message(
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

pub(super) fn classical_opens_first(
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
