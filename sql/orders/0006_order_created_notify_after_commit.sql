-- expand
-- The creation of an order is announced after its commit, not in it.
--
-- A NOTIFY takes one cluster-wide lock at the commit (PreCommit_Notify) and
-- holds it to the end of the commit, its WAL flush included: every
-- notifying transaction of the cluster commits alone. Status changes come
-- in batches (the payment results consumer, one lock per batch), but an
-- order is created in a transaction of its own: with many watched users,
-- the creations of orders ran one flush after the other.
--
-- So the trigger no longer notifies the insert of an order. It leaves the
-- same payload in the transaction-local setting shop.order_change, which
-- the writer (orders/postgres CreateOrder) reads in the same round trip
-- and, once the order has committed, sends with pg_notify in a statement
-- of its own with synchronous_commit off: that transaction writes no data,
-- so its commit waits for no WAL flush (Postgres commits a transaction
-- that logged nothing before its commit record asynchronously anyway) and
-- holds the lock only for a moment. The numbering, the log and the
-- registration of watchers (0005) do not change.
--
-- The notification is now a wake-up that may be lost (the writer dies
-- between the two commits, or a path that inserts an order does not send
-- it) or arrive after the next change of the user. A subscriber does not
-- count on it: a change whose number is more than one above the last one
-- it delivered is preceded by the missing numbers read from order_changes,
-- and a number it already delivered is skipped (orders/postgres Watcher,
-- orders/grpcapi WatchOrders). A lost creation is therefore delivered with
-- the next change of its user.
--
-- Status changes (UPDATE) still notify in their transaction, as in 0005.
CREATE OR REPLACE FUNCTION record_order_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    n       bigint;
    payload text;
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
    payload := json_build_object(
        'seq', n,
        'id', NEW.id,
        'user_id', NEW.user_id,
        'amount', NEW.amount,
        'currency', NEW.currency,
        'description', NEW.description,
        'status', NEW.status,
        'cancel_reason', NEW.cancel_reason,
        'created_at', NEW.created_at,
        'updated_at', NEW.updated_at)::text;
    IF TG_OP = 'INSERT' THEN
        PERFORM set_config('shop.order_change', payload, true);
    ELSE
        PERFORM pg_notify('order_changes', payload);
    END IF;
    RETURN NULL;
END
$$;
