package stacktest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"shop/connect"
	schema "shop/sql"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// outboxRow is a row as a service would write it.
type outboxRow struct {
	id      uuid.UUID
	key     string
	typ     string
	payload string
}

func newRow(i int) outboxRow {
	return outboxRow{
		id:      uuid.New(),
		key:     fmt.Sprintf("user-%d", i%7),
		typ:     "OrderCreated",
		payload: fmt.Sprintf(`{"orderId": "%s", "amount": "%d", "note": "ünïcode \"quoted\""}`, uuid.NewString(), i+1),
	}
}

func insert(ctx context.Context, tx pgx.Tx, r outboxRow) error {
	_, err := tx.Exec(ctx, `INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, traceparent)
		VALUES ($1, 'order', $2, $3, $4, $5)`, r.id, r.key, r.typ, r.payload, "00-"+strings.Repeat("a", 32)+"-"+strings.Repeat("b", 16)+"-01")
	return err
}

func commitRows(t *testing.T, db *stacktest.Database, rows ...outboxRow) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		for _, r := range rows {
			if err := insert(ctx, tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("insert outbox rows: %v", err)
	}
}

// byID indexes records by their id header, counting duplicates.
func byID(recs []stacktest.Record) map[string][]stacktest.Record {
	m := map[string][]stacktest.Record{}
	for _, r := range recs {
		m[r.Headers["id"]] = append(m[r.Headers["id"]], r)
	}
	return m
}

func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("value is not JSON: %v: %q", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("value = %s, want %s", gb, wb)
	}
}

// A committed outbox row reaches its topic with key = aggregateid, header id
// = row id, header eventType = type, value = the payload; for both databases,
// including rows committed before the connector's first start (snapshot).
func TestOutboxRowReachesTopic(t *testing.T) {
	env := stacktest.Get(t)
	for _, kind := range []schema.Database{schema.Orders, schema.Payments} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			db := env.NewDatabase(t, kind)
			topic := env.NewTopic(t, string(kind)+".events")
			before := newRow(1)
			commitRows(t, db, before)
			env.StartConnector(t, db, topic)
			after := []outboxRow{newRow(2), newRow(3)}
			commitRows(t, db, after...)

			want := append([]outboxRow{before}, after...)
			recs := env.ReadTopic(t, topic, time.Minute, func(rs []stacktest.Record) bool { return len(rs) >= len(want) })
			got := byID(recs)
			for _, w := range want {
				rs := got[w.id.String()]
				if len(rs) != 1 {
					t.Fatalf("row %s arrived %d times, want 1", w.id, len(rs))
				}
				r := rs[0]
				if r.Key != w.key {
					t.Errorf("key = %q, want %q", r.Key, w.key)
				}
				if r.Headers["eventType"] != w.typ {
					t.Errorf("eventType header = %q, want %q", r.Headers["eventType"], w.typ)
				}
				if !strings.HasPrefix(r.Headers["traceparent"], "00-") {
					t.Errorf("traceparent header = %q", r.Headers["traceparent"])
				}
				sameJSON(t, r.Value, w.payload)
			}
		})
	}
}

// A rolled-back transaction publishes nothing; insert-then-delete in one
// transaction publishes exactly once; a retention purge publishes nothing.
func TestTransactionsPublishWhatCommitted(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	topic := env.NewTopic(t, "orders.events")
	env.StartConnector(t, db, topic)
	ctx := context.Background()

	rolledBack, insertDeleted, purged, last := newRow(1), newRow(2), newRow(3), newRow(4)
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := insert(ctx, tx, rolledBack); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := insert(ctx, tx, insertDeleted); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM outbox WHERE id = $1", insertDeleted.id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	commitRows(t, db, purged)
	if _, err := db.Pool.Exec(ctx, "DELETE FROM outbox WHERE id = $1", purged.id); err != nil {
		t.Fatal(err)
	}
	commitRows(t, db, last)

	// Events of earlier transactions may sit on other partitions than the
	// last one's: once the last is there, keep reading for a while.
	var seenLast time.Time
	recs := env.ReadTopic(t, topic, time.Minute, func(rs []stacktest.Record) bool {
		if seenLast.IsZero() && len(byID(rs)[last.id.String()]) > 0 {
			seenLast = time.Now()
		}
		return !seenLast.IsZero() && time.Since(seenLast) > 2*time.Second
	})
	got := byID(recs)
	if n := len(got[rolledBack.id.String()]); n != 0 {
		t.Errorf("rolled-back row published %d times, want 0", n)
	}
	if n := len(got[insertDeleted.id.String()]); n != 1 {
		t.Errorf("insert-then-delete row published %d times, want 1", n)
	}
	if n := len(got[purged.id.String()]); n != 1 {
		t.Errorf("purged row published %d times, want 1 (its insert only)", n)
	}
	if len(recs) != 3 {
		t.Errorf("topic holds %d records, want 3", len(recs))
	}
}

