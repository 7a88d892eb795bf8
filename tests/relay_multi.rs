//! Three relays on one PostgreSQL database, each serving HTTP on its own socket with its own
//! memory, as separate processes behind a load balancer would: what one relay is told, the
//! others act on.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod relay_support;

use std::time::{Duration, Instant};

use missive::access::{AccessKey, Credential, Submission};
use missive::mailbox::{MailboxId, MailboxKey};
use missive::relay::RelayConfig;
use missive::relay_api::DeliveryPage;
use relay_support::pg::Scratch;
use relay_support::*;

/// How long a registration or revocation through one relay may take to reach the others.
const FOLLOW_BOUND: Duration = Duration::from_secs(1);

fn three(db: &Scratch) -> Vec<LiveRelay> {
    (0..3)
        .map(|_| LiveRelay::start_on(&db.url, RelayConfig::default()))
        .collect()
}

/// An envelope to `mailbox` presenting its contact key `key`.
fn to(mailbox: MailboxId, key: &AccessKey) -> Vec<u8> {
    Submission {
        credential: Credential::Contacts(key.clone()),
        envelope: opaque_raw(&[mailbox], 600),
    }
    .to_bytes()
}

fn post(relay: &LiveRelay, submission: &[u8]) -> u16 {
    http("POST", &relay.url("/v1/envelopes"), None, submission).0
}

