//! Behaviour of prekeys, setup, the ratchet and stored state, case by case.

mod session_support;

use missive::session::{
    self, BundlePrekey, KemPrekey, MAX_ONE_TIME_PREKEYS, MAX_SKIP, MAX_SKIPPED_KEYS,
    MemorySessionStore, ONE_TIME_PREKEY_LEN, OneTimePair, PrekeyBundle, PrekeyOwner, SealingKey,
    Session, SessionMessage, SessionStore, SignedPrekey, VerifiedBundle,
};
use missive::{CryptoError, DecodeError, Error, Identity, UsageError};
use session_support::{established, fresh_bundle, rng};

#[test]
fn conversation_with_out_of_order_and_ratchet_steps() {
    let mut rng = rng(1);
    let mut p = established(&mut rng);
    for round in 0..4u8 {
        let batch: Vec<_> = (0..5u8)
            .map(|i| p.alice_session.encrypt(&mut rng, &[round, i]).unwrap())
            .collect();
        for i in [3usize, 0, 4, 2, 1] {
            assert_eq!(p.bob_session.decrypt(&batch[i]).unwrap(), [round, i as u8]);
        }
        let back = p.bob_session.encrypt(&mut rng, &[round]).unwrap();
        assert_eq!(p.alice_session.decrypt(&back).unwrap(), [round]);
    }
}

#[test]
fn last_resort_bundle_starts_a_session_and_stays_usable() {
    let mut rng = rng(2);
    let (alice, bob, carol) = (
        Identity::generate(&mut rng),
        Identity::generate(&mut rng),
        Identity::generate(&mut rng),
    );
    let mut owner = PrekeyOwner::new(&mut rng, &bob);
    let bundle = owner.bundle(None).unwrap();
    assert!(matches!(bundle.prekey(), BundlePrekey::LastResort(_)));
    let bundle = VerifiedBundle::from_bytes(&bundle.to_bytes()).unwrap();
    for who in [&alice, &carol] {
        let mut s = Session::initiate(&mut rng, who, &bundle).unwrap();
        let m = s.encrypt(&mut rng, b"x").unwrap();
        let (_, pt) = Session::respond(&bob, &mut owner, &m).unwrap();
        assert_eq!(pt, b"x");
    }
}

#[test]
fn one_time_prekey_is_deleted_after_use() {
    let mut rng = rng(3);
    let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let mut owner = PrekeyOwner::new(&mut rng, &bob);
    let bundle = fresh_bundle(&mut rng, &mut owner, &bob);
    assert_eq!(owner.one_time_count(), 1);
    let mut s = Session::initiate(&mut rng, &alice, &bundle).unwrap();
    let m = s.encrypt(&mut rng, b"x").unwrap();
    Session::respond(&bob, &mut owner, &m).unwrap();
    assert_eq!(owner.one_time_count(), 0);
    let again = Session::respond(&bob, &mut owner, &m).unwrap_err();
    assert_eq!(again, Error::Crypto(CryptoError::Replay));
    // Even a second session made from the same bundle is refused.
    let mut s2 = Session::initiate(&mut rng, &alice, &bundle).unwrap();
    let m2 = s2.encrypt(&mut rng, b"y").unwrap();
    assert_eq!(
        Session::respond(&bob, &mut owner, &m2).unwrap_err(),
        Error::Crypto(CryptoError::Replay)
    );
}

#[test]
fn failed_respond_keeps_the_one_time_prekey() {
    let mut rng = rng(4);
    let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let mut owner = PrekeyOwner::new(&mut rng, &bob);
    let bundle = fresh_bundle(&mut rng, &mut owner, &bob);
    let mut s = Session::initiate(&mut rng, &alice, &bundle).unwrap();
    let m = s.encrypt(&mut rng, b"x").unwrap();
    let mut bad = m.to_bytes();
    *bad.last_mut().unwrap() ^= 1;
    let bad = SessionMessage::from_bytes(&bad).unwrap();
    assert_eq!(
        Session::respond(&bob, &mut owner, &bad).unwrap_err(),
        Error::Crypto(CryptoError::DecryptionFailed)
    );
    assert_eq!(owner.one_time_count(), 1);
    assert!(Session::respond(&bob, &mut owner, &m).is_ok());
}

