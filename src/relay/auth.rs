//! Who is asking: the mailbox proof of a request (PROTOCOL.md §8.2), and rate limits by mailbox
//! or, for anonymous requests and failed proofs, by network address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, Method, Uri, header};

use super::refusal::Refusal;
use super::server::blocking;
use super::state::RelayState;
use super::store::StoreError;
use crate::mailbox::{AuthProof, MAX_CLOCK_SKEW, MailboxId};

/// The rate-limit key of the peer's address (an IPv4 address as its IPv6 mapping). In-process
/// requests, which have none, share one key.
pub(crate) fn peer_key(ext: &Extensions) -> [u8; 16] {
    match ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) {
        Some(IpAddr::V4(ip)) => ip.to_ipv6_mapped().octets(),
        Some(IpAddr::V6(ip)) => ip.octets(),
        None => [0; 16],
    }
}

/// Takes a token from `key`'s bucket.
pub(crate) fn limit(state: &RelayState, key: [u8; 16]) -> Result<(), Refusal> {
    if state.limiter.allow(key) {
        Ok(())
    } else {
        Err(Refusal::RateLimited)
    }
}

/// What a proof is checked against: the request as the relay received it.
pub(crate) struct Request<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) ext: &'a Extensions,
    pub(crate) body: &'a [u8],
}

/// Verifies the request's mailbox proof and spends its nonce. A peer whose proofs keep failing
/// is refused before its next signature is even checked.
pub(crate) async fn authenticate(
    state: &RelayState,
    request: Request<'_>,
) -> Result<MailboxId, Refusal> {
    let peer = peer_key(request.ext);
    if state.failures.exhausted(peer) {
        return Err(Refusal::RateLimited);
    }
    let verified = verify(state, &request).inspect_err(|_| {
        state.failures.allow(peer);
    })?;
    limit(state, verified.mailbox.0)?;
    let now = state.now();
    let fresh = blocking(state, move |s| {
        s.remember_nonce(
            &verified.mailbox.0,
            &verified.nonce,
            now + 2 * MAX_CLOCK_SKEW,
        )
    })
    .await
    .map_err(Refusal::from)?;
    if fresh {
        Ok(verified.mailbox)
    } else {
        Err(Refusal::Replayed)
    }
}

fn verify(
    state: &RelayState,
    request: &Request<'_>,
) -> Result<crate::mailbox::VerifiedRequest, Refusal> {
    let proof = request
        .headers
        .get(header::AUTHORIZATION)
        .ok_or(Refusal::Unauthenticated)?
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Missive "))
        .and_then(|v| hex::decode(v).ok())
        .ok_or(Refusal::Unauthenticated)?;
    let proof = AuthProof::from_bytes(&proof)?;
    let uri = request.uri;
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    Ok(proof.verify(request.method.as_str(), path, request.body, state.now())?)
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::QuotaExceeded => Refusal::MailboxFull,
            StoreError::TooManyPrekeys => Refusal::TooManyPrekeys,
            StoreError::UnknownUser => Refusal::NotFound,
            StoreError::NotOwner => Refusal::Forbidden,
            StoreError::Overloaded => Refusal::Overloaded,
            StoreError::TokenSpent => Refusal::TokenSpent,
            StoreError::NoQuota => Refusal::NoQuota,
            _ => {
                tracing::error!(error = %e, "storage failure");
                Refusal::Unavailable
            }
        }
    }
}