/// Waits (at most [`FOLLOW_BOUND`] from `since`) until `relay` answers `status` to
/// `submission`.
fn answers(relay: &LiveRelay, submission: &[u8], status: u16, since: Instant) {
    loop {
        let got = post(relay, submission);
        if got == status {
            return;
        }
        assert!(
            since.elapsed() < FOLLOW_BOUND,
            "still {got}, not {status}, {:?} after the change",
            since.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn fetch(relay: &LiveRelay, key: &MailboxKey) -> (u16, Vec<u8>) {
    let path = "/v1/mailbox?after=0";
    http(
        "GET",
        &relay.url(path),
        Some(&auth(key, "GET", path, b"")),
        b"",
    )
}

#[test]
fn registrations_and_revocations_through_one_relay_reach_the_others_within_a_second() {
    let Some(db) = Scratch::fresh() else { return };
    let relays = three(&db);
    let bob = mailbox_key();
    let old = register_contact(&relays[0].url(""), &bob);
    let registered = Instant::now();
    for relay in &relays {
        answers(relay, &to(*bob.id(), &old), 202, registered);
    }
    // Bob replaces his contact key through another relay: the old one stops working
    // everywhere, the new one works everywhere.
    let new = register_contact(&relays[2].url(""), &bob);
    let revoked = Instant::now();
    for relay in &relays {
        answers(relay, &to(*bob.id(), &old), 403, revoked);
        answers(relay, &to(*bob.id(), &new), 202, revoked);
    }
    // Whichever relay took them, bob fetches them all through any relay.
    let (status, body) = fetch(&relays[1], &bob);
    assert_eq!(status, 200);
    let page = DeliveryPage::from_bytes(&body).unwrap();
    assert!(page.deliveries.len() >= 6, "{}", page.deliveries.len());
    let seqs: Vec<u64> = page.deliveries.iter().map(|d| d.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[test]
fn a_mailbox_proof_is_taken_by_one_relay_only() {
    let Some(db) = Scratch::fresh() else { return };
    let relays = three(&db);
    let bob = mailbox_key();
    let path = "/v1/mailbox?after=0";
    let proof = auth(&bob, "GET", path, b"");
    let first = http("GET", &relays[0].url(path), Some(&proof), b"");
    assert_eq!(first.0, 200);
    for relay in &relays {
        let (status, body) = http("GET", &relay.url(path), Some(&proof), b"");
        assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("already used"));
    }
}

#[test]
fn a_relay_started_later_admits_what_was_registered_before() {
    let Some(db) = Scratch::fresh() else { return };
    let first = LiveRelay::start_on(&db.url, RelayConfig::default());
    let bob = mailbox_key();
    let contact = register_contact(&first.url(""), &bob);
    // A fourth relay joins the pool: it knows bob's key from its first request on.
    let later = LiveRelay::start_on(&db.url, RelayConfig::default());
    assert_eq!(post(&later, &to(*bob.id(), &contact)), 202);
    assert_eq!(
        post(
            &later,
            &to(*bob.id(), &AccessKey::generate(&mut rand::rng()))
        ),
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_taken_by_one_relay_is_pushed_by_the_relay_holding_the_socket() {
    let Some(db) = Scratch::fresh() else { return };
    let (taker, holder) = (
        LiveRelay::start_on(&db.url, RelayConfig::default()),
        LiveRelay::start_on(&db.url, RelayConfig::default()),
    );
    let bob = mailbox_key();
    let taker_url = taker.url("");
    let bob_seed = bob.to_seed();
    let contact = tokio::task::spawn_blocking(move || {
        register_contact(&taker_url, &MailboxKey::from_seed(&bob_seed))
    })
    .await
    .unwrap();
    let mut socket = connect(&holder, &bob).await;
    // The socket's backlog is empty; then a delivery through the other relay arrives on it.
    let submission = to(*bob.id(), &contact);
    let sent = submission.clone();
    let taker_url = taker.url("/v1/envelopes");
    let status = tokio::task::spawn_blocking(move || http("POST", &taker_url, None, &sent).0)
        .await
        .unwrap();
    assert_eq!(status, 202);
    let frame = next_frame(&mut socket).await;
    assert_eq!(frame.id, envelope_id(&submission));
    assert!(frame.seq > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_pushes_what_it_took_once_not_again_on_its_own_notification() {
    use futures_util::StreamExt;
    let Some(db) = Scratch::fresh() else { return };
    let relay = LiveRelay::start_on(&db.url, RelayConfig::default());
    let bob = mailbox_key();
    let (url, seed) = (relay.url(""), bob.to_seed());
    let contact =
        tokio::task::spawn_blocking(move || register_contact(&url, &MailboxKey::from_seed(&seed)))
            .await
            .unwrap();
    let mut socket = connect(&relay, &bob).await;
    let submission = to(*bob.id(), &contact);
    let (sent, url) = (submission.clone(), relay.url("/v1/envelopes"));
    let status = tokio::task::spawn_blocking(move || http("POST", &url, None, &sent).0)
        .await
        .unwrap();
    assert_eq!(status, 202);
    assert_eq!(next_frame(&mut socket).await.id, envelope_id(&submission));
    // Its own notification comes back to it too; it must not send the delivery again.
    let again = tokio::time::timeout(Duration::from_secs(1), socket.next()).await;
    assert!(again.is_err(), "the delivery came a second time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typing_indicator_reaches_sockets_on_other_relays_and_is_never_stored() {
    use futures_util::StreamExt;
    let Some(db) = Scratch::fresh() else { return };
    let relays: Vec<LiveRelay> = tokio::task::block_in_place(|| three(&db));
    let (bob, carol) = (mailbox_key(), mailbox_key());
    let base = relays[0].url("");
    let seeds = (bob.to_seed(), carol.to_seed());
    let keys = tokio::task::spawn_blocking(move || {
        (
            register_contact(&base, &MailboxKey::from_seed(&seeds.0)),
            register_contact(&base, &MailboxKey::from_seed(&seeds.1)),
        )
    })
    .await
    .unwrap();
    // Bob listens on the second relay, Carol on the third; the indicator goes to the first.
    let mut bob_socket = connect(&relays[1], &bob).await;
    let mut carol_socket = connect(&relays[2], &carol).await;
    let mut recipients = [*bob.id(), *carol.id()];
    recipients.sort_unstable();
    let submission = |body: &[u8]| {
        let envelope = missive::envelope::Envelope::to_mailboxes(4_000_000_000, &recipients, body)
            .unwrap()[0]
            .to_bytes();
        Submission {
            credential: Credential::Contacts(AccessKey::combine([&keys.0, &keys.1])),
            envelope,
        }
        .to_bytes()
    };
    // A stored message first: once each socket has it, each socket's relay subscribed its
    // mailbox (it subscribes before it reads the backlog), so a push cannot miss it.
    let (stored, url) = (submission(b"stored first"), relays[0].url("/v1/envelopes"));
    let status = tokio::task::spawn_blocking(move || http("POST", &url, None, &stored).0)
        .await
        .unwrap();
    assert_eq!(status, 202);
    for socket in [&mut bob_socket, &mut carol_socket] {
        assert_ne!(next_frame(socket).await.seq, 0, "the stored message");
    }
    let mut body = vec![0u8; 200];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut body);
    let submission = submission(&body);
    let (sent, url) = (submission.clone(), relays[0].url("/v1/ephemeral"));
    let status = tokio::task::spawn_blocking(move || http("POST", &url, None, &sent).0)
        .await
        .unwrap();
    assert_eq!(status, 202);
    for socket in [&mut bob_socket, &mut carol_socket] {
        let frame = next_frame(socket).await;
        assert_eq!(frame.id, envelope_id(&submission));
        assert_eq!(frame.seq, 0, "pushed, not fetched from storage");
    }
    // Once only, and nowhere in the database.
    let again = tokio::time::timeout(Duration::from_millis(500), bob_socket.next()).await;
    assert!(again.is_err(), "the indicator came a second time");
    let dump = tokio::task::block_in_place(|| db.dump());
    assert!(
        !dump.windows(body.len()).any(|w| w == body),
        "the indicator's body is in the database"
    );
    drop(relays);
}

/// A sponsored token issued through `relay` to a fresh advertiser of `platform`.
fn sponsored_token(
    relay: &LiveRelay,
    platform: &missive::platform::Platform,
) -> missive::token::Token {
    use missive::platform::{Platform, Profile, month_of};
    use missive::relay::system_clock;
    use missive::relay_api::{TokenIssue, TokenIssued};
    use missive::token::{TokenKind, request_tokens};
    let mut signer = Platform::from_seed(&platform.to_seed());
    let advertiser = mailbox_key();
    signer.register(*advertiser.id(), Profile::FREE);
    let account = signer
        .certify_account(advertiser.id(), true, system_clock() + 3_600)
        .unwrap();
    let (pending, request) = request_tokens(
        &mut rand::rng(),
        TokenKind::Sponsored,
        month_of(system_clock()),
        1,
    )
    .unwrap();
    let body = TokenIssue {
        account,
        request,
        purchase: None,
    }
    .to_bytes();
    let proof = auth(&advertiser, "POST", "/v1/tokens", &body);
    let (status, answer) = http("POST", &relay.url("/v1/tokens"), Some(&proof), &body);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let issued = TokenIssued::from_bytes(&answer).unwrap();
    pending
        .finish(&issued.response, &issued.key)
        .unwrap()
        .remove(0)
}

#[test]
fn a_token_spent_32_times_at_once_through_three_relays_is_taken_once() {
    let Some(db) = Scratch::fresh() else { return };
    let platform = missive::platform::Platform::new(&mut rand::rng());
    let config = || RelayConfig {
        platform: Some(platform.public_key()),
        ..RelayConfig::default()
    };
    let relays: Vec<LiveRelay> = (0..3)
        .map(|_| LiveRelay::start_on(&db.url, config()))
        .collect();
    let token = sponsored_token(&relays[0], &platform);
    // 32 envelopes, each to another mailbox, spending the one token through all three relays.
    let submissions: Vec<Vec<u8>> = (0..32)
        .map(|_| {
            Submission {
                credential: Credential::Token(token.clone()),
                envelope: opaque_raw(&[*mailbox_key().id()], 200),
            }
            .to_bytes()
        })
        .collect();
    let barrier = std::sync::Barrier::new(submissions.len());
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = submissions
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let (relay, barrier) = (&relays[i % 3], &barrier);
                s.spawn(move || {
                    barrier.wait();
                    post(relay, body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        31,
        "{statuses:?}"
    );
}

#[test]
fn one_time_prekeys_claimed_at_once_through_three_relays_go_out_once() {
    use missive::relay_api::{OneTimePrekey, PrekeyResponse, PublishPrekeys};
    let Some(db) = Scratch::fresh() else { return };
    let relays = three(&db);
    let bob = mailbox_key();
    let path = format!("/v1/directory/{}", hex::encode("bob"));
    let body = PublishPrekeys {
        bundle: b"bundle".to_vec(),
        one_time: (0..60u32)
            .map(|id| OneTimePrekey {
                id,
                key: id.to_be_bytes().repeat(8),
            })
            .collect(),
    }
    .to_bytes();
    let proof = auth(&bob, "PUT", &path, &body);
    assert_eq!(
        http("PUT", &relays[0].url(&path), Some(&proof), &body).0,
        204
    );
    let barrier = std::sync::Barrier::new(9);
    let claimed: Vec<u32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..9)
            .map(|t| {
                let (relay, path, barrier) = (&relays[t % 3], &path, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    (0..10)
                        .filter_map(|_| {
                            let proof = auth(&mailbox_key(), "GET", path, b"");
                            let (status, body) = http("GET", &relay.url(path), Some(&proof), b"");
                            assert_eq!(status, 200);
                            let key = PrekeyResponse::from_bytes(&body).unwrap().one_time?;
                            assert_eq!(key.key, key.id.to_be_bytes().repeat(8));
                            Some(key.id)
                        })
                        .collect::<Vec<u32>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    // 90 claims for 60 keys: every key once, the other 30 claims get the last resort.
    assert_eq!(claimed.len(), 60);
    let unique: std::collections::HashSet<u32> = claimed.iter().copied().collect();
    assert_eq!(unique.len(), 60, "a key went out twice");
}

#[test]
fn a_reader_following_its_mailbox_while_three_relays_write_to_it_skips_nothing() {
    let Some(db) = Scratch::fresh() else { return };
    let relays = three(&db);
    let bob = mailbox_key();
    let contact = register_contact(&relays[0].url(""), &bob);
    std::thread::sleep(Duration::from_millis(600));
    let done = std::sync::atomic::AtomicBool::new(false);
    let (acked, read) = std::thread::scope(|s| {
        let writers: Vec<_> = relays
            .iter()
            .map(|relay| {
                let contact = &contact;
                let bob = *bob.id();
                s.spawn(move || {
                    (0..60)
                        .filter_map(|_| {
                            let submission = to(bob, contact);
                            (post(relay, &submission) == 202).then(|| envelope_id(&submission))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        // Bob pages through with `after` as writes land, through yet another relay in turn.
        let reader = s.spawn(|| {
            let (mut after, mut read, mut turn) = (0u64, Vec::new(), 0);
            loop {
                let finished = done.load(std::sync::atomic::Ordering::Acquire);
                let path = format!("/v1/mailbox?after={after}&limit=16");
                let proof = auth(&bob, "GET", &path, b"");
                let (status, body) = http("GET", &relays[turn % 3].url(&path), Some(&proof), b"");
                turn += 1;
                assert_eq!(status, 200);
                let page = DeliveryPage::from_bytes(&body).unwrap().deliveries;
                if let Some(last) = page.last() {
                    assert!(last.seq > after);
                    after = last.seq;
                } else if finished {
                    return read;
                }
                read.extend(page.iter().map(|d| d.id));
            }
        });
        let acked: Vec<[u8; 16]> = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        done.store(true, std::sync::atomic::Ordering::Release);
        (acked, reader.join().unwrap())
    });
    assert_eq!(acked.len(), 180);
    assert_eq!(read.len(), acked.len(), "read each once, none skipped");
    let read: std::collections::HashSet<[u8; 16]> = read.into_iter().collect();
    assert!(
        acked.iter().all(|id| read.contains(id)),
        "a delivery was skipped"
    );
}

#[test]
fn a_relay_caching_few_access_records_admits_and_revokes_for_many_mailboxes() {
    let Some(db) = Scratch::fresh() else { return };
    let writer = LiveRelay::start_on(&db.url, RelayConfig::default());
    // Room for 4 records: most of the 12 mailboxes are read from the database each time.
    let small = LiveRelay::start_on(
        &db.url,
        RelayConfig {
            access_cache: 4,
            ..RelayConfig::default()
        },
    );
    let keys: Vec<MailboxKey> = (0..12).map(|_| mailbox_key()).collect();
    let old: Vec<AccessKey> = keys
        .iter()
        .map(|k| register_contact(&writer.url(""), k))
        .collect();
    for _ in 0..2 {
        for (k, contact) in keys.iter().zip(&old) {
            assert_eq!(post(&small, &to(*k.id(), contact)), 202);
            let guessed = AccessKey::generate(&mut rand::rng());
            assert_eq!(post(&small, &to(*k.id(), &guessed)), 403);
        }
    }
    // Every mailbox replaces its key through the other relay: cached or not, the old key
    // stops working on the small one within the bound, and the new one works.
    let new: Vec<AccessKey> = keys
        .iter()
        .map(|k| register_contact(&writer.url(""), k))
        .collect();
    let replaced = Instant::now();
    for ((k, old), new) in keys.iter().zip(&old).zip(&new) {
        answers(&small, &to(*k.id(), old), 403, replaced);
        answers(&small, &to(*k.id(), new), 202, replaced);
    }
}