#[test]
fn rotation_keeps_one_previous_generation() {
    let mut rng = rng(5);
    let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let mut owner = PrekeyOwner::new(&mut rng, &bob);
    let old = owner.bundle(None).unwrap().verify().unwrap();
    owner.rotate(&mut rng, &bob).unwrap();
    assert_eq!(owner.signed_prekey().id(), 1);
    assert_ne!(
        owner.signed_prekey().key(),
        old.bundle().signed_prekey().key()
    );
    let mut s = Session::initiate(&mut rng, &alice, &old).unwrap();
    let m = s.encrypt(&mut rng, b"late").unwrap();
    assert!(Session::respond(&bob, &mut owner, &m).is_ok());
    owner.rotate(&mut rng, &bob).unwrap();
    assert_eq!(
        Session::respond(&bob, &mut owner, &m).unwrap_err(),
        Error::Crypto(CryptoError::UnknownPrekey)
    );
}

#[test]
fn owner_refuses_other_identities_and_oversized_batches() {
    let mut rng = rng(6);
    let (bob, eve) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let mut owner = PrekeyOwner::new(&mut rng, &bob);
    assert_eq!(
        owner.rotate(&mut rng, &eve).unwrap_err(),
        Error::Usage(UsageError::WrongIdentity)
    );
    assert!(matches!(
        owner.generate_one_time(&mut rng, MAX_ONE_TIME_PREKEYS + 1, &bob),
        Err(Error::Usage(UsageError::TooLarge { .. }))
    ));
    let batch = owner.generate_one_time(&mut rng, 3, &bob).unwrap();
    assert_eq!(batch.iter().map(|p| p.id()).collect::<Vec<_>>(), [0, 1, 2]);
}

#[test]
fn unknown_one_time_prekey_is_refused() {
    let mut rng = rng(7);
    let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let mut owner = PrekeyOwner::new(&mut rng, &bob);
    // A one-time prekey from another owner of the same identity, with an id ours never issued.
    let mut other = PrekeyOwner::from_bytes(&owner.to_bytes()).unwrap();
    let foreign = other
        .generate_one_time(&mut rng, 5, &bob)
        .unwrap()
        .remove(4);
    let bundle = owner.bundle(Some(&foreign)).unwrap().verify().unwrap();
    let mut s = Session::initiate(&mut rng, &alice, &bundle).unwrap();
    let m = s.encrypt(&mut rng, b"x").unwrap();
    assert_eq!(
        Session::respond(&bob, &mut owner, &m).unwrap_err(),
        Error::Crypto(CryptoError::UnknownPrekey)
    );
}

#[test]
fn bundle_signatures_are_checked_and_domain_separated() {
    let mut rng = rng(8);
    let (bob, eve) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let owner = PrekeyOwner::new(&mut rng, &bob);
    let good = owner.bundle(None).unwrap();
    // The last-resort prekey's signature does not pass as a signed prekey, nor vice versa.
    let swapped = PrekeyBundle::new(
        *bob.public(),
        *owner.last_resort_prekey(),
        BundlePrekey::LastResort(*owner.signed_prekey()),
        good.kem_prekey().clone(),
        good.sealing_key().clone(),
    );
    assert_eq!(swapped.verify().unwrap_err(), CryptoError::BadSignature);
    // Someone else's identity over Bob's prekeys.
    let forged = PrekeyBundle::new(
        *eve.public(),
        *good.signed_prekey(),
        *good.prekey(),
        good.kem_prekey().clone(),
        good.sealing_key().clone(),
    );
    assert_eq!(forged.verify().unwrap_err(), CryptoError::BadSignature);
    // Every single-bit change of the wire form is refused by decoding or by verification.
    let bytes = good.to_bytes();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        assert!(VerifiedBundle::from_bytes(&b).is_err(), "byte {i}");
    }
    assert_eq!(PrekeyBundle::from_bytes(&bytes).unwrap(), good);
}

#[test]
fn signed_prekey_type_round_trips_in_bundles() {
    let mut rng = rng(9);
    let bob = Identity::generate(&mut rng);
    let owner = PrekeyOwner::new(&mut rng, &bob);
    let sp: &SignedPrekey = owner.signed_prekey();
    assert_eq!(sp.id(), 0);
    assert_eq!(owner.last_resort_prekey().id(), 0);
    assert_eq!(owner.bundle(None).unwrap().signed_prekey(), sp);
}

