package idempotency_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/service/fault"
	schema "shop/sql"
	"shop/sql/idempotency"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// t0 is the creation time of the keys the tests claim.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 891_234_000, time.UTC)

// newPool returns the pool of a fresh orders database (the payments one has
// the same idempotency_keys table).
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return stacktest.Get(t).NewDatabase(t, schema.Orders).Pool
}

// response is the stored response of the tests' requests.
type response struct{ Text string }

func resp(text string) *response { return &response{text} }

// none is the text of no stored response: Claim's answer to the first
// request with a key.
const none = "<nil>"

// text shows a stored response in failures.
func text(r *response) string {
	if r == nil {
		return none
	}
	return r.Text
}

// wantClaim checks that Claim (what) succeeded with the stored response
// want (none for the first request).
func wantClaim(t *testing.T, what string, stored *response, err error, want string) {
	t.Helper()
	if err != nil || text(stored) != want {
		t.Fatalf("%s = %q, %v; want %q, nil", what, text(stored), err, want)
	}
}

func key(user, k, hash string) idempotency.Key {
	return idempotency.Key{UserID: user, Key: k, Hash: []byte(hash)}
}

// claim runs Claim in a transaction of its own, committed when Claim
// succeeds.
func claim(ctx context.Context, pool *pgxpool.Pool, k idempotency.Key, r *response, wait time.Duration) (stored *response, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		stored, err = idempotency.Claim(ctx, tx, k, r, t0, wait)
		return err
	})
	return stored, err
}

// wantKind checks that err is a fault error of kind with reason.
func wantKind(t *testing.T, err error, kind fault.Kind, reason string) {
	t.Helper()
	if gotKind, gotReason := fault.KindOf(err), fault.ReasonOf(err); err == nil || gotKind != kind || gotReason != reason {
		t.Fatalf("got %v (kind %v, reason %q), want kind %v, reason %q", err, gotKind, gotReason, kind, reason)
	}
}

func TestClaimFirstThenReplay(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	k := key("alice", "key-1", "hash-1")
	stored, err := claim(ctx, pool, k, resp("first"), idempotency.DefaultWait)
	wantClaim(t, "first Claim()", stored, err, none)
	stored, err = claim(ctx, pool, k, resp("second"), idempotency.DefaultWait)
	wantClaim(t, "repeat Claim()", stored, err, "first")
	// The stored response is the JSON of R: the stores' persisted shapes
	// depend on it.
	var (
		createdAt time.Time
		row       string
	)
	if err := pool.QueryRow(ctx, `SELECT created_at, convert_from(response, 'UTF8') FROM idempotency_keys WHERE key = 'key-1'`).
		Scan(&createdAt, &row); err != nil {
		t.Fatal(err)
	}
	if !createdAt.Equal(t0) {
		t.Errorf("created_at: got %v, want %v", createdAt, t0)
	}
	if want := `{"Text":"first"}`; row != want {
		t.Errorf("stored response: got %s, want %s", row, want)
	}

	// The key is scoped to the user: bob's identical request is new.
	stored, err = claim(ctx, pool, key("bob", "key-1", "hash-1"), resp("bob's"), idempotency.DefaultWait)
	wantClaim(t, "bob's Claim()", stored, err, none)
}

func TestClaimOtherHash(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	if _, err := claim(ctx, pool, key("alice", "key-1", "hash-1"), resp("first"), idempotency.DefaultWait); err != nil {
		t.Fatal(err)
	}
	_, err := claim(ctx, pool, key("alice", "key-1", "hash-2"), resp("other"), idempotency.DefaultWait)
	wantKind(t, err, fault.FailedPrecondition, fault.ReasonIdempotencyKeyReused)
}

func TestClaimRolledBackRecordsNothing(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	k := key("alice", "key-1", "hash-1")
	effect := errors.New("effect failed")
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := idempotency.Claim(ctx, tx, k, resp("first"), t0, idempotency.DefaultWait); err != nil {
			return err
		}
		return effect
	})
	if !errors.Is(err, effect) {
		t.Fatalf("got %v, want the effect's error", err)
	}
	stored, err := claim(ctx, pool, k, resp("retry"), idempotency.DefaultWait)
	wantClaim(t, "Claim() after rollback", stored, err, none)
}

