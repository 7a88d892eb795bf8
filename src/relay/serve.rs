//! Running the relay on a socket, with the expiry sweeper beside it.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedReceiver;

use super::envelopes;
use super::server::app;
use super::state::RelayState;
use super::store::Passed;

/// Serves the relay on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: RelayState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tokio::spawn(sweep(state.clone()));
    let follower = state.store.shared().then(|| {
        let (delivered, nudges) = tokio::sync::mpsc::unbounded_channel();
        state.store.watch_deliveries(delivered);
        (
            tokio::spawn(follow_access(state.clone())),
            tokio::spawn(follow_deliveries(state.clone(), nudges)),
        )
    });
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await;
    sweeper.abort();
    if let Some((access, deliveries)) = follower {
        access.abort();
        deliveries.abort();
    }
    served
}

/// Deletes expired envelopes, and forgets proof nonces, every `sweep_interval` seconds.
async fn sweep(state: RelayState) {
    let mut tick = tokio::time::interval(Duration::from_secs(state.config.sweep_interval.max(1)));
    loop {
        tick.tick().await;
        let (store, now) = (state.store.clone(), state.now());
        state.replay.sweep(now);
        match tokio::task::spawn_blocking(move || store.expire(now)).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(expired = n, "swept expired envelopes"),
            Ok(Err(e)) => tracing::warn!(error = %e, "expiry sweep failed"),
            _ => {}
        }
    }
}

/// How often a relay sharing its store takes the access records other relays wrote: the
/// bound on how long a registration or revocation made through one relay takes to reach the
/// others (plus one query).
pub(crate) const FOLLOW_ACCESS: Duration = Duration::from_millis(250);

/// Keeps the access book in step with a store other relays write to.
async fn follow_access(state: RelayState) {
    let mut cursor = state.access_cursor;
    let mut tick = tokio::time::interval(FOLLOW_ACCESS);
    loop {
        tick.tick().await;
        let store = state.store.clone();
        match tokio::task::spawn_blocking(move || store.access_changes(cursor)).await {
            Ok(Ok((changed, next))) => {
                state.access.apply(changed);
                cursor = next;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "following access changes failed"),
            Err(_) => {}
        }
    }
}

/// Nudges this relay's sockets on mailboxes other relays delivered to (each fetches what is
/// new for it), and pushes the ephemeral deliveries other relays took to its sockets.
async fn follow_deliveries(state: RelayState, mut passed: UnboundedReceiver<Passed>) {
    let nudge = super::hub::Frame::new();
    while let Some(passed) = passed.recv().await {
        match passed {
            Passed::Stored(mailboxes) => {
                for mailbox in mailboxes {
                    state.hub.push(&mailbox, &nudge);
                }
            }
            Passed::Ephemeral(bytes) => {
                match envelopes::passed_frames(&bytes, |m| state.hub.is_connected(m)) {
                    Ok(pushes) => state.metrics.ephemeral(state.hub.push_all(&pushes)),
                    Err(e) => tracing::warn!(error = %e, "ephemeral delivery from another relay"),
                }
            }
        }
    }
}
