//! The rule for spending a token again, the same for every backend: the same recipients,
//! within the window, at most `max_uses` envelopes.

use super::Spend;

/// A spent token's record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spent {
    pub(crate) recipients: [u8; 16],
    pub(crate) first: u64,
    pub(crate) uses: u32,
    pub(crate) expires_at: u64,
}

/// The token's record after `spend`, or `None` when it may not be spent: it was spent
/// before on other recipients, outside the window, or too often.
pub(crate) fn next_spend(before: Option<&Spent>, spend: &Spend, now: u64) -> Option<Spent> {
    match before {
        None => Some(Spent {
            recipients: spend.recipients,
            first: now,
            uses: 1,
            expires_at: spend.expires_at,
        }),
        Some(s) => {
            let again = s.recipients == spend.recipients
                && now.saturating_sub(s.first) <= spend.window
                && s.uses < spend.max_uses;
            again.then_some(Spent {
                uses: s.uses + 1,
                ..*s
            })
        }
    }
}
