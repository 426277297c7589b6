-- expand
-- The CDC plumbing, identical in both databases: the outbox Debezium tails,
-- the inbox and dead letters of the consumer, the heartbeat table and the
-- publication. Applied after each database's own migrations.

-- Debezium's default outbox layout plus a traceparent header column. Rows are
-- kept for the retention period and then purged (docs/architecture.md, "Outbox retention"), so
-- that rows written before a connector's first start are snapshotted.
CREATE TABLE outbox (
    id            uuid        PRIMARY KEY,
    aggregatetype text        NOT NULL,
    aggregateid   text        NOT NULL,
    type          text        NOT NULL,
    payload       jsonb       NOT NULL,
    traceparent   text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_created_at ON outbox (created_at);

-- Event ids already applied; inserted in the transaction of the effect.
CREATE TABLE inbox (
    event_id     uuid        PRIMARY KEY,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_processed_at ON inbox (processed_at);

-- Messages that could not be decoded, kept with their raw bytes.
CREATE TABLE dead_letters (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic      text        NOT NULL,
    partition  integer     NOT NULL,
    "offset"   bigint      NOT NULL,
    key        bytea,
    value      bytea,
    headers    jsonb       NOT NULL DEFAULT '{}',
    error      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);

-- Written by Debezium's heartbeat.action.query so that the replication slot
-- advances while the database is idle.
CREATE TABLE heartbeat (
    id integer     PRIMARY KEY,
    ts timestamptz NOT NULL
);
INSERT INTO heartbeat (id, ts) VALUES (1, now());

-- Only inserts and updates are published: the retention purge of the outbox
-- is not an event.
CREATE PUBLICATION shop_outbox FOR TABLE outbox, heartbeat WITH (publish = 'insert, update');

-- The replication role (created by the stack, apart from the service role)
-- reads the captured tables for snapshots and writes the heartbeat.
GRANT SELECT ON outbox, heartbeat TO debezium;
GRANT INSERT, UPDATE ON heartbeat TO debezium;
