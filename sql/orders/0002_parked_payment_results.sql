-- expand
-- Payment results whose order was not visible when they were consumed (the
-- order's commit decoded and paid before it is visible here, a failover, a
-- restored backup): parked in the consumer's inbox transaction instead of
-- being dead-lettered, and applied by the orders service's sweeper once the
-- order exists (orders/paymentevents). A row holds the decoded result and
-- the message it came in, so that one that turns out never applicable is
-- dead-lettered with its raw bytes. Rows are never purged: a row still here
-- is a payment whose order has not been seen.
CREATE TABLE parked_payment_results (
    event_id      uuid        PRIMARY KEY,
    order_id      uuid        NOT NULL,
    user_id       text        NOT NULL,
    amount        bigint      NOT NULL,
    paid          boolean     NOT NULL,
    cancel_reason text        CHECK (cancel_reason IN ('INSUFFICIENT_FUNDS', 'ACCOUNT_NOT_FOUND')),
    event_type    text        NOT NULL,
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    "offset"      bigint      NOT NULL,
    key           text        NOT NULL,
    value         bytea       NOT NULL,
    traceparent   text,
    parked_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (paid = (cancel_reason IS NULL))
);
