//! Properties of the relay's credential check (PROTOCOL.md §11.2), over random registrations
//! and random submissions: an envelope reaches exactly the recipients whose keys it presents,
//! and any tampered or guessed credential reaches nobody.
#![cfg(feature = "relay")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod relay_support;

use axum::http::StatusCode;
use missive::access::{AccessKey, AccessUpdate, Credential, Submission};
use missive::mailbox::MailboxKey;
use missive::relay::RelayState;
use missive::relay_api::Undelivered;
use proptest::prelude::*;
use relay_support::{auth, call, in_process, opaque_raw};

/// A relay with `mailboxes` registered: each with a contact key and `extra` more keys.
async fn registered(keys: &[(MailboxKey, AccessKey, Vec<AccessKey>)]) -> RelayState {
    let state = in_process(missive::relay::RelayConfig {
        rate_per_second: u32::MAX,
        rate_burst: u32::MAX,
        ..missive::relay::RelayConfig::default()
    });
    for (mailbox, contact, extra) in keys {
        // A set of keys, as a client sends it: in increasing order, each once.
        let mut add = extra.clone();
        add.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        add.dedup();
        let body = AccessUpdate {
            contact: Some(contact.clone()),
            add,
            ..AccessUpdate::default()
        }
        .to_bytes();
        let proof = auth(mailbox, "PUT", "/v1/mailbox/access", &body);
        let (status, _) = call(&state, "PUT", "/v1/mailbox/access", Some(proof), body).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    state
}

fn key(bytes: [u8; 16]) -> AccessKey {
    AccessKey::from_bytes(bytes)
}

/// A mailbox key's seed, its contact key, and more keys it registers.
type Spec = ([u8; 32], [u8; 16], Vec<[u8; 16]>);

/// Up to six mailboxes, each with a contact key and up to two more keys.
fn mailboxes() -> impl Strategy<Value = Vec<Spec>> {
    proptest::collection::vec(
        (
            any::<[u8; 32]>(),
            any::<[u8; 16]>(),
            proptest::collection::vec(any::<[u8; 16]>(), 0..3),
        ),
        1..6,
    )
}

fn setup(spec: &[Spec]) -> Vec<(MailboxKey, AccessKey, Vec<AccessKey>)> {
    spec.iter()
        .map(|(seed, contact, extra)| {
            (
                MailboxKey::from_seed(seed),
                key(*contact),
                extra.iter().map(|k| key(*k)).collect(),
            )
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The XOR of the recipients' contact keys gets through; with any bit flipped, or one
    /// recipient's key swapped for a guess, it gets nowhere.
    #[test]
    fn combined_contact_keys_admit_exactly_when_they_match(
        spec in mailboxes(),
        chosen in any::<u64>(),
        flip in 0usize..128,
        guess in any::<[u8; 16]>(),
    ) {
        let keys = setup(&spec);
        runtime().block_on(async {
            let state = registered(&keys).await;
            let mut to: Vec<_> = keys
                .iter()
                .enumerate()
                .filter(|(i, _)| chosen >> i & 1 == 1 || *i == 0)
                .map(|(_, k)| k)
                .collect();
            to.sort_by_key(|k| *k.0.id());
            to.dedup_by_key(|k| *k.0.id());
            let ids: Vec<_> = to.iter().map(|k| *k.0.id()).collect();
            let submit = |credential: Credential| Submission {
                credential,
                envelope: opaque_raw(&ids, 100),
            }
            .to_bytes();
            let right = AccessKey::combine(to.iter().map(|k| &k.1));
            let (status, _) = call(&state, "POST", "/v1/envelopes", None, submit(Credential::Contacts(right.clone()))).await;
            prop_assert_eq!(status, StatusCode::ACCEPTED);
            let mut bent = *right.as_bytes();
            bent[flip / 8] ^= 1 << (flip % 8);
            let (status, _) = call(&state, "POST", "/v1/envelopes", None, submit(Credential::Contacts(key(bent)))).await;
            prop_assert_eq!(status, StatusCode::FORBIDDEN);
            let guessed = AccessKey::combine(
                std::iter::once(&key(guess)).chain(to.iter().skip(1).map(|k| &k.1)),
            );
            if guessed != right {
                let (status, _) = call(&state, "POST", "/v1/envelopes", None, submit(Credential::Contacts(guessed))).await;
                prop_assert_eq!(status, StatusCode::FORBIDDEN);
            }
            Ok(())
        })?;
    }

    /// With per-recipient keys, each recipient is reached exactly when one of the keys
    /// presented for it is one it registered; the others are named, and if nobody is reached
    /// the submission is refused.
    #[test]
    fn per_recipient_keys_reach_exactly_the_recipients_they_match(
        spec in mailboxes(),
        right in any::<u64>(),
        guess in any::<[u8; 16]>(),
    ) {
        let keys = setup(&spec);
        runtime().block_on(async {
            let state = registered(&keys).await;
            let mut to: Vec<_> = keys.iter().collect();
            to.sort_by_key(|k| *k.0.id());
            to.dedup_by_key(|k| *k.0.id());
            let ids: Vec<_> = to.iter().map(|k| *k.0.id()).collect();
            let mut reached = Vec::new();
            let mut missed = Vec::new();
            let lists: Vec<Vec<AccessKey>> = to
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    if right >> i & 1 == 1 {
                        reached.push(*k.0.id());
                        // Any key it registered: the contact key or one of the others.
                        let pick = (right >> 32) as usize % (k.2.len() + 1);
                        vec![key(guess), k.2.get(pick).cloned().unwrap_or_else(|| k.1.clone())]
                    } else {
                        missed.push(*k.0.id());
                        vec![key(guess)]
                    }
                })
                .collect();
            let registered_guess = keys.iter().any(|k| k.1 == key(guess) || k.2.contains(&key(guess)));
            prop_assume!(!registered_guess);
            let body = Submission { credential: Credential::Keys(lists), envelope: opaque_raw(&ids, 100) }.to_bytes();
            let (status, answer) = call(&state, "POST", "/v1/envelopes", None, body).await;
            if reached.is_empty() {
                prop_assert_eq!(status, StatusCode::FORBIDDEN);
            } else {
                prop_assert_eq!(status, StatusCode::ACCEPTED);
                let named = if answer.is_empty() { Vec::new() } else { Undelivered::from_bytes(&answer).unwrap().mailboxes };
                prop_assert_eq!(named, missed);
            }
            Ok(())
        })?;
    }
}
