//! Small helpers every part of the SQLite store uses: integer conversions, the statement
//! cache, and a delivery row's columns.

use rusqlite::{Connection, OptionalExtension};

use super::super::StoreError;
pub(super) use super::super::columns::{int, mailbox, uint};

pub(super) fn backend<E>(_: E) -> StoreError {
    StoreError::Backend
}

/// `(seq, mailbox, body_id, size)` of a stored delivery.
pub(super) type Row = (i64, Vec<u8>, i64, i64);

/// Runs a statement through the connection's prepared-statement cache.
pub(super) fn cached(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(backend)
}

/// Runs a statement that returns at most one integer, through the statement cache.
pub(super) fn returning(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_row(params, |r| r.get(0)).optional())
        .map_err(backend)
}

pub(super) fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}
