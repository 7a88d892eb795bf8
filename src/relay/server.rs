//! The HTTP front of the relay. `app(state)` is the whole service, kept apart from sockets so
//! tests drive it in-process as well as over a real listener.
//!
//! Every handler answers through [`respond`]: a client's mistake becomes a counted, logged
//! (by reason only, never by body) 4xx [`Refusal`]; axum's own extractor rejections are mapped
//! the same way, so nothing a client sends reaches a 500.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{Extensions, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use sha2::{Digest, Sha256};

use super::auth::{Request, authenticate, limit, peer_key};
use super::refusal::Refusal;
use super::state::RelayState;
use super::store::{MAX_PASSED, RelayStore, StoreError};
use super::{devices, envelopes};
use super::{tokens, ws};
use crate::access::AccessUpdate;
use crate::error::DecodeError;
use crate::mailbox::MailboxId;
use crate::relay_api::{
    Ack, DeliveryPage, OneTimePrekey, PrekeyResponse, PrekeyStock, PublishPrekeys, Undelivered,
};

/// Longest user name in the directory, in bytes.
pub const MAX_USER_LEN: usize = 64;
/// Largest published prekey bundle, in bytes (ours are 2,794: the ML-KEM-768 last-resort
/// prekey is 1184 of them, the X-Wing sealing key 1216).
pub const MAX_BUNDLE_LEN: usize = 4096;
/// Largest one-time prekey, in bytes (ours are 1280: X25519, ML-KEM-768 and a signature).
pub const MAX_PREKEY_LEN: usize = 2048;

/// The relay as an axum router.
pub fn app(state: RelayState) -> Router {
    let body_limit = state.config.max_envelope_bytes + 1024;
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/directory/{user}", put(publish).get(lookup))
        .route("/v1/directory/{user}/stock", get(stock))
        .route(
            "/v1/directory/{user}/devices",
            put(devices::publish_devices).get(devices::lookup_devices),
        )
        .route("/v1/envelopes", post(submit))
        .route("/v1/ephemeral", post(submit_ephemeral))
        .route("/v1/mailbox", get(fetch))
        .route("/v1/mailbox/ack", post(ack))
        .route("/v1/mailbox/ws", get(ws::websocket))
        .route("/v1/mailbox/access", put(register_access))
        .route("/v1/tokens", post(tokens::issue))
        .route("/v1/tokens/{kind}/{period}", get(tokens::public_key))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

type Reply = Result<Response, Refusal>;

/// Records the refusal in the metrics and logs its reason (never the body).
pub(crate) fn refuse(state: &RelayState, refusal: Refusal) -> Response {
    state.metrics.refused(&refusal);
    tracing::debug!(reason = refusal.label(), "refused");
    refusal.into_response()
}

pub(crate) fn respond(state: &RelayState, reply: Reply) -> Response {
    reply.unwrap_or_else(|r| refuse(state, r))
}

/// Runs blocking store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &RelayState,
    f: impl FnOnce(&dyn RelayStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .unwrap_or(Err(StoreError::Backend))
}

pub(crate) fn malformed(what: &'static str) -> Refusal {
    Refusal::Malformed(DecodeError::Invalid { what })
}

/// The request body, or why it could not be read (over the size limit, or cut off).
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Refusal> {
    body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Refusal::TooLarge,
        _ => malformed("request body"),
    })
}

