package postgres

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	schema "shop/sql"
	"shop/stack/stacktest"
)

// newTestLease returns a lease over a fresh orders database and a function
// that reads how long the row of a user still lives (false: no row).
func newTestLease(t *testing.T) (*lease, *stacktest.Database, func(user string) (time.Duration, bool)) {
	t.Helper()
	db := stacktest.Get(t).NewDatabase(t, schema.Orders)
	l := newLease(db.Pool, stacktest.Logger())
	ttl := func(user string) (time.Duration, bool) {
		t.Helper()
		var secs float64
		err := db.Pool.QueryRow(context.Background(), `SELECT extract(epoch FROM expires_at - now())
			FROM order_watchers WHERE user_id = $1 AND instance = $2`, user, l.instance).Scan(&secs)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, false
		}
		if err != nil {
			t.Fatal(err)
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	return l, db, ttl
}

// setTTL makes the row of user live d from now (negative: expired).
func setTTL(t *testing.T, db *stacktest.Database, user string, d time.Duration) {
	t.Helper()
	if _, err := db.Pool.Exec(context.Background(), `UPDATE order_watchers
		SET expires_at = now() + make_interval(secs => $2) WHERE user_id = $1`, user, d.Seconds()); err != nil {
		t.Fatal(err)
	}
}

// wantTTL checks that the row of user lives about want from now.
func wantTTL(t *testing.T, ttl func(string) (time.Duration, bool), user string, want time.Duration) {
	t.Helper()
	got, ok := ttl(user)
	if !ok {
		t.Fatalf("no row of %s in order_watchers", user)
	}
	if got < want-10*time.Second || got > want+time.Second {
		t.Errorf("row of %s lives %v, want about %v", user, got, want)
	}
}

func TestLeaseTake(t *testing.T) {
	l, db, ttl := newTestLease(t)
	ctx := context.Background()

	t.Run("WritesTheRowAndInstallsBeforeTheCommit", func(t *testing.T) {
		var latest int64 = -1
		err := l.take(ctx, "alice", func(n int64) error {
			if _, ok := ttl("alice"); ok {
				t.Error("the row is visible before the commit")
			}
			latest = n
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if latest != 0 {
			t.Errorf("install got latest %d, want 0", latest)
		}
		wantTTL(t, ttl, "alice", watchTTL)
	})
	t.Run("ErrInstall", func(t *testing.T) {
		errInstall := errors.New("install failed")
		if err := l.take(ctx, "bob", func(int64) error { return errInstall }); err != errInstall {
			t.Fatalf("take = %v, want install's error unchanged", err)
		}
		if _, ok := ttl("bob"); ok {
			t.Error("the row of bob was written although install failed")
		}
	})
	t.Run("LeavesARecentRow", func(t *testing.T) {
		setTTL(t, db, "alice", time.Minute)
		if err := l.take(ctx, "alice", nil); err != nil {
			t.Fatal(err)
		}
		wantTTL(t, ttl, "alice", time.Minute)
	})
	t.Run("RewritesAnOldRow", func(t *testing.T) {
		l.written["alice"] = time.Now().Add(-watchTTL / 2)
		if err := l.take(ctx, "alice", nil); err != nil {
			t.Fatal(err)
		}
		wantTTL(t, ttl, "alice", watchTTL)
	})
}

func TestLeaseRenew(t *testing.T) {
	l, db, ttl := newTestLease(t)
	ctx := context.Background()
	for _, u := range []string{"alive", "expired", "unwatched", "gone"} {
		if err := l.take(ctx, u, func(int64) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	setTTL(t, db, "alive", time.Minute)
	setTTL(t, db, "expired", -time.Second)
	setTTL(t, db, "gone", -2*time.Minute)

	var lapsed []string
	err := l.renew(ctx, func() []string { return []string{"alive", "expired", "never"} },
		func(u string) { lapsed = append(lapsed, u) })
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lapsed)
	if want := []string{"expired", "never"}; !slices.Equal(lapsed, want) {
		t.Errorf("lapsed %v, want %v", lapsed, want)
	}
	wantTTL(t, ttl, "alive", watchTTL)
	wantTTL(t, ttl, "unwatched", watchTTL) // not renewed, expires on its own
	if _, ok := ttl("gone"); ok {
		t.Error("the row expired two minutes ago was not deleted")
	}
	if _, ok := ttl("expired"); !ok {
		t.Error("the row expired a second ago was deleted; want it kept for a minute")
	}
	for u, want := range map[string]bool{"alive": true, "expired": false, "unwatched": false, "never": false} {
		if _, got := l.written[u]; got != want {
			t.Errorf("written[%s] recorded = %v, want %v", u, got, want)
		}
	}
}
