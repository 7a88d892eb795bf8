//! Who is asking: the mailbox proof of a request (PROTOCOL.md §8.2), and rate limits by mailbox
//! or, for anonymous requests and failed proofs, by network address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, Method, Uri, header};

use super::refusal::Refusal;
use super::server::blocking;
use super::state::RelayState;
use super::store::StoreError;
use crate::mailbox::{AuthProof, MailboxId};

/// The rate-limit key of the peer's network source: an IPv4 address (as its IPv6 mapping), or
/// an IPv6 address's first `ipv6_prefix` bits, since one subscriber holds a whole prefix.
/// In-process requests, which have no address, share one key.
pub(crate) fn source_key(ext: &Extensions, ipv6_prefix: u8) -> [u8; 16] {
    match ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) {
        Some(IpAddr::V4(ip)) => ip.to_ipv6_mapped().octets(),
        Some(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.to_ipv6_mapped().octets(),
            None => prefix(ip.octets(), ipv6_prefix),
        },
        None => [0; 16],
    }
}

/// `address` with every bit past the first `bits` cleared.
fn prefix(mut address: [u8; 16], bits: u8) -> [u8; 16] {
    let bits = usize::from(bits.min(128));
    for (i, byte) in address.iter_mut().enumerate() {
        let keep = bits.saturating_sub(8 * i).min(8);
        *byte &= !(0xffu8.checked_shr(keep as u32).unwrap_or(0));
    }
    address
}

/// The source key of a request under the relay's configuration.
pub(crate) fn peer_key(state: &RelayState, ext: &Extensions) -> [u8; 16] {
    source_key(ext, state.config.ipv6_prefix)
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

impl<'a> Request<'a> {
    /// A request whose proof covers an empty body (`GET`, the WebSocket upgrade).
    pub(crate) fn without_body(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        ext: &'a Extensions,
    ) -> Self {
        Self {
            method,
            uri,
            headers,
            ext,
            body: b"",
        }
    }
}

/// Verifies the request's mailbox proof and spends its nonce. A peer whose proofs keep failing
/// is refused before its next signature is even checked.
pub(crate) async fn authenticate(
    state: &RelayState,
    request: Request<'_>,
) -> Result<MailboxId, Refusal> {
    let peer = peer_key(state, request.ext);
    if state.failures.exhausted(peer) {
        return Err(Refusal::RateLimited);
    }
    let verified = verify(state, &request).inspect_err(|_| {
        state.failures.allow(peer);
    })?;
    // Per source as well as per mailbox: mailbox keys cost nothing to make.
    if !state.sources.allow(peer) {
        return Err(Refusal::RateLimited);
    }
    limit(state, verified.mailbox.0)?;
    state.replay.check(
        verified.mailbox,
        verified.nonce,
        verified.timestamp,
        state.now(),
    )?;
    // Other relays on the same store must not take the proof again either.
    if state.store.shared() {
        let (mailbox, nonce) = (verified.mailbox, verified.nonce);
        let until = verified
            .timestamp
            .saturating_add(crate::mailbox::MAX_CLOCK_SKEW);
        let fresh = blocking(state, move |s| s.fresh_nonce(&mailbox, &nonce, until)).await?;
        if !fresh {
            return Err(Refusal::Replayed);
        }
    }
    Ok(verified.mailbox)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::net::Ipv6Addr;

    use super::*;

    fn key(address: &str, bits: u8) -> [u8; 16] {
        let mut ext = Extensions::new();
        let addr: SocketAddr = address.parse().unwrap();
        ext.insert(ConnectInfo(addr));
        source_key(&ext, bits)
    }

    #[test]
    fn an_ipv6_subscriber_is_one_source_per_prefix() {
        let a = key("[2001:db8:1:2:aaaa::1]:443", 64);
        let b = key("[2001:db8:1:2:ffff:ffff:ffff:ffff]:1", 64);
        let other = key("[2001:db8:1:3::1]:443", 64);
        assert_eq!(a, b);
        assert_ne!(a, other);
        let expected: Ipv6Addr = "2001:db8:1:2::".parse().unwrap();
        assert_eq!(a, expected.octets());
        // A /56 holds 256 /64s; a /128 is the address itself.
        assert_eq!(
            key("[2001:db8:1:2::1]:1", 56),
            key("[2001:db8:1:ff::1]:1", 56)
        );
        assert_ne!(key("[2001:db8::1]:1", 128), key("[2001:db8::2]:1", 128));
        assert_eq!(key("[2001:db8::1]:1", 0), [0; 16]);
        // Prefixes that do not fall on a byte boundary.
        assert_eq!(
            key("[2001:db8:1:2::1]:1", 60),
            key("[2001:db8:1:f::1]:1", 60)
        );
        assert_ne!(
            key("[2001:db8:1:2::1]:1", 60),
            key("[2001:db8:1:12::1]:1", 60)
        );
    }

    #[test]
    fn ipv4_addresses_are_one_source_each_however_they_arrive() {
        assert_ne!(key("192.0.2.1:1", 64), key("192.0.2.2:1", 64));
        assert_eq!(key("192.0.2.1:1", 64), key("[::ffff:192.0.2.1]:1", 64));
    }
}
