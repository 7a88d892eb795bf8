//! Token issuance (PROTOCOL.md §11.4): an account proves its mailbox and shows the platform's
//! certificate of its tier; the relay evaluates blinded inputs under the month's key for the
//! kind, within the account's monthly quota. It sees the account and how many tokens it took,
//! never the tokens themselves, so it cannot tell later whose token an envelope spends.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};

use super::auth::{limit, peer_key};
use super::refusal::Refusal;
use super::server::{authenticated_body, blocking, malformed, respond};
use super::state::RelayState;
use crate::platform::{month_of, monthly_tokens};
use crate::relay_api::{TokenIssue, TokenIssued};
use crate::token::{MAX_BATCH, TokenKind};

/// `POST /v1/tokens`.
pub(crate) async fn issue(
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
        let TokenIssue {
            account,
            request,
            purchase,
        } = TokenIssue::from_bytes(&bytes)?;
        let now = state.now();
        let platform = state.config.platform.as_ref().ok_or(Refusal::Forbidden)?;
        account
            .verify(platform, now)
            .map_err(|_| Refusal::Forbidden)?;
        if account.mailbox != mailbox || request.period != month_of(now) {
            return Err(Refusal::Forbidden);
        }
        // The batch is checked before the quota is charged: a request that cannot be
        // evaluated must not cost the account anything.
        if request.blinded.is_empty() || request.blinded.len() > MAX_BATCH {
            return Err(malformed("token request batch size"));
        }
        let count = u32::try_from(request.blinded.len()).map_err(|_| Refusal::NoQuota)?;
        match purchase {
            // Bought credits: counted against the purchase, which only its buyer redeems.
            Some(purchase) => {
                purchase
                    .verify(platform, now)
                    .map_err(|_| Refusal::Forbidden)?;
                if purchase.mailbox != mailbox || request.kind != TokenKind::Credit {
                    return Err(Refusal::Forbidden);
                }
                blocking(&state, move |s| {
                    s.take_purchase(&purchase.id, count, purchase.credits, purchase.expires)
                })
                .await?;
            }
            None => {
                let max = monthly_tokens(request.kind, &account);
                let kind = kind_byte(request.kind);
                let period = request.period;
                blocking(&state, move |s| {
                    s.take_quota(&mailbox, kind, period, count, max)
                })
                .await?;
            }
        }
        let key = state
            .issuer
            .public_key(request.kind, request.period)
            .map_err(|_| Refusal::Unavailable)?;
        // Quota is taken first so two concurrent requests cannot both pass; an element that is
        // not a valid point fails here, after it was counted: a client that sends garbage
        // loses those tokens, an honest one never does.
        let response = state
            .issuer
            .issue(&mut rand::rng(), &request)
            .map_err(|_| malformed("blinded element"))?;
        state.metrics.issued(request.blinded.len());
        Ok(TokenIssued { key, response }.to_bytes().into_response())
    };
    respond(&state, reply.await)
}

/// `GET /v1/tokens/{kind}/{period}`: the issuer's public key, the same for every account, so a
/// client can check it was not given a key of its own (which would mark its tokens).
pub(crate) async fn public_key(
    State(state): State<RelayState>,
    path: Result<Path<(String, u32)>, PathRejection>,
    ext: Extensions,
) -> Response {
    let reply = async {
        limit(&state, peer_key(&state, &ext))?;
        let Path((kind, period)) = path.map_err(|_| malformed("token key path"))?;
        let kind = TokenKind::ALL
            .into_iter()
            .find(|k| k.label() == kind)
            .ok_or(malformed("token kind"))?;
        let key = state
            .issuer
            .public_key(kind, period)
            .map_err(|_| Refusal::Unavailable)?;
        Ok(key.0.to_vec().into_response())
    };
    respond(&state, reply.await)
}

fn kind_byte(kind: TokenKind) -> u8 {
    match kind {
        TokenKind::Invite => 0,
        TokenKind::Credit => 1,
        TokenKind::Premium => 2,
        TokenKind::Sponsored => 3,
    }
}
