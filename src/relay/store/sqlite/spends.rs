//! Token spends: the rule for spending a token again, and the spend log folded into one
//! record per token at open.

use std::collections::HashMap;

use rusqlite::Connection;

use super::super::{Spend, StoreError};
use super::sql::{backend, uint};

/// A spent token's record.
#[derive(Clone, Copy, Debug)]
pub(super) struct Spent {
    pub(super) recipients: [u8; 16],
    pub(super) first: u64,
    pub(super) uses: u32,
    pub(super) expires_at: u64,
}

pub(super) type SpentMap = HashMap<[u8; 32], Spent>;

/// The token's record after `spend`, or `None` when it may not be spent: it was spent
/// before on other recipients, outside the window, or too often.
pub(super) fn next_spend(before: Option<&Spent>, spend: &Spend, now: u64) -> Option<Spent> {
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

/// The spend log folded into one record per token.
pub(super) fn load_spent(conn: &Connection) -> Result<SpentMap, StoreError> {
    let mut map = SpentMap::new();
    let mut stmt = conn
        .prepare("SELECT token, recipients, spent_at, expires_at FROM token_spends ORDER BY rowid")
        .map_err(backend)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .map_err(backend)?;
    for row in rows {
        let (token, recipients, at, expires_at) = row.map_err(backend)?;
        let (Ok(token), Ok(recipients)) = (token.try_into(), recipients.try_into()) else {
            return Err(StoreError::Backend);
        };
        map.entry(token)
            .and_modify(|s: &mut Spent| s.uses += 1)
            .or_insert(Spent {
                recipients,
                first: uint(at),
                uses: 1,
                expires_at: uint(expires_at),
            });
    }
    Ok(map)
}
