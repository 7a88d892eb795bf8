//! Known-answer tests for HPKE: every `*.json` in `vectors/third_party/hpke/` is read with the
//! RFC 9180 test-vector schema and every entry of our suite is replayed. Dropping a new file of
//! RFC-schema vectors into that folder is enough for it to be checked.
//!
//! Schema (RFC 9180 Appendix A, cfrg `test-vectors.json`), hex strings unless noted: an array of
//! entries with `mode`, `kem_id`, `kdf_id`, `aead_id` (integers), `info`, `ikmR`, `ikmS`,
//! `ikmE`, `skRm`, `skSm`, `skEm`, `pkRm`, `pkSm`, `pkEm`, `enc`, `shared_secret`,
//! `key_schedule_context`, `secret`, `key`, `base_nonce`, `exporter_secret`, `psk`, `psk_id`
//! (the sender fields only in the auth modes, the PSK fields only in the PSK modes),
//! `encryptions: [{aad, ct, nonce, pt}]` and `exports: [{exporter_context, L, exported_value}]`
//! (`L` an integer).

// Test helpers outside #[test] functions may panic: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use missive::hpke::{self, Enc, KeyPair, Psk, ReceiverMode, SenderMode, kat};
use serde::Deserialize;

/// A hex string in the JSON.
#[derive(Clone, Debug, Default, PartialEq)]
struct Hex(Vec<u8>);

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map(Hex).map_err(serde::de::Error::custom)
    }
}

#[allow(non_snake_case)] // the RFC's field names
#[derive(Clone, Debug, Deserialize)]
struct Entry {
    mode: u8,
    kem_id: u16,
    kdf_id: u16,
    aead_id: u16,
    info: Hex,
    ikmR: Hex,
    ikmS: Option<Hex>,
    ikmE: Hex,
    skRm: Hex,
    skSm: Option<Hex>,
    skEm: Hex,
    pkRm: Hex,
    pkSm: Option<Hex>,
    pkEm: Hex,
    enc: Hex,
    shared_secret: Hex,
    key_schedule_context: Hex,
    secret: Hex,
    key: Hex,
    base_nonce: Hex,
    exporter_secret: Hex,
    psk: Option<Hex>,
    psk_id: Option<Hex>,
    encryptions: Vec<Encryption>,
    exports: Vec<Export>,
}

#[derive(Clone, Debug, Deserialize)]
struct Encryption {
    aad: Hex,
    ct: Hex,
    nonce: Hex,
    pt: Hex,
}

#[allow(non_snake_case)]
#[derive(Clone, Debug, Deserialize)]
struct Export {
    exporter_context: Hex,
    L: usize,
    exported_value: Hex,
}

/// What one file held.
#[derive(Debug, Default, PartialEq)]
struct Totals {
    entries: usize,
    skipped: usize,
    encryptions: usize,
    exports: usize,
}

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/third_party/hpke")
}

fn load(path: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn is_our_suite(e: &Entry) -> bool {
    e.kem_id == hpke::KEM_ID
        && e.kdf_id == hpke::KDF_ID
        && (e.aead_id == hpke::AEAD_ID || e.aead_id == hpke::EXPORT_ONLY_AEAD_ID)
}

/// Checks every entry of our suite; the first mismatch is the error.
fn check_all(entries: &[Entry]) -> Result<Totals, String> {
    let mut t = Totals::default();
    for (i, e) in entries.iter().enumerate() {
        if !is_our_suite(e) {
            t.skipped += 1;
            continue;
        }
        check_entry(e)
            .map_err(|m| format!("entry {i} (mode {}, aead {}): {m}", e.mode, e.aead_id))?;
        t.entries += 1;
        t.encryptions += e.encryptions.len();
        t.exports += e.exports.len();
    }
    Ok(t)
}

fn same(what: &str, got: &[u8], want: &Hex) -> Result<(), String> {
    if got == want.0.as_slice() {
        Ok(())
    } else {
        Err(format!(
            "{what}: got {}, want {}",
            hex::encode(got),
            hex::encode(&want.0)
        ))
    }
}

/// `DeriveKeyPair(ikm)` must give the printed secret and public keys.
fn derive_checked(ikm: &Hex, sk: &Hex, pk: &Hex, who: &str) -> Result<KeyPair, String> {
    let kp = KeyPair::derive(&ikm.0);
    same(&format!("sk{who}m"), kp.to_secret_bytes().as_ref(), sk)?;
    same(&format!("pk{who}m"), kp.public_key().as_bytes(), pk)?;
    Ok(kp)
}

fn need<'a>(field: &'a Option<Hex>, name: &str) -> Result<&'a Hex, String> {
    field.as_ref().ok_or_else(|| format!("{name} missing"))
}

