//! `GET /v1/mailbox/ws`: the mailbox's backlog, then every new delivery (stored or ephemeral)
//! the moment it arrives, as binary `DeliveredEnvelope` frames; the client acknowledges with
//! binary `Ack` frames. Anything else from the client closes the stream.

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{Extensions, HeaderMap, Method, Uri};
use axum::response::Response;

use super::auth::{Request, authenticate};
use super::envelopes;
use super::refusal::Refusal;
use super::server::{blocking, refuse};
use super::state::RelayState;
use crate::error::DecodeError;
use crate::mailbox::MailboxId;
use crate::relay_api::Ack;

/// Largest frame a client may send (an `Ack` of about 60,000 ids).
const MAX_CLIENT_FRAME: usize = 1 << 20;

pub(crate) async fn websocket(
    State(state): State<RelayState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let request = Request {
        method: &method,
        uri: &uri,
        headers: &headers,
        ext: &ext,
        body: b"",
    };
    let upgrade = match authenticate(&state, request).await {
        Ok(mailbox) => upgrade.map(|u| (mailbox, u)).map_err(|_| {
            Refusal::Malformed(DecodeError::Invalid {
                what: "websocket upgrade",
            })
        }),
        Err(refusal) => Err(refusal),
    };
    match upgrade {
        Ok((mailbox, upgrade)) => upgrade
            .max_message_size(MAX_CLIENT_FRAME)
            .on_upgrade(move |socket| stream(state, mailbox, socket)),
        Err(refusal) => refuse(&state, refusal),
    }
}

/// Sends what is pending, then pushes new deliveries as they arrive.
async fn stream(state: RelayState, mailbox: MailboxId, mut socket: WebSocket) {
    // Subscribe before reading the backlog so nothing slips between the two; the client drops
    // the duplicates by envelope id.
    let mut subscription = state.hub.subscribe(mailbox);
    tracing::debug!("mailbox stream opened");
    if send_backlog(&state, &mailbox, &mut socket).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            frame = subscription.frames.recv() => {
                let Some(frame) = frame else { break };
                if socket.send(Message::Binary(frame)).await.is_err() {
                    break;
                }
                state.metrics.pushed(1);
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Binary(bytes))) => {
                    let Ok(ack) = Ack::from_bytes(&bytes) else {
                        state.metrics.refused(&Refusal::Malformed(DecodeError::Invalid { what: "" }));
                        break;
                    };
                    let removed = blocking(&state, move |s| s.ack(&mailbox, &ack.ids)).await;
                    state.metrics.acked(removed.unwrap_or(0));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                _ => break,
            },
        }
    }
    tracing::debug!("mailbox stream closed");
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
            state.metrics.pushed(1);
            after = d.seq;
        }
        if found.len() < page {
            return Ok(());
        }
    }
}
