//! The SQLite schema, applied at every open (each statement is idempotent).

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bodies (
    body_id    INTEGER PRIMARY KEY,
    bytes      BLOB    NOT NULL,
    refs       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox     BLOB    NOT NULL,
    envelope_id BLOB    NOT NULL,
    body_id     INTEGER NOT NULL REFERENCES bodies(body_id),
    part        BLOB    NOT NULL,
    size        INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    UNIQUE (mailbox, envelope_id)
);
CREATE INDEX IF NOT EXISTS deliveries_expiry ON deliveries (expires_at);
-- Freeing a body checks the foreign key from deliveries: without this index, a scan of every
-- pending delivery per acknowledgement.
CREATE INDEX IF NOT EXISTS deliveries_body ON deliveries (body_id);
-- Pages sort a mailbox's sequence numbers from the unique index instead (see fetch_bounded).
DROP INDEX IF EXISTS deliveries_mailbox;
DROP TABLE IF EXISTS mailbox_usage;
-- Proof nonces are remembered in memory now (relay::replay).
DROP TABLE IF EXISTS nonces;
CREATE TABLE IF NOT EXISTS bundles (
    user   BLOB PRIMARY KEY,
    owner  BLOB NOT NULL,
    bundle BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS mailbox_access (
    mailbox BLOB PRIMARY KEY,
    record  BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS token_spends (
    token      BLOB    NOT NULL,
    recipients BLOB    NOT NULL,
    spent_at   INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS token_spends_expiry ON token_spends (expires_at);
CREATE TABLE IF NOT EXISTS token_quota (
    mailbox BLOB    NOT NULL,
    kind    INTEGER NOT NULL,
    period  INTEGER NOT NULL,
    issued  INTEGER NOT NULL,
    PRIMARY KEY (mailbox, kind, period)
);
CREATE TABLE IF NOT EXISTS credit_purchases (
    id         BLOB    PRIMARY KEY,
    redeemed   INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS credit_purchases_expiry ON credit_purchases (expires_at);
CREATE TABLE IF NOT EXISTS secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS device_lists (
    user    BLOB    PRIMARY KEY,
    version INTEGER NOT NULL,
    list    BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS one_time_prekeys (
    user   BLOB    NOT NULL,
    key_id INTEGER NOT NULL,
    prekey BLOB    NOT NULL,
    PRIMARY KEY (user, key_id)
);
";
