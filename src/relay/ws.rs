//! `GET /v1/mailbox/ws`: the mailbox's backlog, then every new delivery (stored or ephemeral)
//! the moment it arrives, as binary `DeliveredEnvelope` frames; the client acknowledges with
//! binary `Ack` frames. Anything else from the client closes the stream.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{Extensions, HeaderMap, Method, Uri};
use axum::response::Response;

use super::auth::{Request, authenticate};
use super::envelopes;
use super::hub::Full;
use super::refusal::Refusal;
use super::server::{blocking, refuse};
use super::state::RelayState;
use crate::error::DecodeError;
use crate::mailbox::MailboxId;
use crate::relay_api::Ack;

/// Largest frame a client may send (an `Ack` of about 60,000 ids).
const MAX_CLIENT_FRAME: usize = 1 << 20;
/// What each connection reads into at first (the default, 128 KiB, is filled on the first
/// read and kept for the connection's life; acknowledgements are small, and a larger one
/// grows the buffer as it comes).
const READ_BUFFER: usize = 4 << 10;

pub(crate) async fn websocket(
    State(state): State<RelayState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let request = Request::without_body(&method, &uri, &headers, &ext);
    let upgrade = match authenticate(&state, request).await {
        // Refused before upgrading when the mailbox, or the relay, holds all the connections
        // it may.
        Ok(mailbox) => match state.hub.has_room(&mailbox) {
            Ok(()) => upgrade.map(|u| (mailbox, u)).map_err(|_| {
                Refusal::Malformed(DecodeError::Invalid {
                    what: "websocket upgrade",
                })
            }),
            Err(full) => Err(refusal(full)),
        },
        Err(refusal) => Err(refusal),
    };
    match upgrade {
        Ok((mailbox, upgrade)) => upgrade
            .max_message_size(MAX_CLIENT_FRAME)
            .read_buffer_size(READ_BUFFER)
            .on_upgrade(move |socket| stream(state, mailbox, socket)),
        Err(refusal) => refuse(&state, refusal),
    }
}

fn refusal(full: Full) -> Refusal {
    match full {
        Full::Mailbox => Refusal::RateLimited,
        Full::Relay => Refusal::Overloaded,
    }
}

/// Sends what is pending, then pushes new deliveries as they arrive. A write that does not
/// finish within the configured time ends the connection: a client that does not read holds
/// one page of backlog and its queue of pushes at most, and not for long.
async fn stream(state: RelayState, mailbox: MailboxId, mut socket: WebSocket) {
    // Subscribe before reading the backlog so nothing slips between the two; the client drops
    // the duplicates by envelope id.
    let Ok(mut subscription) = state.hub.subscribe(mailbox) else {
        return;
    };
    tracing::debug!("mailbox stream opened");
    let timeout = Duration::from_secs(state.config.socket_write_timeout.max(1));
    let Ok(mut after) = send_backlog(&state, &mailbox, &mut socket, timeout, 0).await else {
        return;
    };
    // On a store other relays share, what they take arrives as a nudge (an empty frame), and
    // the socket looks again every so often in case a nudge was lost.
    let mut look_again = tokio::time::interval(LOOK_AGAIN);
    look_again.tick().await;
    let shared = state.store.shared();
    loop {
        tokio::select! {
            frame = subscription.recv() => {
                let Some(frame) = frame else { break };
                if frame.is_empty() {
                    match send_backlog(&state, &mailbox, &mut socket, timeout, after).await {
                        Ok(next) => after = next,
                        Err(()) => break,
                    }
                    continue;
                }
                if send(&mut socket, frame, timeout).await.is_err() {
                    break;
                }
                state.metrics.pushed(1);
            }
            _ = look_again.tick(), if shared => {
                match send_backlog(&state, &mailbox, &mut socket, timeout, after).await {
                    Ok(next) => after = next,
                    Err(()) => break,
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Binary(bytes))) => {
                    let Ok(ack) = Ack::from_bytes(&bytes) else {
                        state.metrics.refused(&Refusal::Malformed(DecodeError::Invalid { what: "" }));
                        break;
                    };
                    let removed = state.writer.ack(mailbox, ack.ids).await;
                    state.metrics.acked(removed.unwrap_or(0));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                _ => break,
            },
        }
    }
    tracing::debug!("mailbox stream closed");
}

/// One frame, within `timeout`.
async fn send(socket: &mut WebSocket, frame: Bytes, timeout: Duration) -> Result<(), ()> {
    match tokio::time::timeout(timeout, socket.send(Message::Binary(frame))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// How often a socket on a shared store looks for deliveries it was not nudged about.
const LOOK_AGAIN: Duration = Duration::from_secs(30);

/// The backlog after sequence number `after`, a page of at most `socket_queue_bytes` in memory
/// at a time; returns the last sequence number sent.
async fn send_backlog(
    state: &RelayState,
    mailbox: &MailboxId,
    socket: &mut WebSocket,
    timeout: Duration,
    mut after: u64,
) -> Result<u64, ()> {
    loop {
        let (m, page, bytes) = (
            *mailbox,
            state.config.page_size,
            state.config.socket_queue_bytes,
        );
        let found = {
            let _turn = state.backlog_reads.acquire().await.map_err(|_| ())?;
            blocking(state, move |s| s.fetch_bounded(&m, after, page, bytes))
                .await
                .map_err(|_| ())?
        };
        let Some(last) = found.last().map(|d| d.seq) else {
            return Ok(after);
        };
        for d in found {
            let frame = envelopes::delivered(&d, mailbox)
                .map_err(|_| ())?
                .to_bytes();
            drop(d);
            send(socket, frame.into(), timeout).await?;
            state.metrics.pushed(1);
        }
        after = last;
    }
}
