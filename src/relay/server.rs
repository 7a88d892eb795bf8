//! The HTTP and WebSocket front of the relay. `app(state)` is the whole service, kept apart
//! from sockets so tests drive it in-process as well as over a real listener.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{Extensions, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;

use super::envelopes;
use super::refusal::Refusal;
use super::state::RelayState;
use super::store::{RelayStore, StoreError};
use crate::mailbox::{AuthProof, MAX_CLOCK_SKEW, MailboxId};
use crate::relay_api::{Ack, DeliveryPage, OneTimePrekey, PrekeyResponse, PublishPrekeys};

/// Longest user name in the directory, in bytes.
const MAX_USER_LEN: usize = 64;

/// The relay as an axum router.
pub fn app(state: RelayState) -> Router {
    let body_limit = state.config.max_envelope_bytes + 1024;
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/directory/{user}", put(publish).get(lookup))
        .route("/v1/envelopes", post(submit))
        .route("/v1/ephemeral", post(submit_ephemeral))
        .route("/v1/mailbox", get(fetch))
        .route("/v1/mailbox/ack", post(ack))
        .route("/v1/mailbox/ws", get(websocket))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

type Reply = Result<Response, Refusal>;

/// Records the refusal in the metrics and logs its reason (never the body).
fn refuse(state: &RelayState, refusal: Refusal) -> Response {
    state.metrics.refused(&refusal);
    tracing::debug!(reason = refusal.label(), "refused");
    refusal.into_response()
}

fn respond(state: &RelayState, reply: Reply) -> Response {
    reply.unwrap_or_else(|r| refuse(state, r))
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    state: &RelayState,
    f: impl FnOnce(&dyn RelayStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .unwrap_or(Err(StoreError::Backend))
}

fn store_refusal(e: StoreError) -> Refusal {
    match e {
        StoreError::QuotaExceeded => Refusal::MailboxFull,
        StoreError::TooManyPrekeys => Refusal::TooManyPrekeys,
        StoreError::UnknownUser => Refusal::NotFound,
        StoreError::NotOwner => Refusal::Forbidden,
        _ => {
            tracing::error!(error = %e, "storage failure");
            Refusal::Unavailable
        }
    }
}

fn peer_key(ext: &Extensions) -> [u8; 16] {
    match ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) {
        Some(std::net::IpAddr::V4(ip)) => ip.to_ipv6_mapped().octets(),
        Some(std::net::IpAddr::V6(ip)) => ip.octets(),
        None => [0; 16],
    }
}

fn limit(state: &RelayState, key: [u8; 16]) -> Result<(), Refusal> {
    if state.limiter.allow(key) {
        Ok(())
    } else {
        Err(Refusal::RateLimited)
    }
}

/// Verifies the request's mailbox proof and spends its nonce.
async fn authenticate(
    state: &RelayState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<MailboxId, Refusal> {
    let proof = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Missive "))
        .and_then(|v| hex::decode(v).ok())
        .ok_or(Refusal::Unauthenticated)?;
    let proof = AuthProof::from_bytes(&proof)?;
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let now = state.now();
    let verified = proof.verify(method.as_str(), path, body, now)?;
    limit(state, verified.mailbox.0)?;
    let fresh = blocking(state, move |s| {
        s.remember_nonce(
            &verified.mailbox.0,
            &verified.nonce,
            now + 2 * MAX_CLOCK_SKEW,
        )
    })
    .await
    .map_err(store_refusal)?;
    if !fresh {
        return Err(Refusal::Replayed);
    }
    Ok(verified.mailbox)
}

async fn health(State(state): State<RelayState>) -> Response {
    match blocking(&state, |s| s.stats()).await {
        Ok(_) => "ok\n".into_response(),
        Err(e) => refuse(&state, store_refusal(e)),
    }
}

async fn metrics(State(state): State<RelayState>) -> Response {
    let stats = blocking(&state, |s| s.stats()).await.ok();
    state.metrics.render(stats).into_response()
}

fn user_name(user: &str) -> Result<Vec<u8>, Refusal> {
    let bytes = hex::decode(user).map_err(|_| Refusal::NotFound)?;
    if bytes.is_empty() || bytes.len() > MAX_USER_LEN {
        return Err(Refusal::NotFound);
    }
    Ok(bytes)
}

async fn publish(
    State(state): State<RelayState>,
    Path(user): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = async {
        let owner = authenticate(&state, &method, &uri, &headers, &body).await?;
        let user = user_name(&user)?;
        let request = PublishPrekeys::from_bytes(&body)?;
        let keys: Vec<(u32, Vec<u8>)> = request
            .one_time
            .into_iter()
            .map(|k| (k.id, k.key))
            .collect();
        blocking(&state, move |s| {
            s.publish_prekeys(&user, &owner, &request.bundle, &keys)
        })
        .await
        .map_err(store_refusal)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    respond(&state, reply.await)
}

async fn lookup(
    State(state): State<RelayState>,
    Path(user): Path<String>,
    ext: Extensions,
) -> Response {
    let reply = async {
        limit(&state, peer_key(&ext))?;
        let user = user_name(&user)?;
        let found = blocking(&state, move |s| s.fetch_prekeys(&user))
            .await
            .map_err(store_refusal)?;
        let response = PrekeyResponse {
            mailbox: found.mailbox,
            bundle: found.bundle,
            one_time: found.one_time.map(|(id, key)| OneTimePrekey { id, key }),
        };
        Ok(response.to_bytes().into_response())
    };
    respond(&state, reply.await)
}

async fn submit(State(state): State<RelayState>, ext: Extensions, body: Bytes) -> Response {
    let reply = async {
        limit(&state, peer_key(&ext))?;
        let now = state.now();
        let delivery = envelopes::accept(&body, now, &state.config)?;
        let mailboxes: Vec<MailboxId> = delivery.parts.iter().map(|(m, _)| *m).collect();
        let pushes = envelopes::push_frames(&delivery, now);
        state
            .writer
            .deliver(delivery)
            .await
            .map_err(store_refusal)?;
        state.metrics.accepted(mailboxes.len());
        for (mailbox, frame) in pushes {
            if state.hub.push(&mailbox, &frame) > 0 {
                state.metrics.pushed();
            }
        }
        Ok(StatusCode::ACCEPTED.into_response())
    };
    respond(&state, reply.await)
}

/// Typing indicators and the like: pushed to whoever is connected now, never stored.
async fn submit_ephemeral(
    State(state): State<RelayState>,
    ext: Extensions,
    body: Bytes,
) -> Response {
    let reply = async {
        limit(&state, peer_key(&ext))?;
        let now = state.now();
        let delivery = envelopes::accept(&body, now, &state.config)?;
        let pushes = envelopes::push_frames(&delivery, now);
        state.metrics.ephemeral(pushes.len());
        for (mailbox, frame) in pushes {
            state.hub.push(&mailbox, &frame);
        }
        Ok(StatusCode::ACCEPTED.into_response())
    };
    respond(&state, reply.await)
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

async fn fetch(
    State(state): State<RelayState>,
    Query(page): Query<Page>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let reply = async {
        let mailbox = authenticate(&state, &method, &uri, &headers, b"").await?;
        let limit = page
            .limit
            .unwrap_or(state.config.page_size)
            .min(state.config.page_size);
        let found = blocking(&state, move |s| s.fetch(&mailbox, page.after, limit))
            .await
            .map_err(store_refusal)?;
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
    body: Bytes,
) -> Response {
    let reply = async {
        let mailbox = authenticate(&state, &method, &uri, &headers, &body).await?;
        let ids = Ack::from_bytes(&body)?.ids;
        let removed = blocking(&state, move |s| s.ack(&mailbox, &ids))
            .await
            .map_err(store_refusal)?;
        state.metrics.acked(removed);
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    respond(&state, reply.await)
}

async fn websocket(
    State(state): State<RelayState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    match authenticate(&state, &method, &uri, &headers, b"").await {
        Ok(mailbox) => upgrade.on_upgrade(move |socket| stream(state, mailbox, socket)),
        Err(refusal) => refuse(&state, refusal),
    }
}

/// Sends what is pending, then pushes new deliveries as they arrive; the client acknowledges
/// with binary `Ack` frames.
async fn stream(state: RelayState, mailbox: MailboxId, mut socket: WebSocket) {
    // Subscribe before reading the backlog so nothing slips between the two; the client drops
    // the duplicates by envelope id.
    let mut subscription = state.hub.subscribe(mailbox);
    if send_backlog(&state, &mailbox, &mut socket).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            frame = subscription.frames.recv() => {
                let Some(frame) = frame else { break };
                if socket.send(Message::Binary(frame.as_ref().clone().into())).await.is_err() {
                    break;
                }
                state.metrics.pushed();
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Binary(bytes))) => {
                    let Ok(ack) = Ack::from_bytes(&bytes) else { break };
                    let removed = blocking(&state, move |s| s.ack(&mailbox, &ack.ids)).await.unwrap_or(0);
                    state.metrics.acked(removed);
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                _ => break,
            },
        }
    }
}

async fn send_backlog(
    state: &RelayState,
    mailbox: &MailboxId,
    socket: &mut WebSocket,
) -> Result<(), ()> {
    let mut after = 0;
    loop {
        let (m, page) = (*mailbox, state.config.page_size);
        let found = blocking(state, move |s| s.fetch(&m, after, page))
            .await
            .map_err(|_| ())?;
        for d in &found {
            let frame = envelopes::delivered(d, mailbox).map_err(|_| ())?.to_bytes();
            socket
                .send(Message::Binary(frame.into()))
                .await
                .map_err(|_| ())?;
            after = d.seq;
        }
        if found.len() < page {
            return Ok(());
        }
    }
}
