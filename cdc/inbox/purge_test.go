package inbox_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"shop/cdc/inbox"
	schema "shop/sql"
	"shop/stack/stacktest"
)

func TestPurge(t *testing.T) {
	db := stacktest.Get(t).NewDatabase(t, schema.Payments)
	ctx := context.Background()
	oldID, newID := uuid.New(), uuid.New()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO inbox (event_id, topic, partition, "offset", processed_at)
		VALUES ($1, 't', 0, 1, now() - interval '8 days'), ($2, 't', 0, 2, now() - interval '6 days')`, oldID, newID); err != nil {
		t.Fatal(err)
	}
	n, err := inbox.Purge(ctx, db.Pool, inbox.Retention)
	if err != nil || n != 1 {
		t.Fatalf("Purge() = %d, %v; want 1 row, nil", n, err)
	}
	var left []uuid.UUID
	rows, _ := db.Pool.Query(ctx, `SELECT event_id FROM inbox`)
	left, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil || len(left) != 1 || left[0] != newID {
		t.Errorf("inbox after purge = %v, %v; want [%s]", left, err, newID)
	}
}

// However many rows are due, each statement of Purge deletes at most
// PurgeBatch of them, so none nears statement_timeout or holds its locks
// long.
func TestPurgeBatches(t *testing.T) {
	db := stacktest.Get(t).NewDatabase(t, schema.Payments)
	ctx := context.Background()
	due := 2*inbox.PurgeBatch + 1
	if _, err := db.Pool.Exec(ctx, `INSERT INTO inbox (event_id, topic, partition, "offset", processed_at)
		SELECT gen_random_uuid(), 't', 0, i, now() - interval '8 days' - i * interval '1 second'
		FROM generate_series(1, $1) i
		UNION ALL SELECT gen_random_uuid(), 't', 1, i, now() - interval '6 days' FROM generate_series(1, 3) i`, due); err != nil {
		t.Fatal(err)
	}
	// A statement-level trigger records how many rows each statement
	// deletes.
	if _, err := db.Owner.Exec(ctx, `CREATE TABLE deletes (id bigint GENERATED ALWAYS AS IDENTITY, n bigint NOT NULL);
		CREATE FUNCTION record_deletes() RETURNS trigger LANGUAGE plpgsql AS
			$$BEGIN INSERT INTO deletes (n) SELECT count(*) FROM gone; RETURN NULL; END$$;
		CREATE TRIGGER record_deletes AFTER DELETE ON inbox REFERENCING OLD TABLE AS gone
			FOR EACH STATEMENT EXECUTE FUNCTION record_deletes()`); err != nil {
		t.Fatal(err)
	}
	n, err := inbox.Purge(ctx, db.Pool, inbox.Retention)
	if err != nil || n != int64(due) {
		t.Fatalf("Purge() = %d, %v; want %d, nil", n, err, due)
	}
	rows, _ := db.Pool.Query(ctx, `SELECT n FROM deletes ORDER BY id`)
	ns, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n > inbox.PurgeBatch {
			t.Errorf("rows deleted by each statement: %v, want at most %d each", ns, inbox.PurgeBatch)
			break
		}
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM inbox`); got != 3 {
		t.Errorf("inbox rows left: got %d, want the 3 recent ones", got)
	}
}
