//! HPKE with the X-Wing KEM (PROTOCOL.md §3.12): `hpke/xwing_hpke.json`, in RFC 9180's vector
//! fields. Each case's inputs are `mode`, `info`, `psk`, `psk_id`, `seedR` (the recipient's
//! X-Wing seed), `eseed` (the 64 bytes of encapsulation randomness), each encryption's `aad`
//! and `pt` and each export's `exporter_context` and `L`; everything else is computed. The
//! refusals are `enc`s opened under case 0's key, each with the typed error.

use serde_json::{Map, Value, json};

use super::json::{Place, hex};
use super::{Failure, error_name};
use crate::crypto::xwing::{Ciphertext, SecretKey};
use crate::hpke::{self, Psk, SenderMode};

const DESCRIPTION: &str = "HPKE (RFC 9180) with the X-Wing KEM (draft-connolly-cfrg-xwing-kem-06, \
    kem_id 0x647a), HKDF-SHA256 and ChaCha20-Poly1305 (PROTOCOL.md §3.12): base and PSK mode, \
    three encryptions and two exports each; then two encapsulations refused.";

/// A point of order 8 on Curve25519.
const LOW_ORDER: [u8; 32] = [
    0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
    0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00,
];

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

fn case_inputs(mode: u8, seed: u8) -> Value {
    let (psk, psk_id) = if mode == 0 {
        (Vec::new(), Vec::new())
    } else {
        (bytes(0x50, 32), b"psk id".to_vec())
    };
    json!({
        "mode": mode, "info": hex(b"missive x-wing hpke vector"), "psk": hex(psk),
        "psk_id": hex(psk_id), "seedR": hex(bytes(seed, 32)),
        "eseed": hex(bytes(seed.wrapping_mul(3), 64)),
        "encryptions": (0..3u8).map(|i| json!({
            "aad": hex(format!("Count-{i}")),
            "pt": hex(format!("Message {i} sealed to an X-Wing key")),
        })).collect::<Vec<_>>(),
        "exports": [{"exporter_context": "", "L": 32},
                    {"exporter_context": hex(b"lead form"), "L": 64}],
    })
}

/// Our inputs: the two cases, and the refusals' `enc`s made from case 0's.
pub(super) fn inputs() -> Value {
    let base = case_inputs(0, 0x11);
    let skeleton = json!({"missive_format": "xwing_hpke", "description": DESCRIPTION,
                          "cases": [base, case_inputs(1, 0x7a)], "refusals": []});
    let mut refusals = Vec::new();
    if let Ok(Value::Object(computed)) = recompute(&skeleton) {
        let case = &computed["cases"][0];
        let enc = case["enc"]
            .as_str()
            .and_then(|e| hex::decode(e).ok())
            .unwrap_or_default();
        let first = &case["encryptions"][0];
        if enc.len() == 1120 {
            let mut low = enc.clone();
            low[1088..].copy_from_slice(&LOW_ORDER);
            let mut flipped = enc;
            flipped[100] ^= 0x01;
            for (description, enc) in [
                ("enc's X25519 half is of low order", low),
                ("one bit of enc's ML-KEM half flipped", flipped),
            ] {
                refusals.push(json!({"description": description, "enc": hex(enc),
                                     "aad": first["aad"], "ct": first["ct"]}));
            }
        }
    }
    let mut file = skeleton;
    file["refusals"] = Value::Array(refusals);
    file
}

fn case(c: &Place<'_>) -> Result<Value, Failure> {
    let (mode, info) = (c.u64("mode")?, c.hex("info")?);
    let (psk, psk_id) = (c.hex("psk")?, c.hex("psk_id")?);
    let recipient = SecretKey::from_seed(&c.array("seedR")?);
    let failed =
        |e: crate::Error| Failure::mismatch(c.path(), "a sealed case".into(), error_name(&e));
    let sender_mode = match mode {
        0 => SenderMode::Base,
        1 => SenderMode::Psk(Psk::new(&psk, &psk_id).map_err(|e| failed(e.into()))?),
        _ => return Err(Failure::input(c.path(), "mode 0 (base) or 1 (psk)")),
    };
    let (enc, mut ctx, v) = hpke::xwing::sender_intermediates(
        &c.array("eseed")?,
        sender_mode,
        recipient.public_key(),
        &info,
    )
    .map_err(failed)?;
    let mut encryptions = Vec::new();
    for e in c.list("encryptions")? {
        let (aad, pt) = (e.hex("aad")?, e.hex("pt")?);
        let ct = ctx.seal(&aad, &pt).map_err(failed)?;
        encryptions.push(json!({"aad": hex(aad), "pt": hex(pt), "ct": hex(ct)}));
    }
    let mut exports = Vec::new();
    for x in c.list("exports")? {
        let (context, len) = (x.hex("exporter_context")?, x.int::<usize>("L")?);
        let value = ctx.export(&context, len).map_err(failed)?;
        exports.push(
            json!({"exporter_context": hex(context), "L": len, "exported_value": hex(&*value)}),
        );
    }
    let mut out = Map::new();
    for k in ["mode", "info", "psk", "psk_id", "seedR", "eseed"] {
        out.insert(k.into(), c.field(k)?.value().clone());
    }
    for (k, val) in [
        ("kem_id", json!(hpke::xwing::KEM_ID)),
        ("kdf_id", json!(hpke::KDF_ID)),
        ("aead_id", json!(hpke::AEAD_ID)),
        ("pkRm", hex(recipient.public_key().as_bytes())),
        ("enc", hex(enc.as_bytes())),
        ("shared_secret", hex(&v.shared_secret)),
        ("key_schedule_context", hex(&v.key_schedule_context)),
        ("secret", hex(&v.secret)),
        ("key", hex(&v.key)),
        ("base_nonce", hex(&v.base_nonce)),
        ("exporter_secret", hex(&v.exporter_secret)),
        ("encryptions", Value::Array(encryptions)),
        ("exports", Value::Array(exports)),
    ] {
        out.insert(k.into(), val);
    }
    Ok(Value::Object(out))
}

/// The file recomputed from its inputs.
pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    let root = Place::root(file);
    let cases = root.list("cases")?;
    let mut out = Vec::new();
    for c in &cases {
        out.push(case(c)?);
    }
    let base = cases
        .first()
        .ok_or_else(|| Failure::input("cases", "at least one case"))?;
    let recipient = SecretKey::from_seed(&base.array("seedR")?);
    let info = base.hex("info")?;
    let mut refusals = Vec::new();
    for r in root.list("refusals")? {
        let (aad, ct) = (r.hex("aad")?, r.hex("ct")?);
        let result = Ciphertext::from_bytes(&r.hex("enc")?)
            .map_err(Into::into)
            .and_then(|enc| hpke::xwing::open_base(&enc, &recipient, &info, &aad, &ct));
        let error = match result {
            Ok(_) => "ok".to_owned(),
            Err(e) => error_name(&e),
        };
        refusals.push(json!({"description": r.value().get("description"),
                             "enc": r.field("enc")?.value(), "aad": hex(aad), "ct": hex(ct),
                             "error": error}));
    }
    Ok(
        json!({"missive_format": "xwing_hpke", "description": file.get("description"),
              "cases": out, "refusals": refusals}),
    )
}