#[test]
fn replays_are_refused_and_change_nothing() {
    let mut rng = rng(10);
    let mut p = established(&mut rng);
    let m1 = p.alice_session.encrypt(&mut rng, b"1").unwrap();
    let m2 = p.alice_session.encrypt(&mut rng, b"2").unwrap();
    assert_eq!(p.bob_session.decrypt(&m2).unwrap(), b"2");
    let before = p.bob_session.to_bytes();
    assert_eq!(
        p.bob_session.decrypt(&m2).unwrap_err(),
        Error::Crypto(CryptoError::Replay)
    );
    assert_eq!(p.bob_session.to_bytes(), before);
    assert_eq!(p.bob_session.decrypt(&m1).unwrap(), b"1");
    assert_eq!(
        p.bob_session.decrypt(&m1).unwrap_err(),
        Error::Crypto(CryptoError::Replay)
    );
    // A message of a chain that has since been replaced.
    let back = p.bob_session.encrypt(&mut rng, b"b").unwrap();
    p.alice_session.decrypt(&back).unwrap();
    let m3 = p.alice_session.encrypt(&mut rng, b"3").unwrap();
    let m4 = p.alice_session.encrypt(&mut rng, b"4").unwrap();
    p.bob_session.decrypt(&m4).unwrap();
    p.bob_session.decrypt(&m3).unwrap();
    assert!(p.bob_session.decrypt(&m1).is_err());
    assert!(p.bob_session.decrypt(&m3).is_err());
}

#[test]
fn gaps_beyond_max_skip_are_refused_without_state_change() {
    let mut rng = rng(11);
    let mut p = established(&mut rng);
    let msgs: Vec<_> = (0..=MAX_SKIP + 1)
        .map(|i| p.alice_session.encrypt(&mut rng, &i.to_be_bytes()).unwrap())
        .collect();
    let before = p.bob_session.to_bytes();
    let last = msgs.last().unwrap();
    assert_eq!(
        p.bob_session.decrypt(last).unwrap_err(),
        Error::Crypto(CryptoError::TooManySkipped)
    );
    assert_eq!(p.bob_session.to_bytes(), before);
    // Exactly MAX_SKIP skipped keys is allowed.
    let at_limit = &msgs[MAX_SKIP as usize];
    assert_eq!(
        p.bob_session.decrypt(at_limit).unwrap(),
        MAX_SKIP.to_be_bytes()
    );
    assert_eq!(p.bob_session.decrypt(&msgs[7]).unwrap(), 7u32.to_be_bytes());
}

#[test]
fn stored_skipped_keys_are_bounded_oldest_first() {
    let mut rng = rng(12);
    let mut p = established(&mut rng);
    let mut firsts = Vec::new();
    // Three chains, each leaving MAX_SKIP keys behind: 3000 > MAX_SKIPPED_KEYS.
    for _ in 0..3 {
        let chain: Vec<_> = (0..=MAX_SKIP)
            .map(|_| p.alice_session.encrypt(&mut rng, b"m").unwrap())
            .collect();
        p.bob_session.decrypt(chain.last().unwrap()).unwrap();
        firsts.push((chain[0].clone(), chain[MAX_SKIP as usize - 1].clone()));
        let back = p.bob_session.encrypt(&mut rng, b"b").unwrap();
        p.alice_session.decrypt(&back).unwrap();
    }
    assert!(MAX_SKIPPED_KEYS < 3 * MAX_SKIP as usize);
    // The oldest chain's keys were evicted; the newest chain's are still there.
    assert!(p.bob_session.decrypt(&firsts[0].0).is_err());
    assert_eq!(p.bob_session.decrypt(&firsts[2].0).unwrap(), b"m");
    assert_eq!(p.bob_session.decrypt(&firsts[1].1).unwrap(), b"m");
}

