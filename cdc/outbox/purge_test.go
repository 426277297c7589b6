package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"shop/cdc/outbox"
	schema "shop/sql"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

func insert(t *testing.T, pool *pgxpool.Pool, age time.Duration) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	e := outbox.Event{ID: uuid.New(), AggregateType: "order", AggregateID: "alice", Type: "OrderCreated", Payload: wrapperspb.String("x")}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return outbox.Insert(ctx, tx, e) }); err != nil {
		t.Fatalf("Insert() = %v", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE outbox SET created_at = now() - make_interval(secs => $2) WHERE id = $1`, e.ID, age.Seconds()); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

func exists(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM outbox WHERE id = $1)`, id).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestInsertStoresRow(t *testing.T) {
	db := stacktest.Get(t).NewDatabase(t, schema.Orders)
	ctx := context.Background()
	e := outbox.Event{ID: uuid.New(), AggregateType: "order", AggregateID: "alice", Type: "OrderCreated",
		Payload: wrapperspb.Int64(42), Traceparent: "00-abc-def-01"}
	plain := outbox.Event{ID: uuid.New(), AggregateType: "order", AggregateID: "bob", Type: "OrderCreated", Payload: wrapperspb.Int64(1)}
	if err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return outbox.Insert(ctx, tx, e, plain) }); err != nil {
		t.Fatalf("Insert() = %v", err)
	}
	var aggType, aggID, typ, payload string
	var trace *string
	if err := db.Pool.QueryRow(ctx, `SELECT aggregatetype, aggregateid, type, payload::text, traceparent FROM outbox WHERE id = $1`, e.ID).
		Scan(&aggType, &aggID, &typ, &payload, &trace); err != nil {
		t.Fatal(err)
	}
	// protojson of Int64Value is a JSON string.
	if aggType != "order" || aggID != "alice" || typ != "OrderCreated" || payload != `"42"` || trace == nil || *trace != "00-abc-def-01" {
		t.Errorf("row = %s/%s/%s/%s/%v", aggType, aggID, typ, payload, trace)
	}
	if err := db.Pool.QueryRow(ctx, `SELECT traceparent FROM outbox WHERE id = $1`, plain.ID).Scan(&trace); err != nil || trace != nil {
		t.Errorf("traceparent of an event without one = %v, %v; want NULL", trace, err)
	}
	bad := plain
	bad.ID = uuid.Nil
	if err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return outbox.Insert(ctx, tx, bad) }); err == nil {
		t.Errorf("Insert(zero id) = nil, want error")
	}
}

func TestPurgeWaitsForReplicationSlot(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	ctx := context.Background()
	old := insert(t, db.Pool, 48*time.Hour)
	fresh := insert(t, db.Pool, 0)

	// No slot yet: the connector has not snapshotted the old row.
	n, err := outbox.Purge(ctx, db.Pool, 24*time.Hour)
	if err != nil || n != 0 || !exists(t, db.Pool, old) {
		t.Fatalf("Purge() without a slot = %d, %v (old row kept: %t); want 0, nil, kept", n, err, exists(t, db.Pool, old))
	}

	env.StartConnector(t, db, env.NewTopic(t, "orders.events"))
	n, err = outbox.Purge(ctx, db.Pool, 24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("Purge() with a slot = %d, %v; want 1, nil", n, err)
	}
	if exists(t, db.Pool, old) || !exists(t, db.Pool, fresh) {
		t.Errorf("after purge: old kept %t, fresh kept %t; want false, true", exists(t, db.Pool, old), exists(t, db.Pool, fresh))
	}
}