func TestSaveResponse(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	k := key("alice", "key-1", "hash-1")
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		stored, err := idempotency.Claim[response](ctx, tx, k, nil, t0, idempotency.DefaultWait)
		wantClaim(t, "Claim()", stored, err, none)
		return idempotency.SaveResponse(ctx, tx, k, resp("later"))
	})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := claim(ctx, pool, k, nil, idempotency.DefaultWait)
	wantClaim(t, "repeat Claim()", stored, err, "later")

	t.Run("ErrNotClaimed", func(t *testing.T) {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return idempotency.SaveResponse(ctx, tx, key("alice", "unclaimed", "h"), resp("x"))
		})
		if err == nil {
			t.Error("got nil error, want one")
		}
	})
	t.Run("ErrNeverSaved", func(t *testing.T) {
		// A claim committed without its response is a bug of the caller:
		// the repeat must not take itself for the first request.
		k := key("alice", "unsaved", "h")
		if _, err := claim(ctx, pool, k, nil, idempotency.DefaultWait); err != nil {
			t.Fatal(err)
		}
		stored, err := claim(ctx, pool, k, nil, idempotency.DefaultWait)
		if err == nil {
			t.Fatalf("repeat Claim() = %q, nil; want an error", text(stored))
		}
		if got := fault.KindOf(err); got != fault.Internal {
			t.Errorf("got kind %v, want %v", got, fault.Internal)
		}
	})
}

// holdKey starts a transaction that claims k and leaves it open, as a
// concurrent first request in flight does.
func holdKey(t *testing.T, pool *pgxpool.Pool, k idempotency.Key, response string) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(ctx) }) //nolint:errcheck // a no-op once the test ended tx
	stored, err := idempotency.Claim(ctx, tx, k, resp(response), t0, idempotency.DefaultWait)
	wantClaim(t, "holder's Claim()", stored, err, none)
	return tx
}

func TestClaimWaitsForHolder(t *testing.T) {
	tests := []struct {
		name       string
		wait       time.Duration
		commit     bool
		wantStored string
	}{
		{"HolderCommitsReplay", idempotency.DefaultWait, true, "holder's"},
		{"HolderRollsBackFirst", idempotency.DefaultWait, false, none},
		{"NoBoundHolderCommitsReplay", 0, true, "holder's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := newPool(t)
			ctx := context.Background()
			k := key("alice", "key-1", "hash-1")
			holder := holdKey(t, pool, k, "holder's")
			type result struct {
				stored *response
				err    error
			}
			done := make(chan result, 1)
			go func() {
				stored, err := claim(ctx, pool, k, resp("waiter's"), tt.wait)
				done <- result{stored, err}
			}()
			stacktest.WaitFor(t, 10*time.Second, "the claim to wait for the holder's lock", func() bool {
				return stacktest.Count(t, pool, `SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`) > 0
			})
			end := holder.Rollback
			if tt.commit {
				end = holder.Commit
			}
			if err := end(ctx); err != nil {
				t.Fatal(err)
			}
			r := <-done
			wantClaim(t, "waiting Claim()", r.stored, r.err, tt.wantStored)
		})
	}
}

func TestClaimHolderTooLong(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	k := key("alice", "key-1", "hash-1")
	holder := holdKey(t, pool, k, "holder's")
	_, err := claim(ctx, pool, k, resp("waiter's"), 200*time.Millisecond)
	wantKind(t, err, fault.Aborted, fault.ReasonIdempotencyKeyInUse)

	// Once the holder rolls back, the key is free.
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	stored, err := claim(ctx, pool, k, resp("waiter's"), 200*time.Millisecond)
	wantClaim(t, "Claim() after the holder left", stored, err, none)
}