// Killing the Connect worker with SIGKILL while rows are being written loses
// nothing: after a restart every row arrives (duplicates allowed).
func TestConnectCrashLosesNothing(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Payments)
	topic := env.NewTopic(t, "payments.events")
	worker := env.StartConnectWorker(t)
	env.StartConnector(t, db, topic, worker)

	const total = 1500
	var (
		written []outboxRow
		mu      sync.Mutex
		n       atomic.Int64
		wg      sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < total; i += 5 {
			batch := []outboxRow{newRow(i), newRow(i + 1), newRow(i + 2), newRow(i + 3), newRow(i + 4)}
			err := pgx.BeginFunc(context.Background(), db.Pool, func(tx pgx.Tx) error {
				for _, r := range batch {
					if err := insert(context.Background(), tx, r); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Errorf("write: %v", err)
				return
			}
			mu.Lock()
			written = append(written, batch...)
			mu.Unlock()
			n.Add(int64(len(batch)))
			// Paces the writer (not a wait for a condition): rows keep
			// coming while the worker dies and restarts.
			time.Sleep(2 * time.Millisecond)
		}
	}()
	stacktest.WaitForNil(t, time.Minute, "a third of the rows written", func() error {
		if got := n.Load(); got < total/3 {
			return fmt.Errorf("%d of %d rows", got, total/3)
		}
		return nil
	})
	worker.Kill()
	t.Logf("killed the worker after %d rows", n.Load())
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := worker.Restart(ctx, stacktest.Logger()); err != nil {
		t.Fatalf("restart worker: %v", err)
	}
	wg.Wait()
	client, _ := connect.NewClient(worker.URL(), worker.Credentials())
	if err := client.Wait(ctx, db.Name); err != nil {
		t.Fatalf("after restart: %v", err)
	}

	recs := env.ReadTopic(t, topic, 3*time.Minute, func(rs []stacktest.Record) bool {
		return len(byID(rs)) >= total
	})
	got := byID(recs)
	for _, w := range written {
		if len(got[w.id.String()]) == 0 {
			t.Fatalf("row %s was lost", w.id)
		}
	}
	t.Logf("%d rows written, %d records read (%d duplicates)", len(written), len(recs), len(recs)-len(got))
}

// A connector with a bad database password is rejected with Postgres's
// message; for a running connector whose password stops working,
// `connectctl status` (Client.Report) fails with Connect's message.
func TestBadPasswordIsReported(t *testing.T) {
	env := stacktest.Get(t)
	client, err := connect.NewClient(env.ConnectURL, env.ConnectCredentials())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("ErrApplyRejected", func(t *testing.T) {
		db := env.NewDatabase(t, schema.Orders)
		vars := env.ConnectorVars(db, env.NewTopic(t, "orders.events"))
		vars["CONNECT_DB_PASSWORD_SECRET"] = env.ConnectSecret(t, "wrong-password")
		c, err := stacktest.Connector(db, vars)
		if err != nil {
			t.Fatal(err)
		}
		err = client.Apply(ctx, c)
		if err == nil || !strings.Contains(err.Error(), "password authentication failed") {
			t.Fatalf("apply error = %v, want Connect's message naming the password failure", err)
		}
		if _, err := client.Status(ctx, c.Name); !connect.IsNotFound(err) {
			t.Errorf("status of the rejected connector: err = %v, want not found", err)
		}
	})

	t.Run("ErrStatusFailed", func(t *testing.T) {
		db := env.NewDatabase(t, schema.Orders)
		role, admin := replicationRole(t, env, db, "good")
		vars := env.ConnectorVars(db, env.NewTopic(t, "orders.events"))
		vars["CONNECT_DB_USER"], vars["CONNECT_DB_PASSWORD_SECRET"] = role, env.ConnectSecret(t, "good")
		c, err := stacktest.Connector(db, vars)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Apply(ctx, c); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = client.Delete(context.Background(), c.Name) })
		if err := client.Wait(ctx, c.Name); err != nil {
			t.Fatal(err)
		}
		if err := client.Report(ctx, io.Discard, c.Name); err != nil {
			t.Fatalf("status of a running connector: %v", err)
		}

		if _, err := admin.Exec(ctx, "ALTER ROLE "+role+" PASSWORD 'changed'"); err != nil {
			t.Fatal(err)
		}
		report := client.Report(ctx, io.Discard, c.Name)
		if report == nil || !strings.Contains(report.Error(), "password authentication failed") {
			t.Fatalf("status error = %v, want Connect's message naming the password failure", report)
		}
		t.Logf("status says: %v", report)
	})
}

// replicationRole creates a replication role of its own for db with
// password (dropped when the test ends), as the stack's is, and returns its
// name and a superuser connection to db.
func replicationRole(t *testing.T, env *stacktest.Env, db *stacktest.Database, password string) (string, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	role := stacktest.Unique("dbz_")
	admin, err := pgx.Connect(ctx, strings.Replace(env.AdminURL, "/postgres?", "/"+db.Name+"?", 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN REPLICATION PASSWORD '" + password + "'",
		"GRANT CONNECT ON DATABASE " + db.Name + " TO " + role,
		"GRANT SELECT ON outbox, heartbeat TO " + role,
		"GRANT INSERT, UPDATE ON heartbeat TO " + role,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), env.AdminURL)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP OWNED BY "+role+"; DROP ROLE "+role)
			c.Close(context.Background())
		}
	})
	return role, admin
}
