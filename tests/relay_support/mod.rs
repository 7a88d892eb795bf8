//! Helpers shared by the relay tests: a relay on a real socket (or in-process), signed
//! requests, and genuine envelopes made by the engine.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[cfg(feature = "postgres")]
#[path = "../pg_support/mod.rs"]
pub mod pg;
#[path = "../common/saved.rs"]
pub mod saved;
pub mod users;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use missive::Identity;
use missive::access::{AccessKey, AccessUpdate, Credential, Submission};
use missive::conversation::{Conversation, Member, Role};
use missive::envelope::{Envelope, MailboxId};
use missive::mailbox::MailboxKey;
use missive::relay::{RelayConfig, RelayState, SqliteStore, serve, system_clock};
use missive::relay_api::DeliveredEnvelope;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// A far-future expiry for test envelopes.
pub const EXPIRY: u64 = 4_000_000_000;

/// A relay serving on 127.0.0.1 from a background runtime; stops when dropped.
pub struct LiveRelay {
    pub addr: SocketAddr,
    pub state: RelayState,
    pub dir: TempDir,
    /// The relay's PostgreSQL database, when `MISSIVE_TEST_RELAY_STORE=postgres` runs these
    /// tests on it instead of SQLite.
    #[cfg(feature = "postgres")]
    pub db: Option<pg::Scratch>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveRelay {
    pub fn start(config: RelayConfig) -> Self {
        let dir = TempDir::new("live");
        #[cfg(feature = "postgres")]
        if std::env::var("MISSIVE_TEST_RELAY_STORE").as_deref() == Ok("postgres") {
            let db =
                pg::Scratch::fresh().expect("MISSIVE_TEST_RELAY_STORE=postgres needs PostgreSQL");
            let mut relay = Self::start_on(&db.url, config);
            relay.db = Some(db);
            return relay;
        }
        let state = RelayState::open(dir.path(), config).unwrap();
        Self::serve(state, dir)
    }

    /// A relay on the PostgreSQL database at `url`, which other relays may share.
    #[cfg(feature = "postgres")]
    pub fn start_on(url: &str, config: RelayConfig) -> Self {
        // The store runs its own runtime: made outside the caller's, which may be async.
        let state = std::thread::scope(|s| {
            s.spawn(|| RelayState::open_postgres(url, config).unwrap())
                .join()
                .unwrap()
        });
        Self::serve(state, TempDir::new("live"))
    }

    fn serve(state: RelayState, dir: TempDir) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, addr) = std::sync::mpsc::channel();
        let served = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready.send(listener.local_addr().unwrap()).unwrap();
                let shutdown = async {
                    let _ = stopped.await;
                };
                serve(listener, served, shutdown).await.unwrap();
            });
            // Open WebSockets would hold the graceful shutdown; the runtime drop ends them.
            runtime.shutdown_background();
        });
        Self {
            addr: addr.recv().unwrap(),
            state,
            dir,
            #[cfg(feature = "postgres")]
            db: None,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What the relay stored, as raw bytes: the SQLite files (database and write-ahead log),
    /// or every byte string and text in its PostgreSQL database.
    pub fn raw_database(&self) -> Vec<u8> {
        #[cfg(feature = "postgres")]
        if let Some(db) = &self.db {
            return db.dump();
        }
        let mut out = Vec::new();
        for name in ["relay.db", "relay.db-wal"] {
            if let Ok(bytes) = std::fs::read(self.dir.path().join(name)) {
                out.extend(bytes);
            }
        }
        out
    }
}

impl Drop for LiveRelay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Do not join: a WebSocket still open would keep the graceful shutdown waiting.
        drop(self.thread.take());
    }
}

/// A relay state on an in-memory store, for `oneshot` tests.
pub fn in_process(config: RelayConfig) -> RelayState {
    let store = SqliteStore::in_memory(config.limits).unwrap();
    RelayState::new(Arc::new(store), config, system_clock).unwrap()
}

/// A relay that checks no credential: for tests of storage and transport, which post
/// envelopes to mailboxes nobody registered. `tests/relay_access.rs` tests the checks.
pub fn unchecked() -> RelayConfig {
    RelayConfig {
        check_access: false,
        ..RelayConfig::default()
    }
}