// A caller's deadline shorter than the wait shortens it: the caller gets
// IDEMPOTENCY_KEY_IN_USE before its deadline, as the gateway's 3 s deadline
// does with the stores' DefaultWait of 10 s.
func TestClaimWaitEndsBeforeDeadline(t *testing.T) {
	pool := newPool(t)
	k := key("alice", "key-1", "hash-1")
	holdKey(t, pool, k, "holder's")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := claim(ctx, pool, k, resp("waiter's"), idempotency.DefaultWait)
	if ctx.Err() != nil {
		t.Fatalf("Claim() returned %v after the caller's deadline, want an answer before it", err)
	}
	wantKind(t, err, fault.Aborted, fault.ReasonIdempotencyKeyInUse)
}

// A session's statement_timeout shorter than the wait (the pools set one)
// does not turn the wait into a failure: the claim still ends with
// IDEMPOTENCY_KEY_IN_USE.
func TestClaimWaitOutlastsStatementTimeout(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	k := key("alice", "key-1", "hash-1")
	holdKey(t, pool, k, "holder's")
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = '100ms'`); err != nil {
			t.Fatal(err)
		}
		_, err := idempotency.Claim(ctx, tx, k, resp("waiter's"), t0, 500*time.Millisecond)
		return err
	})
	wantKind(t, err, fault.Aborted, fault.ReasonIdempotencyKeyInUse)
}

// The wait bounds the claim only: the effect that follows in the same
// transaction runs with the transaction's own lock_timeout and
// statement_timeout.
func TestClaimRestoresLockTimeout(t *testing.T) {
	tests := []struct {
		name string
		set  string // the caller's lock_timeout; empty: the session's
	}{
		{"SessionDefault", ""},
		{"SetByCaller", "5s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := newPool(t)
			ctx := context.Background()
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if tt.set != "" {
					if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, tt.set); err != nil {
						return err
					}
				}
				var before, after, stmtBefore, stmtAfter string
				const settings = `SELECT current_setting('lock_timeout'), current_setting('statement_timeout')`
				if err := tx.QueryRow(ctx, settings).Scan(&before, &stmtBefore); err != nil {
					return err
				}
				if _, err := idempotency.Claim(ctx, tx, key("alice", "key-1", "h"), resp("r"), t0, 100*time.Millisecond); err != nil {
					return err
				}
				if err := tx.QueryRow(ctx, settings).Scan(&after, &stmtAfter); err != nil {
					return err
				}
				if tt.set != "" && before != tt.set {
					t.Errorf("lock_timeout before Claim: got %q, want %q", before, tt.set)
				}
				if after != before {
					t.Errorf("lock_timeout after Claim: got %q, want %q", after, before)
				}
				if stmtAfter != stmtBefore {
					t.Errorf("statement_timeout after Claim: got %q, want %q", stmtAfter, stmtBefore)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// purgeBeforeRead is a transaction whose QueryRow (Claim's read of a key it
// could not insert) first runs purge, so that the key disappears between
// Claim's insert and its read.
type purgeBeforeRead struct {
	pgx.Tx
	purge func()
}

func (p purgeBeforeRead) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	p.purge()
	return p.Tx.QueryRow(ctx, sql, args...)
}

func TestClaimKeyPurgedBeforeRead(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	k := key("alice", "key-1", "hash-1")
	if _, err := claim(ctx, pool, k, resp("first"), idempotency.DefaultWait); err != nil {
		t.Fatal(err)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		tx = purgeBeforeRead{Tx: tx, purge: func() {
			if n, err := idempotency.Purge(ctx, pool, t0.Add(time.Second), time.Nanosecond); err != nil || n != 1 {
				t.Fatalf("Purge() = %d, %v; want 1, nil", n, err)
			}
		}}
		_, err := idempotency.Claim(ctx, tx, k, resp("second"), t0, idempotency.DefaultWait)
		return err
	})
	wantKind(t, err, fault.Aborted, fault.ReasonIdempotencyKeyInUse)

	// The retry starts afresh.
	stored, err := claim(ctx, pool, k, resp("second"), idempotency.DefaultWait)
	wantClaim(t, "retry Claim()", stored, err, none)
}

func TestPurge(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	const retention = 24 * time.Hour
	cutoff := t0.Add(-retention)
	for k, createdAt := range map[string]time.Time{
		"old":      cutoff.Add(-time.Microsecond),
		"atCutoff": cutoff,
		"new":      t0,
	} {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := idempotency.Claim(ctx, tx, key("alice", k, "h"), resp("r"), createdAt, idempotency.DefaultWait)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	n, err := idempotency.Purge(ctx, pool, t0, retention)
	if err != nil || n != 1 {
		t.Fatalf("Purge() = %d, %v; want 1, nil", n, err)
	}
	if got := stacktest.Count(t, pool, `SELECT count(*) FROM idempotency_keys WHERE key = 'old'`); got != 0 {
		t.Errorf("key created before the cutoff: got %d rows, want 0", got)
	}
	// A repeat of the purged key is a new request.
	stored, err := claim(ctx, pool, key("alice", "old", "h"), resp("again"), idempotency.DefaultWait)
	wantClaim(t, "Claim() of the purged key", stored, err, none)
}

// deletesPerStatement records how many rows each statement deletes from
// table from now on; the returned func reports them, in order.
func deletesPerStatement(t *testing.T, pool *pgxpool.Pool, table string) func() []int64 {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE deletes (id bigint GENERATED ALWAYS AS IDENTITY, n bigint NOT NULL);
		CREATE FUNCTION record_deletes() RETURNS trigger LANGUAGE plpgsql AS
			$$BEGIN INSERT INTO deletes (n) SELECT count(*) FROM gone; RETURN NULL; END$$;
		CREATE TRIGGER record_deletes AFTER DELETE ON `+table+` REFERENCING OLD TABLE AS gone
			FOR EACH STATEMENT EXECUTE FUNCTION record_deletes()`); err != nil {
		t.Fatal(err)
	}
	return func() []int64 {
		t.Helper()
		rows, _ := pool.Query(ctx, `SELECT n FROM deletes ORDER BY id`)
		ns, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
}

