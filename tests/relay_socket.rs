//! The relay over a real socket: every endpoint through an HTTP client and a WebSocket client,
//! with genuine envelopes made by the engine.
#![cfg(feature = "relay")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod relay_support;

use missive::access::Submission;

use std::collections::HashSet;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use missive::envelope::{Delivery, Envelope, MailboxId};
use missive::mailbox::MailboxKey;
use missive::relay::RelayConfig;
use missive::relay_api::{
    Ack, DeliveredEnvelope, DeliveryPage, OneTimePrekey, PrekeyResponse, PublishPrekeys,
};
use relay_support::*;
use tokio_tungstenite::tungstenite::Message;

fn submit(relay: &LiveRelay, envelope: &[u8]) -> u16 {
    http("POST", &relay.url("/v1/envelopes"), None, envelope).0
}

fn fetch(relay: &LiveRelay, key: &MailboxKey, query: &str) -> Vec<DeliveredEnvelope> {
    let path = format!("/v1/mailbox{query}");
    let proof = auth(key, "GET", &path, b"");
    let (status, body) = http("GET", &relay.url(&path), Some(&proof), b"");
    assert_eq!(status, 200);
    DeliveryPage::from_bytes(&body).unwrap().deliveries
}

fn ack(relay: &LiveRelay, key: &MailboxKey, ids: Vec<[u8; 16]>) {
    let body = Ack { ids }.to_bytes();
    let proof = auth(key, "POST", "/v1/mailbox/ack", &body);
    assert_eq!(
        http("POST", &relay.url("/v1/mailbox/ack"), Some(&proof), &body).0,
        204
    );
}

fn metrics(relay: &LiveRelay) -> String {
    String::from_utf8(http("GET", &relay.url("/metrics"), None, b"").1).unwrap()
}

fn publish(relay: &LiveRelay, key: &MailboxKey, user: &str, request: &PublishPrekeys) -> u16 {
    let path = format!("/v1/directory/{}", hex::encode(user));
    let body = request.to_bytes();
    let proof = auth(key, "PUT", &path, &body);
    http("PUT", &relay.url(&path), Some(&proof), &body).0
}

/// `user`'s directory entry, as a new requester gets it.
fn lookup(relay: &LiveRelay, user: &str) -> (u16, Option<PrekeyResponse>) {
    let path = format!("/v1/directory/{}", hex::encode(user));
    let proof = auth(&mailbox_key(), "GET", &path, b"");
    let (status, body) = http("GET", &relay.url(&path), Some(&proof), b"");
    (status, PrekeyResponse::from_bytes(&body).ok())
}

/// A relay whose directory hands out one-time prekeys as fast as they are asked for.
fn generous() -> RelayConfig {
    RelayConfig {
        one_time_per_hour: 1_000_000,
        ..unchecked()
    }
}

#[test]
fn directory_publish_lookup_and_ownership() {
    let relay = LiveRelay::start(unchecked());
    let (bob, mallory) = (mailbox_key(), mailbox_key());
    let request = PublishPrekeys {
        bundle: b"bob's bundle".to_vec(),
        one_time: vec![OneTimePrekey {
            id: 7,
            key: vec![7; 32],
        }],
    };
    assert_eq!(lookup(&relay, "bob").0, 404);
    assert_eq!(publish(&relay, &bob, "bob", &request), 204);
    let (status, found) = lookup(&relay, "bob");
    let found = found.unwrap();
    assert_eq!(
        (status, found.mailbox, found.bundle.as_slice()),
        (200, *bob.id(), &b"bob's bundle"[..])
    );
    assert_eq!(
        found.one_time,
        Some(OneTimePrekey {
            id: 7,
            key: vec![7; 32]
        })
    );
    assert_eq!(
        lookup(&relay, "bob").1.unwrap().one_time,
        None,
        "the last resort once they ran out"
    );
    // Only Bob's mailbox may replace Bob's entry.
    let forged = PublishPrekeys {
        bundle: b"mallory".to_vec(),
        one_time: vec![],
    };
    assert_eq!(publish(&relay, &mallory, "bob", &forged), 403);
    let replaced = PublishPrekeys {
        bundle: b"bob, rotated".to_vec(),
        one_time: vec![],
    };
    assert_eq!(publish(&relay, &bob, "bob", &replaced), 204);
    assert_eq!(lookup(&relay, "bob").1.unwrap().bundle, b"bob, rotated");
}

