-- expand
-- A status change is no longer announced in the transaction that makes it,
-- and the change log gets an index for its retention.
--
-- Until now the trigger (0005, 0006) ran pg_notify in the transaction that
-- applies a payment result, when someone watched the user. Postgres puts a
-- notification into one queue of the cluster at the commit, and a
-- notification stays there until every session that LISTENs has read it:
-- a listener that stops reading (an orders instance under SIGSTOP, a
-- session stuck in a transaction) lets the queue fill (8 GB on Postgres
-- 15), and then every notifying commit fails with 54000 ("too many
-- notifications in the NOTIFY queue"). The payment results consumer would
-- retry its batch for ever, its partition stuck and debited orders
-- PENDING: money waited on a side channel.
--
-- So the trigger only records the change (order_changes, numbered per
-- user, as before) and notifies nothing for an UPDATE. Once the
-- transaction has committed, the writer announces the users whose orders
-- changed (orders/postgres Announcer: the payment results consumer and the
-- sweep of parked results hand it their users), in a transaction of its
-- own that writes nothing, best effort: a failed or lost announcement only
-- delays a subscriber, who also polls the log (orders/postgres Watcher).
-- The creation of an order keeps 0006's way, also after its commit.
--
-- During a rolling upgrade an instance of the previous release (which does
-- not poll) sees a status change of a watched user when the next
-- announcement of that user arrives, possibly late; nothing is lost.
CREATE OR REPLACE FUNCTION record_order_change() RETURNS trigger
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
    IF TG_OP <> 'INSERT' OR NOT EXISTS (SELECT 1 FROM order_watchers
            WHERE user_id = NEW.user_id AND expires_at > statement_timestamp()) THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('shop.order_change', json_build_object(
        'seq', n,
        'id', NEW.id,
        'user_id', NEW.user_id,
        'amount', NEW.amount,
        'currency', NEW.currency,
        'description', NEW.description,
        'status', NEW.status,
        'cancel_reason', NEW.cancel_reason,
        'created_at', NEW.created_at,
        'updated_at', NEW.updated_at)::text, true);
    RETURN NULL;
END
$$;

-- The retention of the change log (orders/postgres PurgeChanges) deletes
-- the changes older than a week by the time they were made. Changes are
-- appended in about that order, so a BRIN index finds them at a small
-- fraction of a B-tree's size and upkeep.
CREATE INDEX order_changes_updated_at ON order_changes USING brin (updated_at);
