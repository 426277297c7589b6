-- expand
-- The change log of orders, behind the status stream (orders.v1
-- WatchOrders, GET /api/v1/orders/stream). Every insert of an order and
-- every change of its status gets the user's next change number, is kept in
-- order_changes (the order as the change left it) and, when someone
-- watches the user (order_watchers), is announced with pg_notify on the
-- channel order_changes, all in the transaction that changes the order: a
-- trigger, so that no path that writes an order can forget it, and the
-- order's hot path keeps its single round trip.
--
-- Exact resume: the counter row of a user is locked by the upsert until the
-- transaction ends, so two transactions of one user take numbers in the
-- order they commit; a reader never sees number n+1 committed while n is
-- not, and a rolled back transaction gives its number back. Numbers of one
-- user therefore have no holes.

CREATE TABLE order_change_seqs (
    user_id text   PRIMARY KEY,
    seq     bigint NOT NULL
);

CREATE TABLE order_changes (
    user_id       text        NOT NULL,
    seq           bigint      NOT NULL,
    order_id      uuid        NOT NULL,
    status        text        NOT NULL,
    cancel_reason text,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (user_id, seq)
);

-- The users someone watches: a row per user and orders instance with a
-- subscriber of the user's changes, kept alive by the instance (expires_at
-- moves on while it has subscribers). Only a watched user's changes are
-- announced: a NOTIFY serializes the commits of every notifying
-- transaction of the cluster (Postgres holds one lock from the queueing of
-- the notification to the end of the commit), which the hot path of
-- orders nobody watches need not pay. The instance writes its row in a
-- transaction that also locks the user's counter row: a transaction that
-- changes an order of the user either commits before (its change is in
-- the log the subscriber reads next) or sees the row (it notifies).
CREATE TABLE order_watchers (
    user_id    text        NOT NULL,
    instance   uuid        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, instance)
);

-- The notification's payload is the order as the change left it, as JSON
-- (at most about 4.5 KB: the description is at most 1000 characters, under
-- the 8000 bytes a payload may have), so that a live watcher needs no read.
CREATE FUNCTION record_order_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = NEW.status
        AND OLD.cancel_reason IS NOT DISTINCT FROM NEW.cancel_reason THEN
        RETURN NULL;
    END IF;
    INSERT INTO order_change_seqs AS c (user_id, seq) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET seq = c.seq + 1
        RETURNING c.seq INTO n;
    INSERT INTO order_changes (user_id, seq, order_id, status, cancel_reason, updated_at)
        VALUES (NEW.user_id, n, NEW.id, NEW.status, NEW.cancel_reason, NEW.updated_at);
    IF NOT EXISTS (SELECT 1 FROM order_watchers
                   WHERE user_id = NEW.user_id AND expires_at > statement_timestamp()) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('order_changes', json_build_object(
        'seq', n,
        'id', NEW.id,
        'user_id', NEW.user_id,
        'amount', NEW.amount,
        'currency', NEW.currency,
        'description', NEW.description,
        'status', NEW.status,
        'cancel_reason', NEW.cancel_reason,
        'created_at', NEW.created_at,
        'updated_at', NEW.updated_at)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER orders_record_change
    AFTER INSERT OR UPDATE OF status, cancel_reason ON orders
    FOR EACH ROW EXECUTE FUNCTION record_order_change();
