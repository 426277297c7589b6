-- expand
-- What the outbox purge needs to delete only published rows (cdc/outbox,
-- Purge): the id of each row's transaction, and a marker.

-- The inserting transaction's id. Not published: the connectors exclude the
-- column (column.exclude.list). Rows already here take the id of this
-- migration's transaction, which a later marker covers.
ALTER TABLE outbox ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- One row at most: a point in the WAL, wal_lsn, taken after a snapshot whose
-- xmin is snapshot_xmin. Every transaction with an id below snapshot_xmin had
-- ended before wal_lsn, so once the connector's slot has confirmed past
-- wal_lsn every outbox row of such a transaction has been published.
CREATE TABLE outbox_purge_marker (
    id            boolean     PRIMARY KEY DEFAULT true CHECK (id),
    wal_lsn       pg_lsn      NOT NULL,
    snapshot_xmin xid8        NOT NULL,
    taken_at      timestamptz NOT NULL DEFAULT now()
);
