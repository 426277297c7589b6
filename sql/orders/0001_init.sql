-- expand
-- The orders database. Applied by the orders service at start (and by the
-- test harness into a template database), as the service role.

CREATE TABLE orders (
    id            uuid        PRIMARY KEY,
    user_id       text        NOT NULL,
    amount        bigint      NOT NULL CHECK (amount BETWEEN 1 AND 1000000000000),
    currency      text        NOT NULL,
    description   text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('PENDING', 'PAID', 'CANCELLED')),
    cancel_reason text        CHECK (cancel_reason IN ('INSUFFICIENT_FUNDS', 'ACCOUNT_NOT_FOUND')),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CHECK ((status = 'CANCELLED') = (cancel_reason IS NOT NULL))
);

-- Keyset pagination: a user's orders newest first.
CREATE INDEX orders_user_created_id ON orders (user_id, created_at DESC, id DESC);

-- Idempotency keys of CreateOrder, recorded in the transaction that creates
-- the order. response is the serialized first response.
CREATE TABLE idempotency_keys (
    user_id      text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    response     bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
