-- expand
-- The payments database. Applied by the payments service at start (and by
-- the test harness into a template database), as the service role.

-- One account per user; the primary key enforces it under concurrency.
CREATE TABLE accounts (
    user_id    text        PRIMARY KEY,
    balance    bigint      NOT NULL DEFAULT 0 CHECK (balance >= 0 AND balance <= 1000000000000000),
    currency   text        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Every credit (top-up) and debit (order payment). For every account, at
-- every commit, balance = sum(credits) - sum(debits). A debit is unique per
-- order: the second guard against a double charge, by business key.
CREATE TABLE ledger (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    text        NOT NULL REFERENCES accounts (user_id),
    kind       text        NOT NULL CHECK (kind IN ('CREDIT', 'DEBIT')),
    amount     bigint      NOT NULL CHECK (amount > 0),
    order_id   uuid        UNIQUE,
    created_at timestamptz NOT NULL,
    CHECK ((kind = 'DEBIT') = (order_id IS NOT NULL))
);
CREATE INDEX ledger_user_id ON ledger (user_id);

-- The outcome of every order the consumer has decided, paid or failed, so
-- that an order is decided once even when its event arrives again under a
-- new event id.
CREATE TABLE payment_outcomes (
    order_id   uuid        PRIMARY KEY,
    user_id    text        NOT NULL,
    amount     bigint      NOT NULL,
    status     text        NOT NULL CHECK (status IN ('SUCCEEDED', 'FAILED')),
    reason     text        CHECK (reason IN ('INSUFFICIENT_FUNDS', 'ACCOUNT_NOT_FOUND')),
    created_at timestamptz NOT NULL
);

CREATE TABLE idempotency_keys (
    user_id      text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    response     bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
