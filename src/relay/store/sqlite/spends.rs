//! Token spends, in memory: the spend log folded into one record per token at open.

use std::collections::HashMap;

use rusqlite::Connection;

use super::super::StoreError;
use super::super::spend::Spent;
use super::sql::{backend, uint};

pub(super) type SpentMap = HashMap<[u8; 32], Spent>;

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