fn check_entry(e: &Entry) -> Result<(), String> {
    let recipient = derive_checked(&e.ikmR, &e.skRm, &e.pkRm, "R")?;
    derive_checked(&e.ikmE, &e.skEm, &e.pkEm, "E")?;
    let sender = match e.mode {
        2 | 3 => Some(derive_checked(
            need(&e.ikmS, "ikmS")?,
            need(&e.skSm, "skSm")?,
            need(&e.pkSm, "pkSm")?,
            "S",
        )?),
        _ => None,
    };
    let psk_bytes = match e.mode {
        1 | 3 => Some((need(&e.psk, "psk")?, need(&e.psk_id, "psk_id")?)),
        _ => None,
    };
    let psk = match psk_bytes {
        Some((k, id)) => Some(Psk::new(&k.0, &id.0).map_err(|x| format!("psk: {x}"))?),
        None => None,
    };
    let (sm, rm) = modes(e.mode, sender.as_ref(), psk)?;
    check_intermediates(e, sm, rm, &recipient)?;
    if e.aead_id == hpke::AEAD_ID {
        check_context(e, sm, rm, &recipient)
    } else {
        check_export_only(e, sm, rm, &recipient)
    }
}

fn modes<'a>(
    mode: u8,
    sender: Option<&'a KeyPair>,
    psk: Option<Psk<'a>>,
) -> Result<(SenderMode<'a>, ReceiverMode<'a>), String> {
    Ok(match (mode, sender, psk) {
        (0, None, None) => (SenderMode::Base, ReceiverMode::Base),
        (1, None, Some(psk)) => (SenderMode::Psk(psk), ReceiverMode::Psk(psk)),
        (2, Some(s), None) => (
            SenderMode::Auth { sender: s },
            ReceiverMode::Auth {
                sender: s.public_key(),
            },
        ),
        (3, Some(s), Some(psk)) => (
            SenderMode::AuthPsk { sender: s, psk },
            ReceiverMode::AuthPsk {
                sender: s.public_key(),
                psk,
            },
        ),
        _ => return Err(format!("unknown mode {mode}")),
    })
}

/// `enc`, `shared_secret` and the key schedule, computed by both sides.
fn check_intermediates(
    e: &Entry,
    sm: SenderMode<'_>,
    rm: ReceiverMode<'_>,
    recipient: &KeyPair,
) -> Result<(), String> {
    let pk = recipient.public_key();
    let (enc, s) = kat::sender_intermediates(&e.ikmE.0, sm, pk, &e.info.0, e.aead_id)
        .map_err(|x| format!("sender setup: {x}"))?;
    same("enc", enc.as_bytes(), &e.enc)?;
    let enc = Enc::from_bytes(&e.enc.0).map_err(|x| format!("enc: {x}"))?;
    let r = kat::receiver_intermediates(&enc, rm, recipient, &e.info.0, e.aead_id)
        .map_err(|x| format!("receiver setup: {x}"))?;
    for (side, v) in [("sender", &s), ("receiver", &r)] {
        let name = |f: &str| format!("{side} {f}");
        same(&name("shared_secret"), &v.shared_secret, &e.shared_secret)?;
        same(
            &name("key_schedule_context"),
            &v.key_schedule_context,
            &e.key_schedule_context,
        )?;
        same(&name("secret"), &v.secret, &e.secret)?;
        same(&name("key"), &v.key, &e.key)?;
        same(&name("base_nonce"), &v.base_nonce, &e.base_nonce)?;
        same(
            &name("exporter_secret"),
            &v.exporter_secret,
            &e.exporter_secret,
        )?;
    }
    Ok(())
}

/// The sequence number a vector's nonce stands for: `nonce XOR base_nonce`, which must fit
/// our `u64` counter.
fn sequence_number(e: &Entry, nonce: &Hex) -> Result<u64, String> {
    if nonce.0.len() != 12 || e.base_nonce.0.len() != 12 {
        return Err("nonce length".into());
    }
    let x: Vec<u8> = nonce
        .0
        .iter()
        .zip(&e.base_nonce.0)
        .map(|(a, b)| a ^ b)
        .collect();
    if x[..4] != [0; 4] {
        return Err("sequence number beyond 2^64".into());
    }
    Ok(u64::from_be_bytes(x[4..].try_into().unwrap()))
}

