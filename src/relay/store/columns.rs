//! Conversions between the store's values and SQL columns, the same for every backend: SQL
//! integers are signed, and a mailbox id is 16 bytes.

use super::MailboxId;

/// A count or time as an SQL integer (saturating: none comes near 2^63).
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// An SQL integer as a count or time (a negative one, which no write makes, as 0).
pub(crate) fn uint(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A mailbox id column (all zeros if the database holds something else).
pub(crate) fn mailbox(bytes: &[u8]) -> MailboxId {
    MailboxId(<[u8; 16]>::try_from(bytes).unwrap_or_default())
}
