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

func TestJobsPurgeOutboxInboxAndKeys(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Payments)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO inbox (event_id, topic, partition, "offset", processed_at)
		VALUES ($1, 't', 0, 1, now() - interval '8 days'), ($2, 't', 0, 2, now())`, uuid.New(), uuid.New()); err != nil {
		t.Fatal(err)
	}
	// A dead letter waits for a person however old it is.
	if _, err := db.Pool.Exec(ctx, `INSERT INTO dead_letters (topic, partition, "offset", error, created_at)
		VALUES ('t', 0, 3, 'poison', now() - interval '400 days')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, created_at)
		VALUES ($1, 'payment', 'alice', 'PaymentSucceeded', '{}', now() - interval '2 days'), ($2, 'payment', 'alice', 'PaymentSucceeded', '{}', now())`,
		uuid.New(), uuid.New()); err != nil {
		t.Fatal(err)
	}
	// The connector's slot is named after the database (stacktest.ConnectorVars).
	env.StartConnector(t, db, env.NewTopic(t, "payments.events"))

	r := service.Defaults[service.Retention]()
	r.PurgeInterval = 200 * time.Millisecond
	var keysOlderThan time.Duration
	purgeKeys := func(_ context.Context, olderThan time.Duration) (int64, error) {
		keysOlderThan = olderThan
		return 0, nil
	}
	jobs := retention.Jobs(db.Pool, r, db.Name, stacktest.Logger(), purgeKeys)
	var names []string
	done := make(chan struct{}, len(jobs))
	for _, j := range jobs {
		names = append(names, j.Name)
		go func() { _ = j.Run(ctx); done <- struct{}{} }()
	}
	stacktest.WaitFor(t, 30*time.Second, "the old inbox row purged", func() bool {
		return stacktest.Count(t, db.Pool, `SELECT count(*) FROM inbox`) == 1
	})
	// Once the connector's heartbeat has moved its slot past the marker.
	stacktest.WaitFor(t, 2*time.Minute, "the old outbox row purged", func() bool {
		return stacktest.Count(t, db.Pool, `SELECT count(*) FROM outbox`) == 1
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
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM outbox WHERE created_at > now() - interval '1 hour'`); n != 1 {
		t.Errorf("%d fresh outbox rows left, want 1", n)
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM dead_letters`); n != 1 {
		t.Errorf("%d dead letters left, want 1", n)
	}
}
