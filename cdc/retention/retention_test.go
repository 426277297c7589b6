package retention_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"shop/cdc/retention"
	"shop/service"
	schema "shop/sql"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

func TestJobsPurgeInboxAndKeys(t *testing.T) {
	db := stacktest.Get(t).NewDatabase(t, schema.Payments)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO inbox (event_id, topic, partition, "offset", processed_at)
		VALUES ($1, 't', 0, 1, now() - interval '8 days'), ($2, 't', 0, 2, now())`, uuid.New(), uuid.New()); err != nil {
		t.Fatal(err)
	}
	r := service.Defaults[service.Retention]()
	var keysOlderThan time.Duration
	purgeKeys := func(_ context.Context, olderThan time.Duration) (int64, error) {
		keysOlderThan = olderThan
		return 0, nil
	}
	jobs := retention.Jobs(db.Pool, r, stacktest.Logger(), purgeKeys)
	var names []string
	done := make(chan struct{}, len(jobs))
	for _, j := range jobs {
		names = append(names, j.Name)
		go func() { _ = j.Run(ctx); done <- struct{}{} }()
	}
	stacktest.WaitFor(t, 30*time.Second, "the old inbox row purged", func() bool {
		return stacktest.Count(t, db.Pool, `SELECT count(*) FROM inbox`) == 1
	})
	cancel()
	for range jobs {
		<-done
	}
	if want := []string{"outbox purge", "inbox purge", "idempotency key purge"}; len(names) != len(want) || names[0] != want[0] || names[1] != want[1] || names[2] != want[2] {
		t.Errorf("job names %q, want %q", names, want)
	}
	if keysOlderThan != r.IdempotencyKeys {
		t.Errorf("idempotency keys purged after %s, want %s", keysOlderThan, r.IdempotencyKeys)
	}
}
