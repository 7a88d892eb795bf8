//! RFC 9497 Appendix A.1.2 (ristretto255-SHA512, VOPRF mode) through the `voprf` crate that
//! `missive::token` is built on, and Missive's documented key derivation on top of it.
//!
//! Each vector is checked at every step: seed and key info to skSm and pkSm, input and blind to
//! the blinded element, BlindEvaluate (with the vector's proof random scalar) to the evaluated
//! elements and the batch proof, Finalize (which verifies that proof) and the server's own
//! Evaluate to the outputs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{hex_field, load};
use missive::token::{Issuer, IssuerPublicKey, TokenKind};
use serde_json::Value;
use voprf::{
    BlindedElement, EvaluationElement, Group, Proof, Ristretto255, VoprfClient, VoprfServer,
};

const FILE: &str = "third_party/voprf/rfc9497_ristretto255_sha512_voprf.json";

/// Hands voprf the proof random scalar r. voprf draws a scalar as 64 bytes reduced mod ℓ, so
/// it serves `r || 0^32`, whose reduction is r itself (r is canonical).
struct FixedScalar {
    bytes: [u8; 64],
    used: bool,
}

impl FixedScalar {
    fn new(r: &[u8]) -> Self {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(r);
        Self { bytes, used: false }
    }
}

impl rand_core::RngCore for FixedScalar {
    fn next_u32(&mut self) -> u32 {
        unimplemented!("the proof draws one scalar")
    }
    fn next_u64(&mut self) -> u64 {
        unimplemented!("the proof draws one scalar")
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(
            !self.used && dest.len() == 64,
            "the proof draws one 64-byte scalar"
        );
        dest.copy_from_slice(&self.bytes);
        self.used = true;
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for FixedScalar {}

fn hex_list(v: &Value, key: &str) -> Vec<Vec<u8>> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("missing list {key}"))
        .iter()
        .map(|x| hex::decode(x.as_str().unwrap()).unwrap())
        .collect()
}

/// Records `what` of vector `name` as wrong unless `got` is `want`.
fn expect(wrong: &mut Vec<String>, name: &str, what: &str, got: &[u8], want: &[u8]) {
    if got != want {
        wrong.push(format!("{name}: {what}"));
    }
}

/// Runs every vector in `doc` and returns one line per value that does not match (or does not
/// decode), naming the vector and the value.
fn check(doc: &Value) -> Vec<String> {
    let mut wrong = Vec::new();

    let server = VoprfServer::<Ristretto255>::new_from_seed(
        &hex_field(doc, "Seed"),
        &hex_field(doc, "KeyInfo"),
    )
    .unwrap();
    let sk_pk = server.serialize();
    expect(
        &mut wrong,
        "key",
        "skSm",
        &sk_pk[..32],
        &hex_field(doc, "skSm"),
    );
    expect(
        &mut wrong,
        "key",
        "pkSm",
        &sk_pk[32..],
        &hex_field(doc, "pkSm"),
    );
    let Ok(pk) = Ristretto255::deserialize_elem(&hex_field(doc, "pkSm")) else {
        wrong.push("key: pkSm does not decode".into());
        return wrong;
    };

    for v in doc["vectors"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let inputs = hex_list(v, "Input");
        let outputs = hex_list(v, "Output");
        let evaluated = hex_list(v, "EvaluationElement");
        assert_eq!(inputs.len(), v["BatchSize"].as_u64().unwrap() as usize);

        // Blind.
        let mut clients = Vec::new();
        let mut blinded = Vec::new();
        for (i, (input, blind)) in inputs.iter().zip(hex_list(v, "Blind")).enumerate() {
            let Ok(blind) = Ristretto255::deserialize_scalar(&blind) else {
                wrong.push(format!("{name}: Blind[{i}] does not decode"));
                continue;
            };
            let result =
                VoprfClient::<Ristretto255>::deterministic_blind_unchecked(input, blind).unwrap();
            expect(
                &mut wrong,
                name,
                &format!("BlindedElement[{i}]"),
                &result.message.serialize(),
                &hex_list(v, "BlindedElement")[i],
            );
            clients.push(result.state);
            blinded.push(result.message);
        }

        // BlindEvaluate, with the vector's proof random scalar.
        let prepared: Vec<_> = server
            .batch_blind_evaluate_prepare(blinded.iter())
            .collect();
        let mut rng = FixedScalar::new(&hex_field(v, "ProofRandomScalar"));
        let result = server
            .batch_blind_evaluate_finish(&mut rng, blinded.iter(), &prepared)
            .unwrap();
        for (i, element) in result.messages.enumerate() {
            expect(
                &mut wrong,
                name,
                &format!("EvaluationElement[{i}]"),
                &element.serialize(),
                &evaluated[i],
            );
        }
        expect(
            &mut wrong,
            name,
            "Proof",
            &result.proof.serialize(),
            &hex_field(v, "Proof"),
        );

        // Finalize from the vector's own evaluated elements and proof: the proof must verify.
        let Ok(messages) = evaluated
            .iter()
            .map(|e| EvaluationElement::<Ristretto255>::deserialize(e))
            .collect::<Result<Vec<_>, _>>()
        else {
            wrong.push(format!("{name}: EvaluationElement does not decode"));
            continue;
        };
        let Ok(proof) = Proof::<Ristretto255>::deserialize(&hex_field(v, "Proof")) else {
            wrong.push(format!("{name}: Proof does not decode"));
            continue;
        };
        match VoprfClient::batch_finalize(&inputs, &clients, &messages, &proof, pk) {
            Ok(finalized) => {
                for (i, output) in finalized.enumerate() {
                    expect(
                        &mut wrong,
                        name,
                        &format!("Output[{i}] (Finalize)"),
                        &output.unwrap(),
                        &outputs[i],
                    );
                }
            }
            Err(e) => wrong.push(format!("{name}: Finalize refused: {e:?}")),
        }

        // The server's unblinded Evaluate, which is what `Issuer::verify` recomputes.
        for (i, input) in inputs.iter().enumerate() {
            expect(
                &mut wrong,
                name,
                &format!("Output[{i}] (Evaluate)"),
                &server.evaluate(input).unwrap(),
                &outputs[i],
            );
        }

        // The blinded elements also decode as voprf's wire type, as the relay decodes them.
        for (i, element) in hex_list(v, "BlindedElement").iter().enumerate() {
            if BlindedElement::<Ristretto255>::deserialize(element).is_err() {
                wrong.push(format!("{name}: BlindedElement[{i}] does not decode"));
            }
        }
    }
    wrong
}

