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

// The wait bounds the claim only: the effect that follows in the same
// transaction runs with the transaction's own lock_timeout.
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
				var before, after string
				if err := tx.QueryRow(ctx, `SELECT current_setting('lock_timeout')`).Scan(&before); err != nil {
					return err
				}
				if _, err := idempotency.Claim(ctx, tx, key("alice", "key-1", "h"), resp("r"), t0, 100*time.Millisecond); err != nil {
					return err
				}
				if err := tx.QueryRow(ctx, `SELECT current_setting('lock_timeout')`).Scan(&after); err != nil {
					return err
				}
				if tt.set != "" && before != tt.set {
					t.Errorf("lock_timeout before Claim: got %q, want %q", before, tt.set)
				}
				if after != before {
					t.Errorf("lock_timeout after Claim: got %q, want %q", after, before)
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

func TestPurgeNonPositiveRetention(t *testing.T) {
	pool := newPool(t)
	for _, d := range []time.Duration{0, -time.Hour} {
		if n, err := idempotency.Purge(context.Background(), pool, t0, d); err == nil {
			t.Errorf("Purge(%s) = %d, nil; want an error", d, n)
		}
	}
}
