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