// However many keys are due, each statement of Purge deletes at most
// PurgeBatch of them, so none nears statement_timeout or holds its locks
// long.
func TestPurgeBatches(t *testing.T) {
	db := stacktest.Get(t).NewDatabase(t, schema.Orders)
	pool := db.Pool
	ctx := context.Background()
	const retention = 24 * time.Hour
	due := 2*idempotency.PurgeBatch + 1
	if _, err := pool.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, response, created_at)
		SELECT 'alice', 'old-' || i, 'h'::bytea, ''::bytea, $1::timestamptz - i * interval '1 second' FROM generate_series(1, $2) i
		UNION ALL SELECT 'alice', 'new-' || i, 'h'::bytea, ''::bytea, $3 FROM generate_series(1, 3) i`,
		t0.Add(-retention), due, t0); err != nil {
		t.Fatal(err)
	}
	deletes := deletesPerStatement(t, db.Owner, "idempotency_keys") // the owner creates the trigger
	n, err := idempotency.Purge(ctx, pool, t0, retention)
	if err != nil || n != int64(due) {
		t.Fatalf("Purge() = %d, %v; want %d, nil", n, err, due)
	}
	ns := deletes()
	for _, n := range ns {
		if n > idempotency.PurgeBatch {
			t.Errorf("rows deleted by each statement: %v, want at most %d each", ns, idempotency.PurgeBatch)
			break
		}
	}
	if got := stacktest.Count(t, pool, `SELECT count(*) FROM idempotency_keys`); got != 3 {
		t.Errorf("keys left: got %d, want the 3 new ones", got)
	}
}

func TestPurgeNonPositiveRetention(t *testing.T) {
	pool := newPool(t)
	for _, d := range []time.Duration{0, -time.Hour} {
		if n, err := idempotency.Purge(context.Background(), pool, t0, d); err == nil {
			t.Errorf("Purge(%s) = %d, nil; want an error", d, n)
		}
	}
}