/// `envelope` as a submission with no credential (for an [`unchecked`] relay).
pub fn submission(envelope: Vec<u8>) -> Vec<u8> {
    Submission {
        credential: Credential::Open,
        envelope,
    }
    .to_bytes()
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let mut bytes = [0u8; 8];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
        let path = std::env::temp_dir().join(format!("missive-{tag}-{}", hex::encode(bytes)));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `Authorization` header value proving `key` for this request, at the current time.
pub fn auth(key: &MailboxKey, method: &str, path: &str, body: &[u8]) -> String {
    auth_at(key, method, path, body, system_clock())
}

/// As [`auth`], with the proof's timestamp chosen.
pub fn auth_at(key: &MailboxKey, method: &str, path: &str, body: &[u8], now: u64) -> String {
    let proof = key.prove(&mut rand::rng(), method, path, body, now);
    format!("Missive {}", hex::encode(proof.to_bytes()))
}

pub fn mailbox_key() -> MailboxKey {
    MailboxKey::generate(&mut rand::rng())
}

/// A genuine conversation message from `sender` to the given mailboxes (the sender's own
/// mailbox excluded), as the envelopes a client would hand the relay.
pub fn group_envelopes(recipients: &[MailboxId], body: &[u8]) -> Vec<Envelope> {
    let mut rng = rand::rng();
    let member =
        |m: MailboxId, role| Member::new(m, role, *Identity::generate(&mut rand::rng()).public());
    let me = MailboxId([0xff; 16]);
    let others = recipients
        .iter()
        .map(|m| member(*m, Role::Member))
        .collect();
    let (mut conv, _handoffs) =
        Conversation::create(&mut rng, member(me, Role::Admin), others).unwrap();
    let message = conv.encrypt(body).unwrap();
    conv.envelopes(EXPIRY, &message).unwrap()
}

/// The id of the envelope in a submission.
pub fn envelope_id(submission: &[u8]) -> [u8; 16] {
    let submission = Submission::from_bytes(submission).unwrap();
    Envelope::from_bytes(&submission.envelope).unwrap().id().0
}

/// One 1 KiB-plaintext message to one mailbox, as a submission without credential.
pub fn envelope_to(mailbox: MailboxId) -> Vec<u8> {
    submission(group_envelopes(&[mailbox], &[7; 1024])[0].to_bytes())
}

/// A plain envelope with a random body, cheap to make in bulk (the relay cannot tell), as a
/// submission without credential.
pub fn opaque_envelope(recipients: &[MailboxId], len: usize) -> Vec<u8> {
    submission(opaque_raw(recipients, len))
}

/// [`opaque_envelope`]'s envelope bytes alone.
pub fn opaque_raw(recipients: &[MailboxId], len: usize) -> Vec<u8> {
    let mut body = vec![0u8; len];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut body);
    Envelope::to_mailboxes(EXPIRY, recipients, &body).unwrap()[0].to_bytes()
}

/// Registers a fresh contact key for `key`'s mailbox at the relay at `base`; returns it.
pub fn register_contact(base: &str, key: &MailboxKey) -> AccessKey {
    let contact = AccessKey::generate(&mut rand::rng());
    let body = AccessUpdate {
        contact: Some(contact.clone()),
        ..AccessUpdate::default()
    }
    .to_bytes();
    let path = "/v1/mailbox/access";
    let proof = auth(key, "PUT", path, &body);
    assert_eq!(
        http("PUT", &format!("{base}{path}"), Some(&proof), &body).0,
        204
    );
    contact
}

/// A loopback port nothing listens on (for a relay process to bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn mailboxes(n: usize) -> Vec<MailboxId> {
    (0..n).map(|_| *mailbox_key().id()).collect()
}

/// One HTTP request over a real socket: status and body. Never errors on a status.
pub fn http(method: &str, url: &str, auth: Option<&str>, body: &[u8]) -> (u16, Vec<u8>) {
    thread_local! {
        static AGENT: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
    }
    let response = AGENT.with(|agent| {
        let request = ureq::http::Request::builder().method(method).uri(url);
        let request = match auth {
            Some(a) => request.header("Authorization", a),
            None => request,
        };
        agent.run(request.body(body.to_vec()).unwrap()).unwrap()
    });
    let status = response.status().as_u16();
    (status, response.into_body().read_to_vec().unwrap())
}

/// A counter's value in the Prometheus text.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

/// The refusal counter for `reason`.
pub fn refusals(text: &str, reason: &str) -> u64 {
    metric(
        text,
        &format!("missive_refusals_total{{reason=\"{reason}\"}}"),
    )
}

/// One request to the relay in-process (no socket): status and body.
pub async fn call(
    state: &RelayState,
    method: &str,
    path: &str,
    auth: Option<String>,
    body: Vec<u8>,
) -> (axum::http::StatusCode, Vec<u8>) {
    use tower::ServiceExt;
    let mut request = axum::http::Request::builder().method(method).uri(path);
    if let Some(a) = auth {
        request = request.header("authorization", a);
    }
    let response = missive::relay::app(state.clone())
        .oneshot(request.body(axum::body::Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, body.to_vec())
}

/// A WebSocket on `key`'s mailbox at `relay`.
pub async fn connect(
    relay: &LiveRelay,
    key: &MailboxKey,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = format!("ws://{}/v1/mailbox/ws", relay.addr)
        .into_client_request()
        .unwrap();
    let proof = auth(key, "GET", "/v1/mailbox/ws", b"");
    request
        .headers_mut()
        .insert("authorization", proof.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The next frame on `ws`, within 5 s.
pub async fn next_frame<S>(ws: &mut S) -> DeliveredEnvelope
where
    S: futures_util::Stream<Item = Result<tungstenite::Message, tungstenite::Error>> + Unpin,
{
    let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    DeliveredEnvelope::from_bytes(&message.into_data()).unwrap()
}

/// Every envelope id stored for `key` as the relay at `base` pages through them.
pub fn stored_ids(base: &str, key: &MailboxKey) -> std::collections::HashSet<[u8; 16]> {
    let mut ids = std::collections::HashSet::new();
    let mut after = 0;
    loop {
        let path = format!("/v1/mailbox?after={after}&limit=256");
        let proof = auth(key, "GET", &path, b"");
        let (status, body) = http("GET", &format!("{base}{path}"), Some(&proof), b"");
        assert_eq!(status, 200);
        let page = missive::relay_api::DeliveryPage::from_bytes(&body)
            .unwrap()
            .deliveries;
        ids.extend(page.iter().map(|d| d.id));
        match page.last() {
            Some(last) if page.len() == 256 => after = last.seq,
            _ => return ids,
        }
    }
}
