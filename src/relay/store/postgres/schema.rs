//! Versioned migrations, applied at start under an advisory lock so relays starting together
//! apply each one once. A database migrated by a newer relay is refused, not misread.
//!
//! Every hot table is keyed by mailbox id first (`mailboxes`, `deliveries`), by body id
//! (`bodies`) or by token id (`token_spends`): each distributes on that column on a sharded
//! PostgreSQL-protocol engine, and every hot statement names it.

use deadpool_postgres::Client;

use super::super::StoreError;
use super::sql::{Fault, query};

/// Any constant both relays agree on: the lock serializes migrations, nothing else.
const MIGRATION_LOCK: i64 = 0x6d69_7373_6976_6501;

/// Each version's statements, applied in order; a released version never changes.
const MIGRATIONS: [(i32, &str); 3] = [(1, V1), (2, V2), (3, V3)];

const V1: &str = "
-- One row per mailbox ever delivered to: its last sequence number (never reused, so a
-- client's cursor stays valid), and what it holds pending, for its quota. A batch locks the
-- rows of its recipients, in key order, for the length of its transaction.
CREATE TABLE mailboxes (
    mailbox  bytea  PRIMARY KEY,
    last_seq bigint NOT NULL,
    pending  bigint NOT NULL,
    bytes    bigint NOT NULL
);
-- An envelope's shared ciphertext, stored once for all its mailboxes. Its id is drawn from
-- the sequence before the insert, so a batch names it in its deliveries in the same round.
CREATE SEQUENCE body_ids;
CREATE TABLE bodies (
    body_id    bigint PRIMARY KEY,
    bytes      bytea  NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX bodies_expiry ON bodies (expires_at);
CREATE TABLE deliveries (
    mailbox     bytea  NOT NULL,
    seq         bigint NOT NULL,
    envelope_id bytea  NOT NULL,
    body_id     bigint NOT NULL,
    part        bytea  NOT NULL,
    size        bigint NOT NULL,
    received_at bigint NOT NULL,
    expires_at  bigint NOT NULL,
    PRIMARY KEY (mailbox, seq),
    UNIQUE (mailbox, envelope_id)
);
CREATE INDEX deliveries_expiry ON deliveries (expires_at);
CREATE INDEX deliveries_body ON deliveries (body_id);
-- Bodies an acknowledgement may have left with no delivery (two acknowledgements of one
-- body committing together each see the other's delivery); the sweep looks at each once.
CREATE TABLE body_sweep (
    body_id bigint PRIMARY KEY
);
CREATE TABLE bundles (
    name   bytea PRIMARY KEY,
    owner  bytea NOT NULL,
    bundle bytea NOT NULL
);
CREATE TABLE one_time_prekeys (
    name   bytea  NOT NULL,
    key_id bigint NOT NULL,
    prekey bytea  NOT NULL,
    PRIMARY KEY (name, key_id)
);
CREATE TABLE mailbox_access (
    mailbox bytea PRIMARY KEY,
    record  bytea NOT NULL
);
CREATE TABLE token_spends (
    token      bytea   PRIMARY KEY,
    recipients bytea   NOT NULL,
    first_at   bigint  NOT NULL,
    uses       integer NOT NULL,
    expires_at bigint  NOT NULL
);
CREATE INDEX token_spends_expiry ON token_spends (expires_at);
CREATE TABLE token_quota (
    mailbox bytea    NOT NULL,
    kind    smallint NOT NULL,
    period  integer  NOT NULL,
    issued  bigint   NOT NULL,
    PRIMARY KEY (mailbox, kind, period)
);
CREATE INDEX token_quota_period ON token_quota (period);
CREATE TABLE credit_purchases (
    id         bytea  PRIMARY KEY,
    redeemed   bigint NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX credit_purchases_expiry ON credit_purchases (expires_at);
CREATE TABLE secrets (
    name  text  PRIMARY KEY,
    value bytea NOT NULL
);
";

const V2: &str = "
-- The transaction that last wrote each access record: relays follow one another's changes by
-- it (see access::changes).
ALTER TABLE mailbox_access ADD COLUMN writer xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX mailbox_access_writer ON mailbox_access (writer);
-- Proof nonces seen by any relay, while their proofs could still be accepted. Unlogged: a
-- database crash forgets them, as a relay restart forgets its own (proofs made before a
-- relay started are refused by it anyway).
CREATE UNLOGGED TABLE proof_nonces (
    mailbox bytea  NOT NULL,
    nonce   bytea  NOT NULL,
    until   bigint NOT NULL,
    PRIMARY KEY (mailbox, nonce)
);
CREATE INDEX proof_nonces_until ON proof_nonces (until);
";

const V3: &str = "
-- Each account's signed device list (PROTOCOL.md §12.5); devices' bundles are directory
-- entries of their own.
CREATE TABLE device_lists (
    name    bytea  PRIMARY KEY,
    version bigint NOT NULL,
    list    bytea  NOT NULL
);
";

/// The newest schema version this relay knows.
pub(super) const LATEST: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Brings the database's schema to [`LATEST`].
pub(super) async fn migrate(c: &mut Client) -> Result<(), Fault> {
    let tx = c.transaction().await?;
    tx.query("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS missive_schema (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let rows = query(
        &tx,
        "SELECT COALESCE(MAX(version), 0) FROM missive_schema",
        &[],
    )
    .await?;
    let have: i32 = rows.first().map_or(0, |r| r.get(0));
    if have > LATEST {
        tracing::error!(
            database = have,
            relay = LATEST,
            "the database's schema is newer than this relay"
        );
        return Err(Fault::Refused(StoreError::Backend));
    }
    for (version, statements) in MIGRATIONS.iter().filter(|(v, _)| *v > have) {
        tx.batch_execute(statements).await?;
        tx.execute(
            "INSERT INTO missive_schema (version) VALUES ($1)",
            &[version],
        )
        .await?;
        tracing::info!(version, "database schema migrated");
    }
    tx.commit().await?;
    Ok(())
}
