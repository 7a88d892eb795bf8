//! Every way a client can be refused, driven in-process with `tower::ServiceExt::oneshot`:
//! each authentication failure and each limit is a 4xx with a reason and a counted refusal, and
//! nothing a client sends (including random bytes at every endpoint) produces a 5xx.
#![cfg(feature = "relay")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod relay_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use missive::access::{AccessKey, AccessUpdate, Credential, Submission};
use missive::envelope::MailboxId;
use missive::mailbox::{MAX_CLOCK_SKEW, MailboxKey};
use missive::relay::{
    AccessChange, Delivery, EnvelopeId, Limits, NewDelivery, PrekeyFetch, RelayConfig, RelayState,
    RelayStore, SqliteStore, StoreError, StoreStats, system_clock,
};
use missive::relay_api::{
    Ack, DeliveryPage, OneTimePrekey, PrekeyResponse, PrekeyStock, PublishPrekeys,
};
use relay_support::*;

async fn metrics(state: &RelayState) -> String {
    let (_, body) = call(state, "GET", "/metrics", None, Vec::new()).await;
    String::from_utf8(body).unwrap()
}

/// Asserts a refusal: the status, a reason in the body, and one more count for `reason`.
async fn refused(
    state: &RelayState,
    (method, path, auth, body): (&str, &str, Option<String>, Vec<u8>),
    status: StatusCode,
    reason: &str,
) {
    let before = refusals(&metrics(state).await, reason);
    let (got, text) = call(state, method, path, auth, body).await;
    assert_eq!(
        got,
        status,
        "{method} {path}: {}",
        String::from_utf8_lossy(&text)
    );
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.starts_with(&format!("{reason}: ")),
        "the body names the refusal: {text:?}"
    );
    assert_eq!(
        refusals(&metrics(state).await, reason),
        before + 1,
        "{reason} counted"
    );
}

fn publish_body(n: u32) -> Vec<u8> {
    PublishPrekeys {
        bundle: vec![1; 100],
        one_time: (0..n)
            .map(|id| OneTimePrekey {
                id,
                key: vec![2; 32],
            })
            .collect(),
    }
    .to_bytes()
}

#[tokio::test]
async fn every_authentication_failure_is_a_4xx_with_a_reason() {
    let state = in_process(unchecked());
    let key = mailbox_key();
    let get = |auth: Option<String>| ("GET", "/v1/mailbox", auth, Vec::new());
    let good = auth(&key, "GET", "/v1/mailbox", b"");
    assert_eq!(
        call(&state, "GET", "/v1/mailbox", Some(good.clone()), vec![])
            .await
            .0,
        StatusCode::OK
    );

    let unauthorized = StatusCode::UNAUTHORIZED;
    refused(&state, get(None), unauthorized, "unauthenticated").await;
    refused(
        &state,
        get(Some("Bearer x".into())),
        unauthorized,
        "unauthenticated",
    )
    .await;
    refused(
        &state,
        get(Some("Missive zz".into())),
        unauthorized,
        "unauthenticated",
    )
    .await;
    refused(
        &state,
        get(Some("Missive 0102".into())),
        StatusCode::BAD_REQUEST,
        "malformed",
    )
    .await;
    let mut tampered = good.clone();
    let last = if tampered.ends_with('0') { '1' } else { '0' };
    tampered.pop();
    tampered.push(last);
    refused(&state, get(Some(tampered)), unauthorized, "unauthenticated").await;
    let other_path = auth(&key, "GET", "/v1/mailbox?after=1", b"");
    refused(
        &state,
        get(Some(other_path)),
        unauthorized,
        "unauthenticated",
    )
    .await;
    let other_method = auth(&key, "POST", "/v1/mailbox", b"");
    refused(
        &state,
        get(Some(other_method)),
        unauthorized,
        "unauthenticated",
    )
    .await;
    let stale = auth_at(
        &key,
        "GET",
        "/v1/mailbox",
        b"",
        system_clock() - MAX_CLOCK_SKEW - 5,
    );
    refused(&state, get(Some(stale)), unauthorized, "stale").await;
    let future = auth_at(
        &key,
        "GET",
        "/v1/mailbox",
        b"",
        system_clock() + MAX_CLOCK_SKEW + 5,
    );
    refused(&state, get(Some(future)), unauthorized, "stale").await;
    refused(&state, get(Some(good)), unauthorized, "replayed").await;

    // The proof covers the body: an ack signed for other ids does not pass.
    let ack = Ack { ids: vec![[1; 16]] }.to_bytes();
    let signed_other = auth(
        &key,
        "POST",
        "/v1/mailbox/ack",
        &Ack { ids: vec![[2; 16]] }.to_bytes(),
    );
    refused(
        &state,
        ("POST", "/v1/mailbox/ack", Some(signed_other), ack),
        unauthorized,
        "unauthenticated",
    )
    .await;
    // The WebSocket needs a proof too.
    refused(
        &state,
        ("GET", "/v1/mailbox/ws", None, vec![]),
        unauthorized,
        "unauthenticated",
    )
    .await;
    // ... and, with one, a real upgrade request.
    let ws = auth(&key, "GET", "/v1/mailbox/ws", b"");
    refused(
        &state,
        ("GET", "/v1/mailbox/ws", Some(ws), vec![]),
        StatusCode::BAD_REQUEST,
        "malformed",
    )
    .await;
}

