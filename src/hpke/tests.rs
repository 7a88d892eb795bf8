//! Properties of the whole module: round trips in every mode, and every mismatch refused.

use proptest::prelude::*;

use super::*;
use crate::error::{CryptoError, Error};

const FAILED: Error = Error::Crypto(CryptoError::DecryptionFailed);
const NON_CONTRIBUTORY: Error = Error::Crypto(CryptoError::NonContributory);
/// A point of order 8: X25519 with it gives all zeros.
const LOW_ORDER: [u8; 32] = [
    0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
    0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00,
];

struct Parties {
    alice: KeyPair,
    bob: KeyPair,
    carol: KeyPair,
}

fn parties() -> Parties {
    Parties {
        alice: KeyPair::derive(b"alice's ikm, which is long enough"),
        bob: KeyPair::derive(b"bob's ikm, which is also long enough"),
        carol: KeyPair::derive(b"carol's ikm, long enough as well.."),
    }
}

/// The sender and receiver modes numbered 0..4, alice sending, with `psk`.
fn modes<'a>(p: &'a Parties, psk: Psk<'a>, n: u8) -> (SenderMode<'a>, ReceiverMode<'a>) {
    let (s, r) = (&p.alice, p.alice.public_key());
    match n {
        0 => (SenderMode::Base, ReceiverMode::Base),
        1 => (SenderMode::Psk(psk), ReceiverMode::Psk(psk)),
        2 => (
            SenderMode::Auth { sender: s },
            ReceiverMode::Auth { sender: r },
        ),
        _ => (
            SenderMode::AuthPsk { sender: s, psk },
            ReceiverMode::AuthPsk { sender: r, psk },
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_mode_round_trips_and_detects_tampering(
        mode in 0u8..4,
        info in proptest::collection::vec(any::<u8>(), 0..40),
        aad in proptest::collection::vec(any::<u8>(), 0..40),
        pt in proptest::collection::vec(any::<u8>(), 0..200),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let p = parties();
        let key = [3u8; 32];
        let psk = Psk::new(&key, b"psk id").unwrap();
        let (sm, rm) = modes(&p, psk, mode);
        let (enc, ct) = seal(&mut rand::rng(), sm, p.bob.public_key(), &info, &aad, &pt).unwrap();
        prop_assert_eq!(ct.len(), pt.len() + 16);
        prop_assert_eq!(open(&enc, rm, &p.bob, &info, &aad, &ct).unwrap(), pt);

        let mut bad_ct = ct.clone();
        bad_ct[flip.index(ct.len())] ^= 1 << bit;
        prop_assert_eq!(open(&enc, rm, &p.bob, &info, &aad, &bad_ct), Err(FAILED));
        let mut bad_enc = enc.to_bytes();
        bad_enc[flip.index(32)] ^= 1 << bit;
        let got = open(&Enc::from(bad_enc), rm, &p.bob, &info, &aad, &ct);
        prop_assert!(got == Err(FAILED) || got == Err(NON_CONTRIBUTORY));
        let mut bad_info = info.clone();
        bad_info.push(0);
        prop_assert_eq!(open(&enc, rm, &p.bob, &bad_info, &aad, &ct), Err(FAILED));
        let mut bad_aad = aad.clone();
        bad_aad.push(0);
        prop_assert_eq!(open(&enc, rm, &p.bob, &info, &bad_aad, &ct), Err(FAILED));
        prop_assert_eq!(open(&enc, rm, &p.carol, &info, &aad, &ct), Err(FAILED));
    }
}

#[test]
fn every_other_mode_or_input_fails_to_open() {
    let p = parties();
    let (k1, k2) = ([3u8; 32], [4u8; 32]);
    let psk = Psk::new(&k1, b"id").unwrap();
    let wrong_psks = [
        Psk::new(&k2, b"id").unwrap(),
        Psk::new(&k1, b"other id").unwrap(),
    ];
    for sent in 0..4 {
        let (sm, _) = modes(&p, psk, sent);
        let (enc, ct) = seal(&mut rand::rng(), sm, p.bob.public_key(), b"i", b"a", b"m").unwrap();
        for tried in 0..4 {
            let (_, rm) = modes(&p, psk, tried);
            let want = if tried == sent {
                Ok(b"m".to_vec())
            } else {
                Err(FAILED)
            };
            assert_eq!(
                open(&enc, rm, &p.bob, b"i", b"a", &ct),
                want,
                "{sent} vs {tried}"
            );
            for wrong in wrong_psks {
                let (_, rm) = modes(&p, wrong, tried);
                let got = open(&enc, rm, &p.bob, b"i", b"a", &ct);
                assert_eq!(
                    got.is_ok(),
                    tried == sent && sent % 2 == 0,
                    "{sent} vs {tried}"
                );
            }
        }
        // The wrong claimed sender.
        let claims = [
            ReceiverMode::Auth {
                sender: p.carol.public_key(),
            },
            ReceiverMode::AuthPsk {
                sender: p.carol.public_key(),
                psk,
            },
        ];
        for rm in claims {
            assert_eq!(open(&enc, rm, &p.bob, b"i", b"a", &ct), Err(FAILED));
        }
    }
}

#[test]
fn low_order_keys_are_non_contributory_in_every_mode() {
    let p = parties();
    let key = [3u8; 32];
    let psk = Psk::new(&key, b"id").unwrap();
    let bad = PublicKey::from_bytes(LOW_ORDER);
    let rng = &mut rand::rng();
    for mode in 0..4 {
        let (sm, rm) = modes(&p, psk, mode);
        assert_eq!(
            seal(rng, sm, &bad, b"", b"", b"m").err(),
            Some(NON_CONTRIBUTORY)
        );
        let bad_enc = Enc::from(LOW_ORDER);
        assert_eq!(
            open(&bad_enc, rm, &p.bob, b"", b"", &[0; 16]),
            Err(NON_CONTRIBUTORY)
        );
        assert_eq!(
            setup_receiver_export_only(&bad_enc, rm, &p.bob, b"").err(),
            Some(NON_CONTRIBUTORY)
        );
    }
    // AuthDecap with a genuine enc but a low-order claimed sender.
    let (enc, ct) = seal_base(rng, p.bob.public_key(), b"", b"", b"m").unwrap();
    let rm = ReceiverMode::Auth { sender: &bad };
    assert_eq!(open(&enc, rm, &p.bob, b"", b"", &ct), Err(NON_CONTRIBUTORY));
}

#[test]
fn exports_agree_per_side_and_depend_on_the_suite() {
    let p = parties();
    let pk = p.bob.public_key();
    let ikm = [1u8; 32];
    let (enc, s) = kat::setup_sender_with_ikm(&ikm, SenderMode::Base, pk, b"i").unwrap();
    let r = setup_receiver(&enc, ReceiverMode::Base, &p.bob, b"i").unwrap();
    let (enc2, x) =
        kat::setup_sender_export_only_with_ikm(&ikm, SenderMode::Base, pk, b"i").unwrap();
    let rx = setup_receiver_export_only(&enc2, ReceiverMode::Base, &p.bob, b"i").unwrap();
    assert_eq!(enc, enc2);
    assert_eq!(s.export(b"c", 42).unwrap(), r.export(b"c", 42).unwrap());
    assert_eq!(x.export(b"c", 42).unwrap(), rx.export(b"c", 42).unwrap());
    // Same shared secret, different aead_id in the suite_id: independent exporter secrets.
    assert_ne!(s.export(b"c", 42).unwrap(), x.export(b"c", 42).unwrap());
    assert_eq!(
        x.export(b"c", MAX_EXPORT_LEN).unwrap().len(),
        MAX_EXPORT_LEN
    );
    assert!(x.export(b"c", MAX_EXPORT_LEN + 1).is_err());
}

#[test]
fn a_fresh_ephemeral_key_per_setup() {
    let p = parties();
    let rng = &mut rand::rng();
    let (e1, c1) = seal_base(rng, p.bob.public_key(), b"", b"", b"same").unwrap();
    let (e2, c2) = seal_base(rng, p.bob.public_key(), b"", b"", b"same").unwrap();
    assert_ne!(e1, e2);
    assert_ne!(c1, c2);
}
