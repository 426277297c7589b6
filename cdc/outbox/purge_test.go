package outbox_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"shop/cdc/outbox"
	"shop/connect"
	schema "shop/sql"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// insert inserts an event as the service does (the runtime role), then
// back-dates it by age (as the owner: the service never updates the outbox).
func insert(t *testing.T, db *stacktest.Database, age time.Duration) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	e := outbox.Event{ID: uuid.New(), AggregateType: "order", AggregateID: "alice", Type: "OrderCreated", Payload: wrapperspb.String("x")}
	if err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return outbox.Insert(ctx, tx, e) }); err != nil {
		t.Fatalf("Insert() = %v", err)
	}
	if _, err := db.Owner.Exec(ctx, `UPDATE outbox SET created_at = now() - make_interval(secs => $2) WHERE id = $1`, e.ID, age.Seconds()); err != nil {
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

// The existing test, kept: without a slot nothing is purged; once the
// connector runs and has confirmed past the marker, the old row goes and the
// fresh one stays, and the old row was published before it went.
func TestPurgeWaitsForReplicationSlot(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	ctx := context.Background()
	old := insert(t, db, 48*time.Hour)
	fresh := insert(t, db, 0)

	// No slot yet: the connector has not snapshotted the old row.
	n, err := outbox.Purge(ctx, db.Pool, db.Name, 24*time.Hour)
	if !errors.Is(err, outbox.ErrUnconfirmed) || n != 0 || !exists(t, db.Pool, old) {
		t.Fatalf("Purge() without a slot = %d, %v (old row kept: %t); want 0, ErrUnconfirmed, kept", n, err, exists(t, db.Pool, old))
	}

	topic := env.NewTopic(t, "orders.events")
	env.StartConnector(t, db, topic) // its slot is named db.Name
	// The first run saves a marker; a later one deletes once the connector's
	// heartbeat has moved the slot past it.
	var purged int64
	stacktest.WaitForNil(t, 2*time.Minute, "the old row purged", func() error {
		n, err := outbox.Purge(ctx, db.Pool, db.Name, 24*time.Hour)
		purged += n
		if purged == 0 {
			return fmt.Errorf("nothing purged yet (last error: %v)", err)
		}
		return nil
	})
	if purged != 1 || exists(t, db.Pool, old) || !exists(t, db.Pool, fresh) {
		t.Errorf("after purge: %d purged, old kept %t, fresh kept %t; want 1, false, true", purged, exists(t, db.Pool, old), exists(t, db.Pool, fresh))
	}
	recs := env.ReadTopic(t, topic, time.Minute, func(rs []stacktest.Record) bool {
		for _, r := range rs {
			if r.Headers["id"] == old.String() {
				return true
			}
		}
		return false
	})
	if len(recs) == 0 {
		t.Errorf("the purged row was never published")
	}
}

// slots creates and drives logical replication slots of one test database
// the way a connector would, without one: a slot nobody streams from, a
// consumer that streams but confirms only when told.
type slots struct {
	t     *testing.T
	admin *pgconn.Config // superuser, on the test database
	pool  *pgxpool.Pool
}

func newSlots(t *testing.T, env *stacktest.Env, db *stacktest.Database) *slots {
	t.Helper()
	cfg, err := pgconn.ParseConfig(env.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = db.Name
	return &slots{t: t, admin: cfg, pool: db.Pool}
}

// create creates a logical slot with no consumer; it is dropped with the
// database.
func (s *slots) create(name string) {
	s.t.Helper()
	s.admin1(fmt.Sprintf("SELECT pg_create_logical_replication_slot('%s', 'pgoutput')", name))
}

// admin1 runs one statement as the superuser on the test database.
func (s *slots) admin1(sql string) {
	s.t.Helper()
	ctx := context.Background()
	conn, err := pgconn.ConnectConfig(ctx, s.admin)
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
}

// walLSN is the current end of the WAL, in bytes.
func (s *slots) walLSN() uint64 {
	s.t.Helper()
	return uint64(stacktest.Count(s.t, s.pool, `SELECT (pg_current_wal_insert_lsn() - '0/0')::bigint`))
}

// confirmed is the slot's confirmed_flush_lsn in bytes.
func (s *slots) confirmed(name string) uint64 {
	s.t.Helper()
	return uint64(stacktest.Count(s.t, s.pool, `SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots WHERE slot_name = $1`, name))
}

// decodedBytes is the WAL the slot has decoded (its statistics).
func (s *slots) decodedBytes(name string) int {
	s.t.Helper()
	return stacktest.Count(s.t, s.pool, `SELECT total_bytes FROM pg_stat_replication_slots WHERE slot_name = $1`, name)
}

// drop drops the (inactive) slot.
func (s *slots) drop(name string) {
	s.t.Helper()
	s.admin1(fmt.Sprintf("SELECT pg_drop_replication_slot('%s')", name))
}

func (s *slots) active(name string) bool {
	s.t.Helper()
	return stacktest.Count(s.t, s.pool, `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND active`, name) == 1
}

// consumer streams from a slot and confirms only what it is told to.
type consumer struct {
	s    *slots
	name string
	conn *pgconn.PgConn
}

// attach starts streaming from slot name: the slot is active until detach
// or the end of the test, and its confirmed position stays where it is.
func (s *slots) attach(name string) *consumer {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := s.admin.Copy()
	cfg.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { conn.Close(context.Background()) })
	conn.Frontend().Send(&pgproto3.Query{String: fmt.Sprintf(
		`START_REPLICATION SLOT %s LOGICAL 0/0 (proto_version '1', publication_names '%s')`, name, schema.Publication)})
	if err := conn.Frontend().Flush(); err != nil {
		s.t.Fatal(err)
	}
	for {
		msg, err := conn.ReceiveMessage(ctx)
		if err != nil {
			s.t.Fatalf("start replication on %s: %v", name, err)
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			s.t.Fatalf("start replication on %s: %s", name, e.Message)
		}
		if _, ok := msg.(*pgproto3.CopyBothResponse); ok {
			break
		}
	}
	stacktest.WaitFor(s.t, 10*time.Second, "slot "+name+" active", func() bool { return s.active(name) })
	return &consumer{s: s, name: name, conn: conn}
}

// confirm reports lsn as written and flushed (a standby status update) and
// waits until the slot shows it.
func (c *consumer) confirm(lsn uint64) {
	c.s.t.Helper()
	msg := make([]byte, 0, 34)
	msg = append(msg, 'r')
	msg = binary.BigEndian.AppendUint64(msg, lsn) // written
	msg = binary.BigEndian.AppendUint64(msg, lsn) // flushed
	msg = binary.BigEndian.AppendUint64(msg, lsn) // applied
	msg = binary.BigEndian.AppendUint64(msg, 0)   // clock
	msg = append(msg, 0)                          // no reply requested
	c.conn.Frontend().Send(&pgproto3.CopyData{Data: msg})
	if err := c.conn.Frontend().Flush(); err != nil {
		c.s.t.Fatal(err)
	}
	stacktest.WaitFor(c.s.t, 10*time.Second, "slot "+c.name+" confirmed", func() bool { return c.s.confirmed(c.name) >= lsn })
}

// detach ends the stream; the slot becomes inactive.
func (c *consumer) detach() {
	c.s.t.Helper()
	c.conn.Close(context.Background())
	stacktest.WaitFor(c.s.t, 10*time.Second, "slot "+c.name+" inactive", func() bool { return !c.s.active(c.name) })
}

// settle waits until every transaction that began before the outbox's rows
// were written has ended, so that the next marker covers them: the xmin of a
// snapshot is cluster-wide, and other tests' transactions can hold it back
// for a moment.
func settle(t *testing.T, db *stacktest.Database) {
	t.Helper()
	stacktest.WaitFor(t, time.Minute, "older transactions to end", func() bool {
		return stacktest.Count(t, db.Pool, `SELECT count(*) FROM outbox WHERE txid >= pg_snapshot_xmin(pg_current_snapshot())`) == 0
	})
}

// purge runs outbox.Purge with a retention of a day.
func purge(t *testing.T, db *stacktest.Database, slot string) (int64, error) {
	t.Helper()
	return outbox.Purge(context.Background(), db.Pool, slot, 24*time.Hour)
}

// wantKept fails the test unless the purge deleted nothing, said why
// (ErrUnconfirmed), and the rows are all still there.
func wantKept(t *testing.T, n int64, err error, db *stacktest.Database, ids ...uuid.UUID) {
	t.Helper()
	if n != 0 || !errors.Is(err, outbox.ErrUnconfirmed) {
		t.Errorf("Purge() = %d, %v; want 0, ErrUnconfirmed", n, err)
	}
	for _, id := range ids {
		if !exists(t, db.Pool, id) {
			t.Errorf("row %s purged, want it kept", id)
		}
	}
}

// Another slot of the database (the old purge accepted any) does not let
// rows go: only the connector's own, by name.
func TestPurgeNeedsTheNamedSlot(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	s := newSlots(t, env, db)
	s.create("other")
	other := s.attach("other")
	old := insert(t, db, 48*time.Hour)
	for range 2 {
		other.confirm(s.walLSN())
		n, err := purge(t, db, "connector")
		wantKept(t, n, err, db, old)
	}
	if n, err := purge(t, db, ""); err == nil || n != 0 {
		t.Errorf("Purge(no slot name) = %d, %v; want an error", n, err)
	}
}

// A slot with no consumer lets nothing go, even where it has confirmed past
// the marker: a connector that stopped may have lost it or be about to
// re-snapshot.
func TestPurgeNeedsAnActiveSlot(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	s := newSlots(t, env, db)
	s.create("connector")
	old := insert(t, db, 48*time.Hour)

	// Never active: no marker is taken either.
	n, err := purge(t, db, "connector")
	wantKept(t, n, err, db, old)

	c := s.attach("connector")
	settle(t, db)
	if n, err := purge(t, db, "connector"); n != 0 || err != nil {
		t.Fatalf("first Purge() with an active slot = %d, %v; want 0, nil (a marker saved)", n, err)
	}
	c.confirm(s.walLSN())
	c.detach()
	n, err = purge(t, db, "connector")
	wantKept(t, n, err, db, old)

	// The same slot streamed from again: now the row goes.
	s.attach("connector")
	if n, err := purge(t, db, "connector"); n != 1 || err != nil || exists(t, db.Pool, old) {
		t.Errorf("Purge() with the slot active and past = %d, %v (row kept: %t); want 1, nil, deleted", n, err, exists(t, db.Pool, old))
	}
}

// decodedBacklog is a test database whose slot "connector" streams to a
// consumer that confirms nothing yet, and n outbox rows older than any
// retention that the slot has decoded.
func decodedBacklog(t *testing.T, n int) (*stacktest.Database, *slots, *consumer, []uuid.UUID) {
	t.Helper()
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	s := newSlots(t, env, db)
	s.create("connector")
	c := s.attach("connector")
	var rows []uuid.UUID
	for range n {
		rows = append(rows, insert(t, db, 48*time.Hour))
	}
	stacktest.WaitFor(t, 30*time.Second, "the slot to have decoded the rows", func() bool { return s.decodedBytes("connector") > 0 })
	return db, s, c, rows
}

// recreate loses the slot name with what c has not confirmed, creates a
// new slot of that name and returns a consumer streaming from it.
func (s *slots) recreate(name string, c *consumer) *consumer {
	s.t.Helper()
	c.detach()
	s.drop(name)
	s.create(name)
	return s.attach(name)
}

// A slot lost and created again under the same name is not trusted: it
// starts past every old marker without having published a row before it
// (its connector's snapshot has yet to). The purge keeps the rows and saves
// a new marker, which the new slot, once past it, releases them with.
func TestPurgeDistrustsARecreatedSlot(t *testing.T) {
	db, s, c, rows := decodedBacklog(t, 5)
	settle(t, db)
	if n, err := purge(t, db, "connector"); n != 0 || err != nil {
		t.Fatalf("first Purge() = %d, %v; want 0, nil (a marker saved)", n, err)
	}
	// The slot is lost with the rows unconfirmed, and a new one of the same
	// name streams from past the marker.
	c = s.recreate("connector", c)
	c.confirm(s.walLSN())
	n, err := purge(t, db, "connector")
	wantKept(t, n, err, db, rows...)

	// The new slot had decoded nothing when that marker was taken, so it
	// is not trusted either; once the slot decodes (a connector streams
	// its heartbeats), the marker taken then is the new slot's.
	insert(t, db, 0)
	stacktest.WaitFor(t, 30*time.Second, "the new slot to have decoded a row", func() bool { return s.decodedBytes("connector") > 0 })
	c.confirm(s.walLSN())
	n, err = purge(t, db, "connector")
	wantKept(t, n, err, db, rows...)
	// Past that marker, the rows go.
	c.confirm(s.walLSN())
	if n, err := purge(t, db, "connector"); n != int64(len(rows)) || err != nil {
		t.Errorf("Purge() with the new slot past its own marker = %d, %v; want %d, nil", n, err, len(rows))
	}
}

// A marker taken while the slot shows nothing decoded (its statistics lost
// in a crash, or reset) could not tell that slot from one created again
// under its name: it records no count and is distrusted, so a slot lost
// after it loses no row.
func TestPurgeDistrustsAMarkerWithNothingDecoded(t *testing.T) {
	db, s, c, rows := decodedBacklog(t, 3)
	// The statistics are lost, then the first marker is taken: nothing
	// writes to this database in between.
	s.admin1("SELECT pg_stat_reset_replication_slot('connector')")
	if n, err := purge(t, db, "connector"); n != 0 || err != nil {
		t.Fatalf("first Purge() = %d, %v; want 0, nil (a marker saved)", n, err)
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM outbox_purge_marker WHERE slot_decoded_bytes IS NULL`); n != 1 {
		t.Fatalf("markers without a decoded count = %d, want 1 (the slot showed nothing decoded)", n)
	}
	// The slot is lost with the rows unconfirmed; a new one of the same
	// name, which has decoded nothing either, streams from past the marker.
	c = s.recreate("connector", c)
	c.confirm(s.walLSN())
	n, err := purge(t, db, "connector")
	wantKept(t, n, err, db, rows...)
}

// An active slot that has not confirmed past a row keeps it; a row written
// after the marker is kept even by a slot past the row, until a later
// marker covers it.
func TestPurgeKeepsWhatTheSlotHasNotConfirmed(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	s := newSlots(t, env, db)
	s.create("connector")
	c := s.attach("connector")
	first := insert(t, db, 48*time.Hour)
	settle(t, db)
	if n, err := purge(t, db, "connector"); n != 0 || err != nil {
		t.Fatalf("first Purge() = %d, %v; want 0, nil (the slot has not confirmed the row; a marker saved)", n, err)
	}
	// The slot is still where it was created, before the row's commit.
	n, err := purge(t, db, "connector")
	wantKept(t, n, err, db, first)

	second := insert(t, db, 48*time.Hour)
	settle(t, db)         // for the marker this run saves
	c.confirm(s.walLSN()) // past both rows
	if n, err := purge(t, db, "connector"); n != 1 || err != nil || exists(t, db.Pool, first) || !exists(t, db.Pool, second) {
		t.Fatalf("Purge() = %d, %v (first kept %t, second kept %t); want 1, nil, the first deleted and the second (after the marker) kept",
			n, err, exists(t, db.Pool, first), exists(t, db.Pool, second))
	}
	c.confirm(s.walLSN())
	if n, err := purge(t, db, "connector"); n != 1 || err != nil || exists(t, db.Pool, second) {
		t.Errorf("next Purge() = %d, %v (second kept %t); want 1, nil, deleted", n, err, exists(t, db.Pool, second))
	}
}

// A backlog goes in statements of at most the batch size; rows younger than
// the retention stay.
func TestPurgeDeletesInBatches(t *testing.T) {
	defer outbox.SetBatchSize(10)()
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	ctx := context.Background()
	// Each DELETE statement records how many rows it removed.
	if _, err := db.Owner.Exec(ctx, `CREATE TABLE purge_batches (n bigint);
		CREATE FUNCTION count_batch() RETURNS trigger LANGUAGE plpgsql AS
			$$BEGIN INSERT INTO purge_batches SELECT count(*) FROM gone; RETURN NULL; END$$;
		CREATE TRIGGER count_batch AFTER DELETE ON outbox REFERENCING OLD TABLE AS gone
			FOR EACH STATEMENT EXECUTE FUNCTION count_batch()`); err != nil {
		t.Fatal(err)
	}
	s := newSlots(t, env, db)
	s.create("connector")
	c := s.attach("connector")
	for range 25 {
		insert(t, db, 48*time.Hour)
	}
	fresh := insert(t, db, time.Hour)
	settle(t, db)
	if n, err := purge(t, db, "connector"); n != 0 || err != nil {
		t.Fatalf("first Purge() = %d, %v; want 0, nil (a marker saved)", n, err)
	}
	c.confirm(s.walLSN())
	if n, err := purge(t, db, "connector"); n != 25 || err != nil {
		t.Fatalf("Purge() = %d, %v; want 25, nil", n, err)
	}
	if !exists(t, db.Pool, fresh) {
		t.Errorf("a row younger than the retention was purged")
	}
	rows, err := db.Pool.Query(ctx, `SELECT n FROM purge_batches WHERE n > 0`)
	if err != nil {
		t.Fatal(err)
	}
	batches, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{10, 10, 5}, batches); diff != "" {
		t.Errorf("rows per DELETE (-want +got):\n%s", diff)
	}
}

// The connector's slot dropped while it was stopped (by hand, or lost): the
// purge keeps what the slot had not confirmed, and the connector, started
// again, snapshots the outbox (snapshot.mode when_needed) and publishes it.
func TestDroppedSlotLosesNothing(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	ctx := context.Background()
	topic := env.NewTopic(t, "orders.events")
	conn, err := stacktest.Connector(db, env.ConnectorVars(db, topic))
	if err != nil {
		t.Fatal(err)
	}
	client, err := connect.NewClient(env.ConnectURL, env.ConnectCredentials())
	if err != nil {
		t.Fatal(err)
	}
	apply := func() {
		t.Helper()
		if err := client.Apply(ctx, conn); err != nil {
			t.Fatalf("apply connector: %v", err)
		}
		if err := client.Wait(ctx, conn.Name); err != nil {
			t.Fatalf("connector: %v", err)
		}
	}
	apply()
	t.Cleanup(func() { _ = client.Delete(context.Background(), conn.Name) })
	published := func(ids ...uuid.UUID) {
		t.Helper()
		env.ReadTopic(t, topic, 2*time.Minute, func(rs []stacktest.Record) bool {
			seen := map[string]bool{}
			for _, r := range rs {
				seen[r.Headers["id"]] = true
			}
			for _, id := range ids {
				if !seen[id.String()] {
					return false
				}
			}
			return true
		})
	}
	before := insert(t, db, 48*time.Hour)
	published(before)

	// Stopped, its slot dropped, and rows written meanwhile.
	if err := client.Delete(ctx, conn.Name); err != nil {
		t.Fatal(err)
	}
	s := newSlots(t, env, db)
	stacktest.WaitFor(t, time.Minute, "the slot inactive", func() bool { return !s.active(db.Name) })
	unconfirmed := insert(t, db, 48*time.Hour)
	admin, err := pgconn.ConnectConfig(ctx, s.admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf("SELECT pg_drop_replication_slot('%s')", db.Name)).ReadAll(); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	after := insert(t, db, 48*time.Hour)
	n, err := purge(t, db, db.Name)
	wantKept(t, n, err, db, before, unconfirmed, after)

	apply()
	published(unconfirmed, after)
}