/// The body of a request that changes a mailbox's data, and the mailbox its proof
/// authenticates (the proof covers the body).
pub(crate) async fn authenticated_body(
    state: &RelayState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    ext: &Extensions,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<(MailboxId, Bytes), Refusal> {
    let bytes = body(bytes)?;
    let request = Request {
        method,
        uri,
        headers,
        ext,
        body: &bytes,
    };
    let mailbox = authenticate(state, request).await?;
    Ok((mailbox, bytes))
}

async fn health(State(state): State<RelayState>) -> Response {
    match blocking(&state, |s| s.ping()).await {
        Ok(()) => "ok\n".into_response(),
        Err(e) => refuse(&state, e.into()),
    }
}

async fn metrics(State(state): State<RelayState>) -> Response {
    let stats = blocking(&state, |s| s.stats()).await.ok();
    state
        .metrics
        .render(stats, state.hub.count())
        .into_response()
}

pub(crate) fn user_name(user: Result<Path<String>, PathRejection>) -> Result<Vec<u8>, Refusal> {
    let Path(user) = user.map_err(|_| malformed("directory name"))?;
    let bytes = hex::decode(user).map_err(|_| malformed("directory name"))?;
    if bytes.is_empty() || bytes.len() > MAX_USER_LEN {
        return Err(malformed("directory name length"));
    }
    // One spelling per name (PROTOCOL.md §8.3.1): NFC, no control or formatting characters.
    crate::name::check(&bytes).map_err(|_| malformed("directory name spelling"))?;
    Ok(bytes)
}

fn check_publish(request: &PublishPrekeys) -> Result<(), Refusal> {
    if request.bundle.is_empty() || request.bundle.len() > MAX_BUNDLE_LEN {
        return Err(malformed("prekey bundle length"));
    }
    if request
        .one_time
        .iter()
        .any(|k| k.key.is_empty() || k.key.len() > MAX_PREKEY_LEN)
    {
        return Err(malformed("one-time prekey length"));
    }
    Ok(())
}

async fn publish(
    State(state): State<RelayState>,
    user: Result<Path<String>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let reply = async {
        let (owner, bytes) =
            authenticated_body(&state, &method, &uri, &headers, &ext, bytes).await?;
        let user = user_name(user)?;
        let request = PublishPrekeys::from_bytes(&bytes)?;
        check_publish(&request)?;
        let keys: Vec<(u32, Vec<u8>)> = request
            .one_time
            .into_iter()
            .map(|k| (k.id, k.key))
            .collect();
        blocking(&state, move |s| {
            let entry = devices::entry_for(s, &user, &owner)?;
            s.publish_prekeys(&entry, &owner, &request.bundle, &keys)
        })
        .await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    respond(&state, reply.await)
}

/// `GET /v1/directory/{user}`: a mailbox looks a name up, within its allowance; past the
/// name's hourly budget of one-time prekeys, the answer carries none (the last-resort prekey
/// in the bundle still starts a session), so nobody can drain them.
async fn lookup(
    State(state): State<RelayState>,
    user: Result<Path<String>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
) -> Response {
    let reply = async {
        let request = Request::without_body(&method, &uri, &headers, &ext);
        let requester = authenticate(&state, request).await?;
        let user = user_name(user)?;
        let one_time = lookup_allowed(&state, &requester, &user)?;
        let found = blocking(&state, move |s| {
            // A first device its account removed is handed out no more.
            if let Some(list) = devices::listed(s, &user)?
                && list
                    .by_mailbox(&s.fetch_prekeys(&user, false)?.mailbox)
                    .is_none()
            {
                return Err(StoreError::UnknownUser);
            }
            s.fetch_prekeys(&user, one_time)
        })
        .await?;
        let response = PrekeyResponse {
            mailbox: found.mailbox,
            bundle: found.bundle,
            one_time: found.one_time.map(|(id, key)| OneTimePrekey { id, key }),
        };
        Ok(response.to_bytes().into_response())
    };
    respond(&state, reply.await)
}

/// Whether `requester` may look `user` up now, and whether the answer may carry one-time
/// prekeys (the name's hourly budget).
pub(crate) fn lookup_allowed(
    state: &RelayState,
    requester: &MailboxId,
    user: &[u8],
) -> Result<bool, Refusal> {
    let target = name_key(user);
    let lookups = &state.lookups;
    if !lookups.by_requester.allow(requester.0)
        || !lookups.by_pair.allow(pair_key(requester, &target))
    {
        return Err(Refusal::RateLimited);
    }
    Ok(lookups.one_time.allow(target))
}

/// `GET /v1/directory/{user}/stock`: the name's owner learns how many one-time prekeys are
/// left.
async fn stock(
    State(state): State<RelayState>,
    user: Result<Path<String>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
) -> Response {
    let reply = async {
        let request = Request::without_body(&method, &uri, &headers, &ext);
        let owner = authenticate(&state, request).await?;
        let user = user_name(user)?;
        let left = blocking(&state, move |s| {
            let entry = devices::entry_for(s, &user, &owner)?;
            if s.fetch_prekeys(&entry, false)?.mailbox != owner {
                return Err(StoreError::NotOwner);
            }
            s.one_time_prekeys_left(&entry)
        })
        .await?;
        let stock = PrekeyStock {
            one_time: u32::try_from(left).unwrap_or(u32::MAX),
        };
        Ok(stock.to_bytes().into_response())
    };
    respond(&state, reply.await)
}

/// A directory name as a rate-limit key.
fn name_key(user: &[u8]) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(b"missive/v1/relay-name-key")
        .chain_update(user)
        .finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// A requester and a name, together, as a rate-limit key.
fn pair_key(requester: &MailboxId, name: &[u8; 16]) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(b"missive/v1/relay-pair-key")
        .chain_update(requester.0)
        .chain_update(name)
        .finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

async fn submit(
    State(state): State<RelayState>,
    ext: Extensions,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let reply = async {
        limit(&state, peer_key(&state, &ext))?;
        let now = state.now();
        let accepted = envelopes::accept(&state, &body(bytes)?, now, false).await?;
        let answer = accepted_answer(&accepted.denied);
        let Some(delivery) = accepted.delivery else {
            return Ok(answer);
        };
        let (mailboxes, bytes) = (delivery.parts.len(), delivery.body.len());
        let delivery = state.writer.deliver(delivery).await?;
        state.metrics.accepted(mailboxes);
        tracing::debug!(recipients = mailboxes, bytes, "envelope stored");
        // After the commit: a connection that subscribes later finds it in its backlog.
        let pushes = envelopes::push_frames(&delivery, now, |m| state.hub.is_connected(m));
        state.hub.push_all(&pushes);
        Ok(answer)
    };
    respond(&state, reply.await)
}

/// Typing indicators and the like: pushed to whoever is connected now, never stored.
async fn submit_ephemeral(
    State(state): State<RelayState>,
    ext: Extensions,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let reply = async {
        limit(&state, peer_key(&state, &ext))?;
        let now = state.now();
        let accepted = envelopes::accept(&state, &body(bytes)?, now, true).await?;
        let answer = accepted_answer(&accepted.denied);
        let Some(delivery) = accepted.delivery else {
            return Ok(answer);
        };
        let pushes = envelopes::push_frames(&delivery, now, |m| state.hub.is_connected(m));
        state.metrics.ephemeral(state.hub.push_all(&pushes));
        if state.store.shared() {
            // Sockets on the other relays: they may hold connections to any recipient.
            let pieces = envelopes::passed(&delivery, now, MAX_PASSED);
            blocking(&state, move |s| {
                pieces.iter().try_for_each(|p| s.pass_ephemeral(p))
            })
            .await?;
        }
        Ok(answer)
    };
    respond(&state, reply.await)
}

/// 202, with the recipients the credential did not reach, if any (the sender retries those).
fn accepted_answer(denied: &[MailboxId]) -> Response {
    if denied.is_empty() {
        return StatusCode::ACCEPTED.into_response();
    }
    let body = Undelivered {
        mailboxes: denied.to_vec(),
    };
    (StatusCode::ACCEPTED, body.to_bytes()).into_response()
}

/// `PUT /v1/mailbox/access`: the mailbox's own keys and switches.
async fn register_access(
    State(state): State<RelayState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let reply = async {
        let (mailbox, bytes) =
            authenticated_body(&state, &method, &uri, &headers, &ext, bytes).await?;
        let update = AccessUpdate::from_bytes(&bytes)?;
        let book = Arc::clone(&state.access);
        let store = Arc::clone(&state.store);
        let (platform, now) = (state.config.platform, state.now());
        // Off the async threads: the record is written durably before it takes effect.
        tokio::task::spawn_blocking(move || {
            book.update(&mailbox, &update, platform.as_ref(), now, store.as_ref())
        })
        .await
        .unwrap_or(Err(Refusal::Unavailable))?;
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    respond(&state, reply.await)
}

/// `after=S&limit=N`, both optional, nothing else.
fn page_query(query: Option<&str>, page_size: usize) -> Result<(u64, usize), Refusal> {
    let (mut after, mut limit) = (None, None);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or(malformed("mailbox query"))?;
        let value: u64 = value.parse().map_err(|_| malformed("mailbox query"))?;
        let slot = match key {
            "after" => &mut after,
            "limit" => &mut limit,
            _ => return Err(malformed("mailbox query")),
        };
        if slot.replace(value).is_some() {
            return Err(malformed("mailbox query"));
        }
    }
    let limit = limit.map_or(page_size, |l| usize::try_from(l).unwrap_or(usize::MAX));
    Ok((after.unwrap_or(0), limit.min(page_size)))
}

async fn fetch(
    State(state): State<RelayState>,
    RawQuery(query): RawQuery,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
) -> Response {
    let reply = async {
        let request = Request::without_body(&method, &uri, &headers, &ext);
        let mailbox = authenticate(&state, request).await?;
        let (after, limit) = page_query(query.as_deref(), state.config.page_size)?;
        let bytes = state.config.page_bytes;
        let found = blocking(&state, move |s| {
            s.fetch_bounded(&mailbox, after, limit, bytes)
        })
        .await?;
        let deliveries = found
            .iter()
            .map(|d| envelopes::delivered(d, &mailbox))
            .collect::<Result<_, _>>()?;
        Ok(DeliveryPage { deliveries }.to_bytes().into_response())
    };
    respond(&state, reply.await)
}

async fn ack(
    State(state): State<RelayState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let reply = async {
        let (mailbox, bytes) =
            authenticated_body(&state, &method, &uri, &headers, &ext, bytes).await?;
        let ids = Ack::from_bytes(&bytes)?.ids;
        let removed = state.writer.ack(mailbox, ids).await?;
        state.metrics.acked(removed);
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    respond(&state, reply.await)
}
