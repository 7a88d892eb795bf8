//! Why the relay refused a request, as an HTTP status and a short reason. A client's mistake is
//! always a 4xx; only a failing disk is a 5xx. Reasons never echo request bodies.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::{DecodeError, Error};

/// A refused request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The body or a parameter did not decode.
    Malformed(DecodeError),
    /// No, or an unverifiable, mailbox proof.
    Unauthenticated,
    /// The proof's nonce was used before.
    Replayed,
    /// The proof is too old or too far in the future.
    Stale,
    /// The signer does not own what it tried to change.
    Forbidden,
    /// Nothing is published under that name.
    NotFound,
    /// The envelope (or another request body) is larger than the relay accepts.
    TooLarge,
    /// More recipients than one envelope may name.
    TooManyRecipients,
    /// A recipient's mailbox is full.
    MailboxFull,
    /// Too many one-time prekeys.
    TooManyPrekeys,
    /// The client sent too many requests.
    RateLimited,
    /// Storage failed; the request may be retried.
    Unavailable,
    /// The relay has too many writes waiting; the request may be retried.
    Overloaded,
    /// The credential does not let its holder deliver to every recipient.
    AccessDenied,
    /// The envelope's token was spent before.
    TokenSpent,
    /// The account has no tokens of that kind left this month.
    NoQuota,
    /// A mailbox tried to register more access keys than the relay keeps.
    TooManyKeys,
}

impl Refusal {
    /// Every reason, in the order the metrics report them.
    pub const ALL: [Refusal; 17] = [
        Self::Malformed(DecodeError::Invalid { what: "" }),
        Self::Unauthenticated,
        Self::Replayed,
        Self::Stale,
        Self::Forbidden,
        Self::NotFound,
        Self::TooLarge,
        Self::TooManyRecipients,
        Self::MailboxFull,
        Self::TooManyPrekeys,
        Self::RateLimited,
        Self::Unavailable,
        Self::Overloaded,
        Self::AccessDenied,
        Self::TokenSpent,
        Self::NoQuota,
        Self::TooManyKeys,
    ];

    /// A stable label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Unauthenticated => "unauthenticated",
            Self::Replayed => "replayed",
            Self::Stale => "stale",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::TooLarge => "too_large",
            Self::TooManyRecipients => "too_many_recipients",
            Self::MailboxFull => "mailbox_full",
            Self::TooManyPrekeys => "too_many_prekeys",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Overloaded => "overloaded",
            Self::AccessDenied => "access_denied",
            Self::TokenSpent => "token_spent",
            Self::NoQuota => "no_quota",
            Self::TooManyKeys => "too_many_keys",
        }
    }

    /// Index into [`Refusal::ALL`].
    pub fn index(&self) -> usize {
        Self::ALL
            .iter()
            .position(|r| r.label() == self.label())
            .unwrap_or(0)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Malformed(_) | Self::TooManyRecipients => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::Replayed | Self::Stale => StatusCode::UNAUTHORIZED,
            Self::Forbidden
            | Self::MailboxFull
            | Self::TooManyPrekeys
            | Self::AccessDenied
            | Self::NoQuota
            | Self::TooManyKeys => StatusCode::FORBIDDEN,
            Self::TokenSpent => StatusCode::CONFLICT,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable | Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn reason(&self) -> String {
        match self {
            Self::Malformed(e) => format!("malformed request: {e}"),
            Self::Unauthenticated => "missing or invalid mailbox proof".into(),
            Self::Replayed => "mailbox proof was already used".into(),
            Self::Stale => "mailbox proof timestamp is outside the accepted window".into(),
            Self::Forbidden => "not the owner".into(),
            Self::NotFound => "not found".into(),
            Self::TooLarge => "request too large".into(),
            Self::TooManyRecipients => "too many recipients".into(),
            Self::MailboxFull => "recipient mailbox is full".into(),
            Self::TooManyPrekeys => "too many one-time prekeys".into(),
            Self::RateLimited => "rate limited".into(),
            Self::Unavailable => "storage unavailable, retry later".into(),
            Self::Overloaded => "relay overloaded, retry later".into(),
            Self::AccessDenied => "no valid delivery credential for every recipient".into(),
            Self::TokenSpent => "token already spent".into(),
            Self::NoQuota => "no tokens of that kind left this month".into(),
            Self::TooManyKeys => "too many access keys".into(),
        }
    }
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        match e {
            Error::Decode(d) => Self::Malformed(d),
            Error::Crypto(crate::CryptoError::Expired) => Self::Stale,
            _ => Self::Unauthenticated,
        }
    }
}

impl From<DecodeError> for Refusal {
    fn from(e: DecodeError) -> Self {
        Self::Malformed(e)
    }
}

impl IntoResponse for Refusal {
    /// The status, and a body of the metrics label, a colon and the reason in words, so a
    /// client can tell refusals apart without parsing prose.
    /// A refusal worth retrying unchanged (overloaded, storage unavailable, rate limited)
    /// says when: in a second.
    fn into_response(self) -> Response {
        let body = format!("{}: {}", self.label(), self.reason());
        let status = self.status();
        let mut response = (status, body).into_response();
        if matches!(
            status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        ) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

/// What `Retry-After` says on a 503 or a 429.
const RETRY_AFTER_SECONDS: &str = "1";

#[cfg(test)]
mod retry_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn refusals_worth_retrying_say_when() {
        for r in [
            Refusal::Unavailable,
            Refusal::Overloaded,
            Refusal::RateLimited,
        ] {
            let response = r.into_response();
            assert_eq!(response.headers()["retry-after"], "1");
        }
        for r in [
            Refusal::AccessDenied,
            Refusal::TokenSpent,
            Refusal::Replayed,
        ] {
            assert!(r.into_response().headers().get("retry-after").is_none());
        }
    }
}