/// Every encryption in sequence order: seal gives `ct`, open gives `pt`; then every export
/// from both sides.
fn check_context(
    e: &Entry,
    sm: SenderMode<'_>,
    rm: ReceiverMode<'_>,
    recipient: &KeyPair,
) -> Result<(), String> {
    let pk = recipient.public_key();
    let (enc, mut sender) = kat::setup_sender_with_ikm(&e.ikmE.0, sm, pk, &e.info.0)
        .map_err(|x| format!("setup sender: {x}"))?;
    let mut receiver = hpke::setup_receiver(&enc, rm, recipient, &e.info.0)
        .map_err(|x| format!("setup receiver: {x}"))?;
    let mut next = 0u64;
    for (i, c) in e.encryptions.iter().enumerate() {
        let seq = sequence_number(e, &c.nonce)?;
        if seq < next {
            return Err(format!(
                "encryption {i}: sequence number {seq} goes backwards"
            ));
        }
        // Vectors may skip sequence numbers; spend them on empty messages.
        for _ in next..seq {
            let filler = sender.seal(b"", b"").map_err(|x| x.to_string())?;
            receiver.open(b"", &filler).map_err(|x| x.to_string())?;
        }
        let ct = sender.seal(&c.aad.0, &c.pt.0).map_err(|x| x.to_string())?;
        same(&format!("encryption {i} (seq {seq}) ct"), &ct, &c.ct)?;
        let pt = receiver
            .open(&c.aad.0, &c.ct.0)
            .map_err(|x| format!("encryption {i} (seq {seq}) open: {x}"))?;
        same(&format!("encryption {i} (seq {seq}) pt"), &pt, &c.pt)?;
        next = seq + 1;
    }
    for (i, x) in e.exports.iter().enumerate() {
        let s = sender
            .export(&x.exporter_context.0, x.L)
            .map_err(|x| x.to_string())?;
        let r = receiver
            .export(&x.exporter_context.0, x.L)
            .map_err(|x| x.to_string())?;
        same(&format!("sender export {i}"), &s, &x.exported_value)?;
        same(&format!("receiver export {i}"), &r, &x.exported_value)?;
    }
    Ok(())
}

/// The export-only AEAD: no encryptions are possible (the context type has no `seal` or `open`,
/// see the `compile_fail` example on `ExportOnlyContext`), so an entry listing any is refused;
/// every export from both sides must match.
fn check_export_only(
    e: &Entry,
    sm: SenderMode<'_>,
    rm: ReceiverMode<'_>,
    recipient: &KeyPair,
) -> Result<(), String> {
    if !e.encryptions.is_empty() {
        return Err("export-only entry lists encryptions".into());
    }
    let pk = recipient.public_key();
    let (enc, sender) = kat::setup_sender_export_only_with_ikm(&e.ikmE.0, sm, pk, &e.info.0)
        .map_err(|x| format!("setup sender: {x}"))?;
    let receiver = hpke::setup_receiver_export_only(&enc, rm, recipient, &e.info.0)
        .map_err(|x| format!("setup receiver: {x}"))?;
    for (i, x) in e.exports.iter().enumerate() {
        let s = sender
            .export(&x.exporter_context.0, x.L)
            .map_err(|x| x.to_string())?;
        let r = receiver
            .export(&x.exporter_context.0, x.L)
            .map_err(|x| x.to_string())?;
        same(&format!("sender export {i}"), &s, &x.exported_value)?;
        same(&format!("receiver export {i}"), &r, &x.exported_value)?;
    }
    Ok(())
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// Checks every `*.json` in `dir`: what a file dropped into the folder goes through.
fn check_folder(dir: &Path) -> Result<Vec<(PathBuf, Totals)>, String> {
    let mut out = Vec::new();
    for path in json_files(dir) {
        let totals = check_all(&load(&path)).map_err(|m| format!("{}: {m}", path.display()))?;
        if totals.entries == 0 {
            return Err(format!("{}: no entry of our suite", path.display()));
        }
        out.push((path, totals));
    }
    Ok(out)
}

#[test]
fn every_file_in_the_hpke_folder_passes() {
    let results = check_folder(&folder()).unwrap_or_else(|m| panic!("{m}"));
    assert!(results.len() >= 2, "expected the RFC and the pyhpke files");
    for (path, totals) in results {
        println!("{}: {totals:?}", path.display());
    }
}

/// A copy of the pyhpke file with one hex digit changed in its text (first the first `ct`, then
/// the first `exported_value`), dropped into a folder of its own, makes the folder fail.
#[test]
fn a_folder_holding_a_corrupted_file_fails() {
    let text = std::fs::read_to_string(folder().join("pyhpke-generated.json")).unwrap();
    for key in ["\"ct\": \"", "\"exported_value\": \""] {
        let at = text.find(key).unwrap() + key.len();
        let digit = if &text[at..=at] == "0" { "1" } else { "0" };
        let corrupted = format!("{}{digit}{}", &text[..at], &text[at + 1..]);
        let dir = std::env::temp_dir().join(format!("missive-hpke-{}-{at}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pyhpke-generated.json"), &text).unwrap();
        assert!(check_folder(&dir).is_ok());
        std::fs::write(dir.join("pyhpke-corrupted.json"), corrupted).unwrap();
        let err = check_folder(&dir).expect_err(key);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("pyhpke-corrupted.json: entry 0 "), "{err}");
    }
}