#[tokio::test]
async fn a_mailbox_reads_and_acknowledges_only_its_own_deliveries() {
    let state = in_process(unchecked());
    let (alice, mallory) = (mailbox_key(), mailbox_key());
    let envelope = envelope_to(*alice.id());
    assert_eq!(
        call(&state, "POST", "/v1/envelopes", None, envelope)
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let fetch = |k: &MailboxKey| auth(k, "GET", "/v1/mailbox", b"");
    let (_, page) = call(&state, "GET", "/v1/mailbox", Some(fetch(&mallory)), vec![]).await;
    assert!(
        DeliveryPage::from_bytes(&page)
            .unwrap()
            .deliveries
            .is_empty()
    );
    let (_, page) = call(&state, "GET", "/v1/mailbox", Some(fetch(&alice)), vec![]).await;
    let id = DeliveryPage::from_bytes(&page).unwrap().deliveries[0].id;
    // Mallory acknowledging Alice's envelope removes nothing.
    let ack = Ack { ids: vec![id] }.to_bytes();
    let proof = auth(&mallory, "POST", "/v1/mailbox/ack", &ack);
    assert_eq!(
        call(&state, "POST", "/v1/mailbox/ack", Some(proof), ack)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (_, page) = call(&state, "GET", "/v1/mailbox", Some(fetch(&alice)), vec![]).await;
    assert_eq!(DeliveryPage::from_bytes(&page).unwrap().deliveries.len(), 1);
    // Nor can Mallory take over Alice's directory name.
    let body = publish_body(1);
    let path = "/v1/directory/616c696365";
    let proof = auth(&alice, "PUT", path, &body);
    assert_eq!(
        call(&state, "PUT", path, Some(proof), body.clone()).await.0,
        StatusCode::NO_CONTENT
    );
    let proof = auth(&mallory, "PUT", path, &body);
    refused(
        &state,
        ("PUT", path, Some(proof), body),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn every_limit_is_a_4xx_with_a_reason() {
    let config = RelayConfig {
        max_envelope_bytes: 4096,
        max_recipients: 3,
        limits: Limits {
            max_pending_per_mailbox: 2,
            max_one_time_prekeys: 3,
            ..Limits::default()
        },
        ..unchecked()
    };
    let state = in_process(config);
    let submit = |body: Vec<u8>| ("POST", "/v1/envelopes", None, body);
    // Envelope size: over the relay's limit, and over the body limit itself.
    let big = opaque_envelope(&mailboxes(1), 5000);
    refused(
        &state,
        submit(big),
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
    )
    .await;
    let huge = opaque_envelope(&mailboxes(1), 6000);
    refused(
        &state,
        submit(huge),
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
    )
    .await;
    // Recipients: over this relay's limit, and over the format's 50.
    refused(
        &state,
        submit(opaque_envelope(&mailboxes(4), 100)),
        StatusCode::BAD_REQUEST,
        "too_many_recipients",
    )
    .await;
    refused(
        &state,
        submit(fifty_one_recipients()),
        StatusCode::BAD_REQUEST,
        "malformed",
    )
    .await;
    // An envelope already expired.
    let mut expired = vec![1u8, 5, 0, 1];
    expired.extend([9u8; 16]);
    expired.extend([1, 0xaa]);
    refused(
        &state,
        submit(expired),
        StatusCode::BAD_REQUEST,
        "malformed",
    )
    .await;
    // Mailbox quota.
    let full = mailboxes(1);
    for _ in 0..2 {
        assert_eq!(
            call(
                &state,
                "POST",
                "/v1/envelopes",
                None,
                opaque_envelope(&full, 100)
            )
            .await
            .0,
            StatusCode::ACCEPTED
        );
    }
    refused(
        &state,
        submit(opaque_envelope(&full, 100)),
        StatusCode::FORBIDDEN,
        "mailbox_full",
    )
    .await;
    // One-time prekeys, name length, bundle and key sizes.
    let key = mailbox_key();
    let put = |path: &str, body: Vec<u8>| {
        let proof = auth(&key, "PUT", path, &body);
        ("PUT", path.to_string(), Some(proof), body)
    };
    let (m, p, a, b) = put("/v1/directory/626f62", publish_body(4));
    refused(
        &state,
        (m, &p, a, b),
        StatusCode::FORBIDDEN,
        "too_many_prekeys",
    )
    .await;
    let long_name = format!("/v1/directory/{}", "61".repeat(65));
    let (m, p, a, b) = put(&long_name, publish_body(1));
    refused(&state, (m, &p, a, b), StatusCode::BAD_REQUEST, "malformed").await;
    let (m, p, a, b) = put("/v1/directory/not-hex", publish_body(1));
    refused(&state, (m, &p, a, b), StatusCode::BAD_REQUEST, "malformed").await;
    let big_bundle = PublishPrekeys {
        bundle: vec![0; 4097],
        one_time: vec![],
    }
    .to_bytes();
    let (m, p, a, b) = put("/v1/directory/626f62", big_bundle);
    refused(&state, (m, &p, a, b), StatusCode::BAD_REQUEST, "malformed").await;
    let big_key = PublishPrekeys {
        bundle: vec![0; 10],
        one_time: vec![OneTimePrekey {
            id: 1,
            key: vec![0; 2049],
        }],
    }
    .to_bytes();
    let (m, p, a, b) = put("/v1/directory/626f62", big_key);
    refused(&state, (m, &p, a, b), StatusCode::BAD_REQUEST, "malformed").await;
    let lookup = auth(&mailbox_key(), "GET", "/v1/directory/7a7a", b"");
    refused(
        &state,
        ("GET", "/v1/directory/7a7a", Some(lookup), vec![]),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Names have one spelling (PROTOCOL.md §8.3.1): "zoë" decomposed, a control character,
    // and bytes that are not UTF-8 are refused, published or looked up.
    for name in ["7a6f65cc88", "626f621b", "ff"] {
        let path = format!("/v1/directory/{name}");
        let (m, p, a, b) = put(&path, publish_body(1));
        refused(&state, (m, &p, a, b), StatusCode::BAD_REQUEST, "malformed").await;
        let lookup = auth(&mailbox_key(), "GET", &path, b"");
        refused(
            &state,
            ("GET", &path, Some(lookup), vec![]),
            StatusCode::BAD_REQUEST,
            "malformed",
        )
        .await;
    }
    // A query the relay does not understand.
    let path = "/v1/mailbox?after=x";
    let proof = auth(&key, "GET", path, b"");
    refused(
        &state,
        ("GET", path, Some(proof), vec![]),
        StatusCode::BAD_REQUEST,
        "malformed",
    )
    .await;
}

/// `0x01 || expiry || plain || varint(51) || 51 mailboxes || body`, which no client can build.
fn fifty_one_recipients() -> Vec<u8> {
    let mut bytes = vec![1u8, 0x80, 0x80, 0x80, 0x80, 0x0f, 0, 51];
    for i in 0..51u8 {
        bytes.extend([i; 16]);
    }
    bytes.extend([1, 0xaa]);
    bytes
}

#[tokio::test]
async fn rate_limits_are_per_client() {
    let state = in_process(RelayConfig {
        rate_per_second: 1,
        rate_burst: 2,
        ..unchecked()
    });
    let to = mailboxes(1);
    for _ in 0..2 {
        assert_eq!(
            call(
                &state,
                "POST",
                "/v1/envelopes",
                None,
                opaque_envelope(&to, 10)
            )
            .await
            .0,
            StatusCode::ACCEPTED
        );
    }
    refused(
        &state,
        ("POST", "/v1/envelopes", None, opaque_envelope(&to, 10)),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    // A mailbox's authenticated requests have their own bucket...
    let key = mailbox_key();
    for _ in 0..2 {
        let proof = auth(&key, "GET", "/v1/mailbox", b"");
        assert_eq!(
            call(&state, "GET", "/v1/mailbox", Some(proof), vec![])
                .await
                .0,
            StatusCode::OK
        );
    }
    let proof = auth(&key, "GET", "/v1/mailbox", b"");
    refused(
        &state,
        ("GET", "/v1/mailbox", Some(proof), vec![]),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    // ... and a peer whose proofs fail is cut off before its signatures are even checked.
    let fresh = in_process(RelayConfig {
        rate_per_second: 1,
        rate_burst: 2,
        ..unchecked()
    });
    for _ in 0..2 {
        assert_eq!(
            call(
                &fresh,
                "GET",
                "/v1/mailbox",
                Some("Missive 00".into()),
                vec![]
            )
            .await
            .0,
            StatusCode::BAD_REQUEST
        );
    }
    let proof = auth(&mailbox_key(), "GET", "/v1/mailbox", b"");
    refused(
        &fresh,
        ("GET", "/v1/mailbox", Some(proof), vec![]),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}

#[tokio::test]
async fn random_input_at_every_endpoint_is_never_a_5xx() {
    let state = in_process(RelayConfig {
        rate_burst: 100_000,
        ..unchecked()
    });
    let key = mailbox_key();
    let endpoints = [
        ("POST", "/v1/envelopes"),
        ("POST", "/v1/ephemeral"),
        ("PUT", "/v1/directory/6162"),
        ("GET", "/v1/directory/6162"),
        ("GET", "/v1/mailbox"),
        ("POST", "/v1/mailbox/ack"),
        ("GET", "/v1/mailbox/ws"),
        (
            "GET",
            "/v1/mailbox?after=18446744073709551615&limit=99999999999",
        ),
        ("GET", "/v1/directory/%ff%fe"),
        ("DELETE", "/v1/mailbox"),
    ];
    let valid = envelope_to(MailboxId([3; 16]));
    for round in 0..40usize {
        for (method, path) in endpoints {
            let mut body = valid.clone();
            let mut rng = rand::rng();
            let cut = rand::RngExt::random_range(&mut rng, 0..body.len());
            body.truncate(cut);
            if let Some(b) = body.get_mut(cut / 2) {
                *b ^= 1 << (round % 8);
            }
            let proof = (round % 2 == 0).then(|| auth(&key, method, path, &body));
            let (status, _) = call(&state, method, path, proof, body).await;
            assert!(
                status.is_client_error() || status.is_success(),
                "{method} {path}: {status}"
            );
        }
    }
}

#[tokio::test]
async fn health_and_metrics_answer() {
    let state = in_process(unchecked());
    let (status, body) = call(&state, "GET", "/health", None, vec![]).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"ok\n"[..]));
    let text = metrics(&state).await;
    assert_eq!(metric(&text, "missive_envelopes_accepted_total"), 0);
    assert_eq!(metric(&text, "missive_bytes_stored"), 0);
    for reason in [
        "malformed",
        "unauthenticated",
        "replayed",
        "stale",
        "rate_limited",
        "overloaded",
    ] {
        assert_eq!(refusals(&text, reason), 0);
    }
}

#[tokio::test]
async fn credentials_and_key_counts_are_refused_with_their_reasons() {
    let state = in_process(RelayConfig::default());
    let key = mailbox_key();
    // A mailbox keeps at most 512 keys besides its contact key.
    let keys: Vec<AccessKey> = (0..513u32)
        .map(|i| {
            let mut k = [0u8; 16];
            k[..4].copy_from_slice(&i.to_be_bytes());
            AccessKey::from_bytes(k)
        })
        .collect();
    let body = AccessUpdate {
        add: keys,
        ..AccessUpdate::default()
    }
    .to_bytes();
    let path = "/v1/mailbox/access";
    let proof = auth(&key, "PUT", path, &body);
    refused(
        &state,
        ("PUT", path, Some(proof), body),
        StatusCode::FORBIDDEN,
        "too_many_keys",
    )
    .await;
    // A credential that reaches nobody.
    let submission = Submission {
        credential: Credential::Contacts(AccessKey::from_bytes([3; 16])),
        envelope: opaque_raw(&[*key.id()], 300),
    };
    refused(
        &state,
        ("POST", "/v1/envelopes", None, submission.to_bytes()),
        StatusCode::FORBIDDEN,
        "access_denied",
    )
    .await;
}

/// A store that fails or stalls its writes on demand, and otherwise is SQLite in memory.
struct Faulty {
    inner: SqliteStore,
    fail: AtomicBool,
    stall: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl RelayStore for Faulty {
    fn deliver(&self, batch: &[NewDelivery], now: u64) -> Vec<Result<(), StoreError>> {
        if let Some(release) = self.stall.lock().unwrap().take() {
            let _ = release.recv();
        }
        if self.fail.load(Ordering::Relaxed) {
            return vec![Err(StoreError::Backend); batch.len()];
        }
        self.inner.deliver(batch, now)
    }
    fn fetch_bounded(
        &self,
        m: &MailboxId,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.inner.fetch_bounded(m, after, limit, max_bytes)
    }
    fn ack(&self, m: &MailboxId, ids: &[EnvelopeId]) -> Result<usize, StoreError> {
        self.inner.ack(m, ids)
    }
    fn expire(&self, now: u64) -> Result<usize, StoreError> {
        self.inner.expire(now)
    }
    fn publish_prekeys(
        &self,
        u: &[u8],
        o: &MailboxId,
        b: &[u8],
        p: &[(u32, Vec<u8>)],
    ) -> Result<(), StoreError> {
        self.inner.publish_prekeys(u, o, b, p)
    }
    fn fetch_prekeys(&self, u: &[u8], one_time: bool) -> Result<PrekeyFetch, StoreError> {
        self.inner.fetch_prekeys(u, one_time)
    }
    fn one_time_prekeys_left(&self, u: &[u8]) -> Result<u64, StoreError> {
        self.inner.one_time_prekeys_left(u)
    }
    fn device_list(&self, u: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.device_list(u)
    }
    fn put_device_list(&self, u: &[u8], v: i64, l: &[u8]) -> Result<bool, StoreError> {
        self.inner.put_device_list(u, v, l)
    }
    fn access_records(&self, m: &[MailboxId]) -> Result<Vec<(MailboxId, Vec<u8>)>, StoreError> {
        self.inner.access_records(m)
    }
    fn change_access(
        &self,
        m: &MailboxId,
        change: &mut AccessChange<'_>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.change_access(m, change)
    }
    fn take_quota(&self, m: &MailboxId, k: u8, p: u32, c: u32, x: u32) -> Result<(), StoreError> {
        self.inner.take_quota(m, k, p, c, x)
    }
    fn take_purchase(&self, i: &[u8; 16], c: u32, n: u32, e: u64) -> Result<(), StoreError> {
        self.inner.take_purchase(i, c, n, e)
    }
    fn secret(&self, name: &str, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
        self.inner.secret(name, fresh)
    }
    fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping()
    }
    fn stats(&self) -> Result<StoreStats, StoreError> {
        self.inner.stats()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_overrun_store_is_a_503_with_its_reason() {
    let (release, stalled) = std::sync::mpsc::channel();
    let store = Arc::new(Faulty {
        inner: SqliteStore::in_memory(Limits::default()).unwrap(),
        fail: AtomicBool::new(false),
        stall: Mutex::new(Some(stalled)),
    });
    let config = RelayConfig {
        writer_queue: 1,
        ..unchecked()
    };
    let state = RelayState::new(store.clone(), config, system_clock).unwrap();
    let submit = || {
        (
            "POST",
            "/v1/envelopes",
            None,
            opaque_envelope(&mailboxes(1), 100),
        )
    };
    // The writer takes the first envelope and stalls on it; the second waits in the queue of
    // one; the third finds it full.
    let (first, second) = {
        let (a, b) = (submit(), submit());
        let s1 = state.clone();
        let s2 = state.clone();
        let first = tokio::spawn(async move { call(&s1, a.0, a.1, a.2, a.3).await });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let second = tokio::spawn(async move { call(&s2, b.0, b.1, b.2, b.3).await });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        (first, second)
    };
    refused(
        &state,
        submit(),
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
    )
    .await;
    release.send(()).unwrap();
    assert_eq!(first.await.unwrap().0, StatusCode::ACCEPTED);
    assert_eq!(second.await.unwrap().0, StatusCode::ACCEPTED);
    // A disk that fails.
    store.fail.store(true, Ordering::Relaxed);
    refused(
        &state,
        submit(),
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
}

#[tokio::test]
async fn nobody_drains_a_users_one_time_prekeys() {
    let state = in_process(unchecked());
    let bob = mailbox_key();
    let (m, p, a, b) = (
        "PUT",
        "/v1/directory/626f62",
        Some(auth(
            &bob,
            "PUT",
            "/v1/directory/626f62",
            &publish_body(100),
        )),
        publish_body(100),
    );
    assert_eq!(call(&state, m, p, a, b).await.0, StatusCode::NO_CONTENT);
    let lookup = |key: &MailboxKey| {
        let proof = auth(key, "GET", "/v1/directory/626f62", b"");
        ("GET", "/v1/directory/626f62", Some(proof), Vec::new())
    };
    let stock = |key: &MailboxKey| {
        let proof = auth(key, "GET", "/v1/directory/626f62/stock", b"");
        ("GET", "/v1/directory/626f62/stock", Some(proof), Vec::new())
    };
    let left = |state: RelayState, bob: MailboxKey| async move {
        let (m, p, a, b) = stock(&bob);
        let (status, body) = call(&state, m, p, a, b).await;
        assert_eq!(status, StatusCode::OK);
        PrekeyStock::from_bytes(&body).unwrap().one_time
    };
    // A lookup needs a mailbox proof.
    refused(
        &state,
        ("GET", "/v1/directory/626f62", None, Vec::new()),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    // One requester: three lookups of one name an hour, each with a one-time prekey.
    let mallory = mailbox_key();
    for _ in 0..3 {
        let (m, p, a, b) = lookup(&mallory);
        let (status, body) = call(&state, m, p, a, b).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            PrekeyResponse::from_bytes(&body)
                .unwrap()
                .one_time
                .is_some()
        );
    }
    refused(
        &state,
        lookup(&mallory),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_eq!(left(state.clone(), bob.clone()).await, 97);
    // Throwaway mailboxes: the name hands out thirty one-time prekeys an hour in all; past
    // that, the bundle alone (its last-resort prekey still starts a session).
    let mut with_one_time = 0;
    for _ in 0..40 {
        let (m, p, a, b) = lookup(&mailbox_key());
        let (status, body) = call(&state, m, p, a, b).await;
        assert_eq!(status, StatusCode::OK);
        let found = PrekeyResponse::from_bytes(&body).unwrap();
        assert_eq!(found.bundle, vec![1; 100]);
        with_one_time += usize::from(found.one_time.is_some());
    }
    assert_eq!(with_one_time, 27);
    assert_eq!(left(state.clone(), bob.clone()).await, 70);
    // Only the name's owner reads its stock.
    refused(&state, stock(&mallory), StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn throwaway_mailbox_keys_do_not_buy_a_source_more_requests() {
    let config = RelayConfig {
        source_rate_per_second: 1,
        source_burst: 10,
        ..unchecked()
    };
    let state = in_process(config);
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let key = mailbox_key();
        let proof = auth(&key, "GET", "/v1/mailbox", b"");
        statuses.push(
            call(&state, "GET", "/v1/mailbox", Some(proof), vec![])
                .await
                .0,
        );
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert!((10..=11).contains(&ok), "{ok} of 30 got through");
    let key = mailbox_key();
    refused(
        &state,
        (
            "GET",
            "/v1/mailbox",
            Some(auth(&key, "GET", "/v1/mailbox", b"")),
            vec![],
        ),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}

/// The system clock two seconds on: a relay restarted after the proofs were made.
fn two_seconds_later() -> u64 {
    system_clock() + 2
}

#[tokio::test]
async fn a_restart_forgets_no_replay_a_proof_made_before_it_is_stale() {
    let store = Arc::new(SqliteStore::in_memory(Limits::default()).unwrap());
    let first = RelayState::new(store.clone(), unchecked(), system_clock).unwrap();
    let key = mailbox_key();
    let proof = auth(&key, "GET", "/v1/mailbox", b"");
    let get = || ("GET", "/v1/mailbox", Some(proof.clone()), Vec::new());
    let (m, p, a, b) = get();
    assert_eq!(call(&first, m, p, a, b).await.0, StatusCode::OK);
    refused(&first, get(), StatusCode::UNAUTHORIZED, "replayed").await;
    // The relay restarts (its replay memory is in memory, and gone); the same proof is
    // refused all the same, and a fresh one is taken.
    let restarted = RelayState::new(store, unchecked(), two_seconds_later).unwrap();
    refused(&restarted, get(), StatusCode::UNAUTHORIZED, "stale").await;
    let fresh = auth_at(&key, "GET", "/v1/mailbox", b"", two_seconds_later());
    let (status, _) = call(&restarted, "GET", "/v1/mailbox", Some(fresh), vec![]).await;
    assert_eq!(status, StatusCode::OK);
}