#[test]
fn rfc9497_ristretto255_voprf() {
    let doc = load(FILE);
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    assert!(
        vectors.iter().any(|v| v["BatchSize"].as_u64() > Some(1)),
        "at least one batch vector"
    );
    let wrong = check(&doc);
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The checker is only worth something if it can fail: one hex digit changed in any value it
/// reads is reported.
#[test]
fn altered_vectors_are_caught() {
    let doc = load(FILE);
    let flip = |s: &str| -> String {
        // Change the last hex digit: never a no-op, and keeps the string valid hex.
        let mut chars: Vec<char> = s.chars().collect();
        let last = chars.last_mut().unwrap();
        *last = if *last == '0' { '1' } else { '0' };
        chars.into_iter().collect()
    };
    for key in ["Seed", "KeyInfo", "skSm", "pkSm"] {
        let mut altered = doc.clone();
        altered[key] = Value::String(flip(doc[key].as_str().unwrap()));
        assert!(!check(&altered).is_empty(), "{key} altered but not caught");
    }
    for index in 0..doc["vectors"].as_array().unwrap().len() {
        for key in ["Proof", "ProofRandomScalar"] {
            let mut altered = doc.clone();
            let value = doc["vectors"][index][key].as_str().unwrap();
            altered["vectors"][index][key] = Value::String(flip(value));
            assert!(
                !check(&altered).is_empty(),
                "vector {index} {key} altered but not caught"
            );
        }
        for key in [
            "Input",
            "Blind",
            "BlindedElement",
            "EvaluationElement",
            "Output",
        ] {
            let len = doc["vectors"][index][key].as_array().unwrap().len();
            for element in 0..len {
                let mut altered = doc.clone();
                let value = doc["vectors"][index][key][element].as_str().unwrap();
                altered["vectors"][index][key][element] = Value::String(flip(value));
                assert!(
                    !check(&altered).is_empty(),
                    "vector {index} {key}[{element}] altered but not caught"
                );
            }
        }
    }
}

/// `Issuer`'s key for `(kind, period)` is exactly what its documentation says, recomputed here
/// from the `hkdf` crate and voprf's DeriveKeyPair.
#[test]
fn issuer_key_derivation_is_as_documented() {
    let master = [0x5au8; 32];
    let issuer = Issuer::new(master);
    for (kind, byte, period) in [
        (TokenKind::Invite, 0u8, 0u32),
        (TokenKind::Credit, 1, 671),
        (TokenKind::Premium, 2, 0x0102_0304),
        (TokenKind::Sponsored, 3, u32::MAX),
    ] {
        let mut info = b"missive/v1/token-key".to_vec();
        info.push(byte);
        info.extend(period.to_be_bytes());
        assert_eq!(info.len(), 25);
        let mut seed = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(None, &master)
            .expand(&info, &mut seed)
            .unwrap();
        let server = VoprfServer::<Ristretto255>::new_from_seed(&seed, &info).unwrap();
        let expected = IssuerPublicKey(
            Ristretto255::serialize_elem(server.get_public_key())
                .as_slice()
                .try_into()
                .unwrap(),
        );
        assert_eq!(
            issuer.public_key(kind, period).unwrap(),
            expected,
            "{kind:?}"
        );
    }
}

/// The RFC's public key is a valid `IssuerPublicKey` on the wire.
#[test]
fn rfc_public_key_decodes() {
    let doc = load(FILE);
    let key = IssuerPublicKey(hex_field(&doc, "pkSm").try_into().unwrap());
    assert_eq!(IssuerPublicKey::from_bytes(&key.to_bytes()).unwrap(), key);
}