#[test]
fn state_round_trips_and_keeps_working() {
    let mut rng = rng(13);
    let mut p = established(&mut rng);
    let m = p.alice_session.encrypt(&mut rng, b"skipped").unwrap();
    let m2 = p.alice_session.encrypt(&mut rng, b"now").unwrap();
    p.bob_session.decrypt(&m2).unwrap();
    let bytes = p.bob_session.to_bytes();
    let mut restored = Session::from_bytes(&bytes).unwrap();
    assert_eq!(restored.to_bytes(), bytes);
    assert_eq!(restored.decrypt(&m).unwrap(), b"skipped");
    let back = restored.encrypt(&mut rng, b"back").unwrap();
    assert_eq!(p.alice_session.decrypt(&back).unwrap(), b"back");
    let owner = PrekeyOwner::from_bytes(&p.bob_prekeys.to_bytes()).unwrap();
    assert_eq!(owner.to_bytes(), p.bob_prekeys.to_bytes());

    let mut wrong_version = bytes.to_vec();
    wrong_version[0] = 5;
    assert_eq!(
        Session::from_bytes(&wrong_version).unwrap_err(),
        DecodeError::UnknownVersion {
            what: "session state",
            got: 5
        }
    );
    assert!(Session::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    let mut trailing = bytes.to_vec();
    trailing.push(0);
    assert!(Session::from_bytes(&trailing).is_err());
}

#[test]
fn initiator_sends_prekey_header_until_first_reply() {
    let mut rng = rng(14);
    let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let mut owner = PrekeyOwner::new(&mut rng, &bob);
    let bundle = fresh_bundle(&mut rng, &mut owner, &bob);
    let mut a = Session::initiate(&mut rng, &alice, &bundle).unwrap();
    let m1 = a.encrypt(&mut rng, b"1").unwrap();
    let m2 = a.encrypt(&mut rng, b"2").unwrap();
    assert_eq!(m2.prekey_identity(), Some(alice.public()));
    // Bob gets the second message first: it alone creates his session.
    let (mut b, pt) = Session::respond(&bob, &mut owner, &m2).unwrap();
    assert_eq!(pt, b"2");
    assert!(b.accepts(&m1));
    assert_eq!(b.decrypt(&m1).unwrap(), b"1");
    let reply = b.encrypt(&mut rng, b"r").unwrap();
    assert_eq!(reply.prekey_identity(), None);
    a.decrypt(&reply).unwrap();
    assert_eq!(a.encrypt(&mut rng, b"3").unwrap().prekey_identity(), None);
}

#[test]
fn store_routes_messages_and_creates_sessions() {
    let mut rng = rng(15);
    let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let mut owner = PrekeyOwner::new(&mut rng, &bob);
    let mut alice_owner = PrekeyOwner::new(&mut rng, &alice);
    let (mut alice_store, mut bob_store) = (MemorySessionStore::new(), MemorySessionStore::new());
    assert_eq!(
        session::send(&mut alice_store, &mut rng, bob.public(), b"x").unwrap_err(),
        Error::Crypto(CryptoError::NoSession)
    );
    let bundle = fresh_bundle(&mut rng, &mut owner, &bob);
    alice_store.save(
        bob.public(),
        Session::initiate(&mut rng, &alice, &bundle).unwrap(),
    );
    let m1 = session::send(&mut alice_store, &mut rng, bob.public(), b"1").unwrap();
    let m2 = session::send(&mut alice_store, &mut rng, bob.public(), b"2").unwrap();
    let recv = |store: &mut MemorySessionStore, owner: &mut PrekeyOwner, m: &SessionMessage| {
        session::receive(store, &bob, owner, alice.public(), m)
    };
    assert_eq!(recv(&mut bob_store, &mut owner, &m1).unwrap(), b"1");
    assert_eq!(recv(&mut bob_store, &mut owner, &m2).unwrap(), b"2");
    assert_eq!(
        recv(&mut bob_store, &mut owner, &m2).unwrap_err(),
        Error::Crypto(CryptoError::Replay)
    );
    // A prekey message claiming a different sender than the envelope's is refused.
    assert_eq!(
        session::receive(&mut bob_store, &bob, &mut owner, bob.public(), &m1).unwrap_err(),
        Error::Crypto(CryptoError::DecryptionFailed)
    );
    let r = session::send(&mut bob_store, &mut rng, alice.public(), b"r").unwrap();
    let pt =
        session::receive(&mut alice_store, &alice, &mut alice_owner, bob.public(), &r).unwrap();
    assert_eq!(pt, b"r");
}

#[test]
fn debug_output_shows_no_secrets() {
    let mut rng = rng(16);
    let p = established(&mut rng);
    let debug = format!("{:?} {:?}", p.bob_session, p.bob_prekeys);
    assert!(debug.contains("Session") && debug.contains("PrekeyOwner"));
    // Only public keys appear, and only as 8-byte prefixes: no longer run of hex digits.
    let longest_hex = debug
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap();
    assert!(longest_hex <= 16, "{debug}");
}

#[test]
fn every_truncation_of_stored_state_is_refused() {
    let mut rng = rng(17);
    let mut p = established(&mut rng);
    let m = p.alice_session.encrypt(&mut rng, b"a").unwrap();
    p.alice_session.encrypt(&mut rng, b"b").unwrap();
    let skipped = p.alice_session.encrypt(&mut rng, b"c").unwrap();
    p.bob_session.decrypt(&skipped).unwrap();
    p.bob_prekeys
        .generate_one_time(&mut rng, 3, &p.bob)
        .unwrap();
    p.bob_prekeys.rotate(&mut rng, &p.bob).unwrap();
    let session = p.bob_session.to_bytes();
    let owner = p.bob_prekeys.to_bytes();
    for len in 0..session.len() {
        assert!(
            Session::from_bytes(&session[..len]).is_err(),
            "session prefix {len}"
        );
    }
    for len in 0..owner.len() {
        assert!(
            PrekeyOwner::from_bytes(&owner[..len]).is_err(),
            "owner prefix {len}"
        );
    }
    let mut restored = Session::from_bytes(&session).unwrap();
    assert_eq!(restored.decrypt(&m).unwrap(), b"a");
    let restored_owner = PrekeyOwner::from_bytes(&owner).unwrap();
    assert_eq!(restored_owner.one_time_count(), 3);
    assert_eq!(
        restored_owner.signed_prekey(),
        p.bob_prekeys.signed_prekey()
    );
}

#[test]
fn inconsistent_owner_state_is_refused() {
    let mut rng = rng(18);
    let bob = Identity::generate(&mut rng);
    let owner = PrekeyOwner::new(&mut rng, &bob);
    let bytes = owner.to_bytes();
    // The generation-0 signed prekey's secret (after version, identity, id, key, signature)
    // no longer matches its published key.
    let secret_at = 1 + 64 + 1 + 32 + 64;
    let mut bad = bytes.to_vec();
    bad[secret_at] ^= 0x40;
    assert_eq!(
        PrekeyOwner::from_bytes(&bad).unwrap_err(),
        DecodeError::Invalid {
            what: "prekey owner state"
        }
    );
}

#[test]
fn a_relay_cannot_strip_swap_or_reuse_the_kem_prekey() {
    let mut rng = rng(40);
    let (bob, eve) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let mut owner = PrekeyOwner::new(&mut rng, &bob);
    let good = owner.bundle(None).unwrap();
    let one_time = owner.generate_one_time(&mut rng, 2, &bob).unwrap();
    let with_one_time = |pair: &OneTimePair, kem: &KemPrekey| {
        PrekeyBundle::new(
            *bob.public(),
            *good.signed_prekey(),
            BundlePrekey::OneTime(pair.prekey),
            kem.clone(),
            good.sealing_key().clone(),
        )
    };
    let bad = Err(CryptoError::BadSignature);
    // One-time prekey 0 with its own partner verifies; with 1's (another id), or with the
    // last-resort partner (another kind), it does not.
    assert!(
        with_one_time(&one_time[0], &one_time[0].kem)
            .verify()
            .is_ok()
    );
    assert_eq!(
        with_one_time(&one_time[0], &one_time[1].kem)
            .verify()
            .map(|_| ()),
        bad
    );
    assert_eq!(
        with_one_time(&one_time[0], good.kem_prekey())
            .verify()
            .map(|_| ()),
        bad
    );
    // The last-resort prekey with a one-time partner of the same id (0): another kind.
    let mixed = PrekeyBundle::new(
        *bob.public(),
        *good.signed_prekey(),
        *good.prekey(),
        one_time[0].kem.clone(),
        good.sealing_key().clone(),
    );
    assert_eq!(mixed.verify().map(|_| ()), bad);
    // Eve's KEM prekey, signed by Eve, in Bob's bundle.
    let eve_owner = PrekeyOwner::new(&mut rng, &eve);
    let eve_kem = eve_owner.bundle(None).unwrap().kem_prekey().clone();
    let swapped = PrekeyBundle::new(
        *bob.public(),
        *good.signed_prekey(),
        *good.prekey(),
        eve_kem,
        good.sealing_key().clone(),
    );
    assert_eq!(swapped.verify().map(|_| ()), bad);
    // Eve's sealing key, signed by Eve, in Bob's bundle; Bob's own from another generation
    // (its signature names generation 0, the signed prekey generation 1).
    let eve_sealing = eve_owner.bundle(None).unwrap().sealing_key().clone();
    let with_sealing = |key: SealingKey, signed| {
        PrekeyBundle::new(
            *bob.public(),
            signed,
            *good.prekey(),
            good.kem_prekey().clone(),
            key,
        )
    };
    let eve_sealed = with_sealing(eve_sealing, *good.signed_prekey());
    assert_eq!(eve_sealed.verify().map(|_| ()), bad);
    let mut rotated = owner.clone();
    rotated.rotate(&mut rng, &bob).unwrap();
    let newer = rotated.bundle(None).unwrap();
    assert_eq!(newer.sealing_key().id(), 1);
    let old_sealing = with_sealing(good.sealing_key().clone(), *newer.signed_prekey());
    assert_eq!(old_sealing.verify().map(|_| ()), bad);
    let newer_sealing = with_sealing(newer.sealing_key().clone(), *good.signed_prekey());
    assert_eq!(newer_sealing.verify().map(|_| ()), bad);
    // Stripped: a bundle without its sealing key does not decode.
    let bytes = good.to_bytes();
    let sealing_len = 1 + 2 + 1216 + 64;
    assert!(PrekeyBundle::from_bytes(&bytes[..bytes.len() - sealing_len]).is_err());
    // Stripped: a bundle without its KEM prekey does not decode.
    let bytes = good.to_bytes();
    let kem_len = 4 + 2 + 1184 + 64; // varint id 0 (1) is shorter; cut well into the key
    assert!(PrekeyBundle::from_bytes(&bytes[..bytes.len() - kem_len / 2]).is_err());
    // A one-time pair from the relay that is not 1280 bytes is refused by its length.
    let short = &one_time[0].to_bytes()[..ONE_TIME_PREKEY_LEN - 1];
    assert!(matches!(
        good.clone().with_one_time(0, short),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn the_prekey_header_carries_the_kem_ciphertext_until_the_reply() {
    let mut rng = rng(41);
    let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let mut owner = PrekeyOwner::new(&mut rng, &bob);
    let bundle = owner.bundle(None).unwrap().verify().unwrap();
    let mut a = Session::initiate(&mut rng, &alice, &bundle).unwrap();
    let first = a.encrypt(&mut rng, b"an offer").unwrap().to_bytes();
    let second = a.encrypt(&mut rng, b"a detail").unwrap();
    let (mut b, pt) = Session::respond(&bob, &mut owner, &second).unwrap();
    assert_eq!(pt, b"a detail");
    assert_eq!(
        b.decrypt(&SessionMessage::from_bytes(&first).unwrap())
            .unwrap(),
        b"an offer"
    );
    a.decrypt(&b.encrypt(&mut rng, b"ok").unwrap()).unwrap();
    let later = a.encrypt(&mut rng, b"thanks").unwrap().to_bytes();
    // Version 3; the 1088-byte ciphertext and the prekey header go once the reply is in.
    assert_eq!((first[0], later[0]), (3, 3));
    assert!(first.len() - later.len() > 1088 + 96);
}

#[test]
fn what_post_quantum_prekeys_cost_on_the_wire() {
    let mut rng = rng(42);
    let (alice, bob) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let mut owner = PrekeyOwner::new(&mut rng, &bob);
    // 1 version + 64 identity + 97 signed prekey + 98 last-resort prekey (260 before), then
    // the ML-KEM partner: varint id (1) + varint length (2) + 1184 + signature (64), then the
    // X-Wing sealing key: varint id (1) + varint length (2) + 1216 + signature (64).
    let bundle = owner.bundle(None).unwrap();
    assert_eq!(bundle.to_bytes().len(), 260 + 1251 + 1283);
    let pair = owner
        .generate_one_time(&mut rng, 1, &bob)
        .unwrap()
        .remove(0);
    assert_eq!(pair.to_bytes().len(), ONE_TIME_PREKEY_LEN);
    assert_eq!(ONE_TIME_PREKEY_LEN, 1280);
    // A first message carries the prekey header: 96 + ids + 1090 for the ML-KEM ciphertext;
    // its header ends with epoch 0 and no post-quantum offer.
    let verified = bundle.verify().unwrap();
    let mut a = Session::initiate(&mut rng, &alice, &verified).unwrap();
    let first = a.encrypt(&mut rng, b"").unwrap().to_bytes();
    assert_eq!(
        first.len(),
        1 + 1 + (64 + 32 + 1 + 2 + 2 + 1088) + (32 + 1 + 1 + 1 + 1) + 1 + 16
    );
}