#[test]
fn the_rfc_file_runs_every_case() {
    let path = folder().join("rfc9180_x25519_hkdfsha256_chacha20poly1305_exportonly.json");
    let totals = check_all(&load(&path)).unwrap();
    let want = Totals {
        entries: 8,
        skipped: 0,
        encryptions: 1028,
        exports: 24,
    };
    assert_eq!(totals, want);
}

#[test]
fn entries_of_other_suites_are_skipped_and_counted() {
    let path = folder().join("rfc9180_x25519_hkdfsha256_chacha20poly1305_exportonly.json");
    let mut entries = load(&path);
    entries[0].kem_id = 0x0010; // P-256
    entries[1].aead_id = 0x0001; // AES-128-GCM
    entries[2].kdf_id = 0x0003; // HKDF-SHA512
    let totals = check_all(&entries).unwrap();
    assert_eq!(totals.skipped, 3);
    assert_eq!(totals.entries, 5);
}

fn pyhpke() -> Vec<Entry> {
    load(&folder().join("pyhpke-generated.json"))
}

#[test]
fn the_pyhpke_file_covers_every_mode_and_both_aeads() {
    let entries = pyhpke();
    for aead in [hpke::AEAD_ID, hpke::EXPORT_ONLY_AEAD_ID] {
        for mode in 0..4 {
            assert!(entries.iter().any(|e| e.aead_id == aead && e.mode == mode));
        }
    }
    let totals = check_all(&entries).unwrap();
    assert_eq!(
        totals,
        Totals {
            entries: 8,
            skipped: 0,
            encryptions: 24,
            exports: 40
        }
    );
}

/// The checker must be able to fail: one flipped byte anywhere checked is reported.
#[test]
fn a_corrupted_copy_of_the_pyhpke_file_fails() {
    let flip = |h: &mut Hex| h.0[0] ^= 0x01;
    type Corruption = fn(&mut Entry);
    // (what, entry, corruption, what the checker must name)
    let corruptions: [(&str, usize, Corruption, &str); 9] = [
        (
            "ct",
            0,
            |e| e.encryptions[2].ct.0[0] ^= 1,
            "encryption 2 (seq 2) ct",
        ),
        (
            "tag",
            3,
            |e| *e.encryptions[5].ct.0.last_mut().unwrap() ^= 1,
            "encryption 5 (seq 5) ct",
        ),
        (
            "pt",
            1,
            |e| e.encryptions[0].pt.0.push(0),
            "encryption 0 (seq 0) ct",
        ),
        (
            "aad",
            2,
            |e| e.encryptions[1].aad.0[0] ^= 1,
            "encryption 1 (seq 1) ct",
        ),
        (
            "exported value",
            1,
            |e| e.exports[3].exported_value.0[0] ^= 1,
            "sender export 3",
        ),
        (
            "export-only value",
            6,
            |e| e.exports[0].exported_value.0[0] ^= 1,
            "sender export 0",
        ),
        ("enc", 2, |e| e.enc.0[5] ^= 1, "enc"),
        (
            "psk",
            7,
            |e| e.psk.as_mut().unwrap().0[0] ^= 1,
            "sender secret",
        ),
        ("pkSm", 3, |e| e.pkSm.as_mut().unwrap().0[0] ^= 1, "pkSm"),
    ];
    let pristine = pyhpke();
    assert!(check_all(&pristine).is_ok());
    for (what, index, corrupt, named) in corruptions {
        let mut entries = pristine.clone();
        corrupt(&mut entries[index]);
        let err = check_all(&entries).expect_err(what);
        assert!(err.starts_with(&format!("entry {index} ")), "{what}: {err}");
        assert!(err.contains(&format!(": {named}:")), "{what}: {err}");
    }
    // An export-only entry cannot list encryptions: its context has no seal or open.
    let mut entries = pristine.clone();
    entries[6].encryptions = entries[0].encryptions.clone();
    let err = check_all(&entries).expect_err("export-only with encryptions");
    assert!(
        err.ends_with("export-only entry lists encryptions"),
        "{err}"
    );
    // Each intermediate value too.
    for field in 0..6 {
        let mut entries = pristine.clone();
        let e = &mut entries[field % 4];
        flip(match field {
            0 => &mut e.shared_secret,
            1 => &mut e.key_schedule_context,
            2 => &mut e.secret,
            3 => &mut e.key,
            4 => &mut e.base_nonce,
            _ => &mut e.exporter_secret,
        });
        let err = check_all(&entries).expect_err("corrupted intermediate");
        assert!(err.contains(": sender "), "{err}");
    }
}
