package pipelinemetrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"shop/cdc/pipelinemetrics"
	schema "shop/sql"
	"shop/stack/stacktest"
)

// A listener that stops reading holds the notification queue: the gauge
// shows its fill rising. (When it falls again depends on every listener
// of the cluster, other tests' too: not asserted.) The
// listener here sits in a transaction, where Postgres delivers nothing
// (as for a process under SIGSTOP, its position in the queue stays).
func TestNotifyQueueUsage(t *testing.T) {
	env := stacktest.Get(t)
	reg := registry(t)
	db := env.NewDatabase(t, schema.Orders)
	ctx := context.Background()
	job, err := pipelinemetrics.NotifyQueueJob(reg, db.Pool, 100*time.Millisecond, stacktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipelinemetrics.NotifyQueueJob(reg, db.Pool, 0, stacktest.Logger()); err != nil {
		t.Fatalf("registered again: %v, want nil", err)
	}
	stuck, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close(ctx)
	if _, err := stuck.Exec(ctx, "LISTEN stuck_listener_test"); err != nil {
		t.Fatal(err)
	}
	tx, err := stuck.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	runJobs(t, job)
	// Over two queue pages (8 kB each) of distinct payloads (Postgres
	// folds identical ones of one transaction).
	if _, err := db.Pool.Exec(ctx, `SELECT pg_notify('stuck_listener_test', i || repeat('x', 4000))
		FROM generate_series(1, 200) AS i`); err != nil {
		t.Fatal(err)
	}
	waitValue(t, reg, "shop_postgres_notify_queue_usage_ratio", "", "", "queue held by the stuck listener", func(v float64) bool { return v > 0 })
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
}
