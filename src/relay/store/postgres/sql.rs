//! Small helpers every part of the PostgreSQL store uses: statements through the
//! connection's cache, integer conversions, and what a failure means.

use deadpool_postgres::GenericClient;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use super::super::StoreError;
pub(super) use super::super::columns::{int, mailbox, uint};

/// Why a unit of work stopped: the database failed (perhaps only a lost race, worth running
/// again), or the store refused the request.
pub(super) enum Fault {
    Db(tokio_postgres::Error),
    Refused(StoreError),
}

impl From<tokio_postgres::Error> for Fault {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

impl From<StoreError> for Fault {
    fn from(e: StoreError) -> Self {
        Self::Refused(e)
    }
}

/// Whether `e` means the transaction lost a deadlock or serialization race and did nothing.
pub(super) fn lost_race(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// Runs a query through the connection's statement cache.
pub(super) async fn query(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, Fault> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

/// Runs a statement through the connection's statement cache; how many rows it touched.
pub(super) async fn execute(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, Fault> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

/// `sql`'s statements through the connection's cache, prepared one after another: queries on
/// them can then be pipelined (issued together, without waiting for each answer; the server
/// runs them in the order they were issued, which is the order their futures are first
/// polled).
pub(super) async fn statements<const N: usize>(
    c: &impl GenericClient,
    sql: [&str; N],
) -> Result<[Statement; N], Fault> {
    let mut prepared = Vec::with_capacity(N);
    for s in sql {
        prepared.push(c.prepare_cached(s).await?);
    }
    prepared
        .try_into()
        .map_err(|_| Fault::Refused(StoreError::Backend))
}

/// A fixed-size column, or a backend failure if the database holds something else.
pub(super) fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], Fault> {
    bytes
        .try_into()
        .map_err(|_| Fault::Refused(StoreError::Backend))
}