#[test]
fn one_time_prekeys_go_out_at_most_once_under_concurrent_fetches() {
    let relay = LiveRelay::start(generous());
    let bob = mailbox_key();
    let request = PublishPrekeys {
        bundle: b"bundle".to_vec(),
        one_time: (0..60)
            .map(|id| OneTimePrekey {
                id,
                key: id.to_be_bytes().repeat(8),
            })
            .collect(),
    };
    assert_eq!(publish(&relay, &bob, "bob", &request), 204);
    let got: Vec<Option<u32>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..10)
                        .map(|_| {
                            let (status, found) = lookup(&relay, "bob");
                            assert_eq!(status, 200);
                            found.unwrap().one_time.map(|k| {
                                assert_eq!(k.key, k.id.to_be_bytes().repeat(8));
                                k.id
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let ids: Vec<u32> = got.iter().flatten().copied().collect();
    assert_eq!(
        ids.len(),
        60,
        "every key handed out; 20 fetches got the last resort"
    );
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 60, "none twice");
}

#[test]
fn single_and_fifty_recipient_envelopes_store_the_body_once() {
    let relay = LiveRelay::start(unchecked());
    let keys: Vec<MailboxKey> = (0..50).map(|_| mailbox_key()).collect();
    let ids: Vec<MailboxId> = keys.iter().map(|k| *k.id()).collect();
    let single = group_envelopes(&ids[..1], b"to one");
    assert_eq!(submit(&relay, &submission(single[0].to_bytes())), 202);
    let fifty = group_envelopes(&ids, &[5; 1024]);
    assert_eq!(fifty.len(), 1, "one envelope for 50 recipients");
    assert_eq!(submit(&relay, &submission(fifty[0].to_bytes())), 202);
    let text = metrics(&relay);
    assert_eq!(metric(&text, "missive_envelopes_accepted_total"), 2);
    assert_eq!(metric(&text, "missive_deliveries_total"), 51);
    assert_eq!(metric(&text, "missive_pending_deliveries"), 51);
    assert_eq!(
        metric(&text, "missive_bodies_stored"),
        2,
        "the 50-recipient body once"
    );
    let stored = metric(&text, "missive_bytes_stored") as usize;
    assert!(
        stored < 2 * fifty[0].body().len() + single[0].body().len(),
        "{stored}"
    );
    for (i, key) in keys.iter().enumerate().step_by(7) {
        let got = fetch(&relay, key, "");
        let expect: Vec<&Envelope> = if i == 0 {
            vec![&single[0], &fifty[0]]
        } else {
            vec![&fifty[0]]
        };
        assert_eq!(got.len(), expect.len());
        for (d, e) in got.iter().zip(expect) {
            let delivery = Delivery::from_bytes(&d.delivery).unwrap();
            assert_eq!((delivery.id(), delivery.mailbox()), (e.id(), *key.id()));
            assert_eq!((delivery.body(), d.id), (e.body(), e.id().0));
        }
    }
    // The same envelope again is accepted and stored once (at-least-once delivery).
    assert_eq!(submit(&relay, &submission(fifty[0].to_bytes())), 202);
    assert_eq!(metric(&metrics(&relay), "missive_pending_deliveries"), 51);
    assert_eq!(metric(&metrics(&relay), "missive_bodies_stored"), 2);
}

#[test]
fn fetch_pages_and_ack_deletes() {
    let relay = LiveRelay::start(unchecked());
    let key = mailbox_key();
    let sent: Vec<Vec<u8>> = (0..5).map(|_| opaque_envelope(&[*key.id()], 300)).collect();
    for e in &sent {
        assert_eq!(submit(&relay, e), 202);
    }
    let first = fetch(&relay, &key, "?limit=2");
    assert_eq!(first.len(), 2);
    let rest = fetch(&relay, &key, &format!("?after={}&limit=10", first[1].seq));
    assert_eq!(rest.len(), 3);
    let order: Vec<[u8; 16]> = first.iter().chain(&rest).map(|d| d.id).collect();
    let expected: Vec<[u8; 16]> = sent.iter().map(|e| envelope_id(e)).collect();
    assert_eq!(order, expected, "oldest first");
    assert!(
        first
            .iter()
            .chain(&rest)
            .all(|d| d.received_at > 1_700_000_000)
    );
    ack(&relay, &key, order[..3].to_vec());
    assert_eq!(
        fetch(&relay, &key, "")
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        order[3..]
    );
    ack(&relay, &key, order[3..].to_vec());
    assert!(fetch(&relay, &key, "").is_empty());
    let text = metrics(&relay);
    assert_eq!(metric(&text, "missive_acks_total"), 5);
    assert_eq!(
        (
            metric(&text, "missive_bodies_stored"),
            metric(&text, "missive_bytes_stored")
        ),
        (0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_sends_backlog_then_live_pushes_and_takes_acks() {
    let relay = LiveRelay::start(unchecked());
    let key = mailbox_key();
    let backlog: Vec<Vec<u8>> = (0..3).map(|_| envelope_to(*key.id())).collect();
    for e in &backlog {
        assert_eq!(submit(&relay, e), 202);
    }
    let mut ws = connect(&relay, &key).await;
    let mut seen = Vec::new();
    for e in &backlog {
        let frame = next_frame(&mut ws).await;
        assert_eq!(frame.id, envelope_id(e));
        assert!(frame.seq > 0, "stored deliveries carry their sequence");
        seen.push(frame.id);
    }
    let live = envelope_to(*key.id());
    assert_eq!(submit(&relay, &live), 202);
    let frame = next_frame(&mut ws).await;
    let delivery = Delivery::from_bytes(&frame.delivery).unwrap();
    let sent = Submission::from_bytes(&live).unwrap().envelope;
    assert_eq!(delivery.body(), Envelope::from_bytes(&sent).unwrap().body());
    seen.push(frame.id);
    // Acknowledge everything over the socket; the mailbox empties.
    ws.send(Message::Binary(Ack { ids: seen }.to_bytes().into()))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while metric(&metrics(&relay), "missive_pending_deliveries") > 0 {
        assert!(std::time::Instant::now() < deadline, "acks over the socket");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = metrics(&relay);
    assert_eq!(metric(&text, "missive_acks_total"), 4);
    // 3 backlog frames and 1 live push; a delivery committed before the backlog's last (empty)
    // page was read goes out both ways, and the client drops the copy by envelope id.
    let pushes = metric(&text, "missive_pushes_total");
    assert!((4..=5).contains(&pushes), "{pushes} pushes");
    // A frame that is not an Ack closes the stream.
    ws.send(Message::Binary(vec![0xff].into())).await.unwrap();
    // The duplicate push, if there was one, may still be on its way.
    let mut duplicates = pushes - 4;
    loop {
        let end = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap();
        if matches!(end, Some(Ok(Message::Binary(_)))) && duplicates > 0 {
            duplicates -= 1;
            continue;
        }
        assert!(!matches!(end, Some(Ok(Message::Binary(_)))));
        break;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_envelopes_reach_only_connected_mailboxes_and_are_never_stored() {
    let relay = LiveRelay::start(unchecked());
    let (online, offline) = (mailbox_key(), mailbox_key());
    // A stored envelope first: once it arrives as backlog, the connection is subscribed.
    assert_eq!(submit(&relay, &envelope_to(*online.id())), 202);
    let mut ws = connect(&relay, &online).await;
    let stored = next_frame(&mut ws).await;
    ack(&relay, &online, vec![stored.id]);
    let mut both = [*online.id(), *offline.id()];
    both.sort();
    let typing = submission(group_envelopes(&both, b"typing...")[0].to_bytes());
    let (status, _) = http("POST", &relay.url("/v1/ephemeral"), None, &typing);
    assert_eq!(status, 202);
    let frame = next_frame(&mut ws).await;
    assert_eq!((frame.id, frame.seq), (envelope_id(&typing), 0));
    assert!(
        fetch(&relay, &offline, "").is_empty(),
        "not stored for the offline mailbox"
    );
    assert!(
        fetch(&relay, &online, "").is_empty(),
        "nor for the online one"
    );
    let text = metrics(&relay);
    assert_eq!(metric(&text, "missive_ephemeral_deliveries_total"), 1);
    assert_eq!(
        metric(&text, "missive_envelopes_accepted_total"),
        1,
        "only the stored one"
    );
    assert_eq!(metric(&text, "missive_bodies_stored"), 0);
    drop(ws);
}

#[test]
fn health_metrics_and_refusals_over_the_socket() {
    let relay = LiveRelay::start(unchecked());
    assert_eq!(
        http("GET", &relay.url("/health"), None, b""),
        (200, b"ok\n".to_vec())
    );
    let (status, reason) = http("POST", &relay.url("/v1/envelopes"), None, b"\x01garbage");
    assert_eq!(status, 400);
    assert!(
        String::from_utf8(reason)
            .unwrap()
            .starts_with("malformed: malformed request")
    );
    let (status, _) = http("GET", &relay.url("/v1/mailbox"), None, b"");
    assert_eq!(status, 401);
    let text = metrics(&relay);
    assert_eq!(refusals(&text, "malformed"), 1);
    assert_eq!(refusals(&text, "unauthenticated"), 1);
    assert!(text.contains("# TYPE missive_deliveries_total counter"));
}

#[test]
fn authenticating_a_request_writes_nothing_to_disk() {
    let relay = LiveRelay::start(unchecked());
    let key = mailbox_key();
    let fetch = || {
        let proof = auth(&key, "GET", "/v1/mailbox", b"");
        assert_eq!(
            http("GET", &relay.url("/v1/mailbox"), Some(&proof), b"").0,
            200
        );
    };
    fetch();
    std::thread::sleep(Duration::from_millis(300));
    let files = || -> Vec<(String, u64)> {
        let mut sizes: Vec<(String, u64)> = std::fs::read_dir(relay.dir.path())
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        sizes.sort();
        sizes
    };
    let before = files();
    for _ in 0..200 {
        fetch();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        files(),
        before,
        "200 authenticated requests wrote to the relay's files"
    );
}

/// A relay that gives up on a WebSocket write after a second.
fn impatient() -> RelayConfig {
    RelayConfig {
        socket_write_timeout: 1,
        max_sockets_per_mailbox: 4,
        ..unchecked()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_that_never_read_are_dropped_and_lose_nothing() {
    let relay = LiveRelay::start(impatient());
    let (slow, other) = (mailbox_key(), mailbox_key());
    // 60 deliveries of 200 KB: far more than the socket buffers between relay and client.
    let big: Vec<Vec<u8>> = (0..60)
        .map(|_| opaque_envelope(&[*slow.id()], 200 << 10))
        .collect();
    for e in &big {
        assert_eq!(submit(&relay, e), 202);
    }
    assert_eq!(submit(&relay, &envelope_to(*other.id())), 202);
    // Four sockets on the mailbox that never read: the most it may hold open.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(connect(&relay, &slow).await);
    }
    let sockets = || metric(&metrics(&relay), "missive_sockets_open");
    assert_eq!(sockets(), 4);
    // A fifth is refused before it is upgraded.
    let path = "/v1/mailbox/ws";
    let proof = auth(&slow, "GET", path, b"");
    let (status, body) = http("GET", &relay.url(path), Some(&proof), b"");
    assert_eq!(status, 429);
    assert!(body.starts_with(b"rate_limited: "));
    // Another mailbox is served meanwhile.
    let proof = auth(&other, "GET", "/v1/mailbox", b"");
    let (status, page) = http("GET", &relay.url("/v1/mailbox"), Some(&proof), b"");
    assert_eq!(status, 200);
    assert_eq!(DeliveryPage::from_bytes(&page).unwrap().deliveries.len(), 1);
    // Their writes stall; within the write timeout the relay drops all four.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sockets() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "slow sockets still open"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(idle);
    // Everything is still stored: a client that reads gets all sixty, in pages.
    let mut after = 0;
    let mut got = 0;
    loop {
        let path = format!("/v1/mailbox?after={after}");
        let proof = auth(&slow, "GET", &path, b"");
        let (status, page) = http("GET", &relay.url(&path), Some(&proof), b"");
        assert_eq!(status, 200);
        let page = DeliveryPage::from_bytes(&page).unwrap();
        let Some(last) = page.deliveries.last() else {
            break;
        };
        after = last.seq;
        got += page.deliveries.len();
    }
    assert_eq!(got, 60);
    // And a socket that reads gets them all as backlog.
    let mut reader = connect(&relay, &slow).await;
    for _ in 0..60 {
        next_frame(&mut reader).await;
    }
}
