package postgres_test

import (
	"context"
	"testing"
	"time"

	"shop/orders/postgres"
)

// The purge deletes the changes older than the retention, by the store's
// clock, and keeps the users' latest numbers; OldestChange then tells
// where a user's log starts.
func TestPurgeChangesKeepsTheRetention(t *testing.T) {
	s, db, c := newStore(t)
	ctx := context.Background()
	old := create(t, s, "alice", 100) // change 1, at t0
	pay(t, s, db, old, true)          // change 2, at t0
	create(t, s, "bob", 100)          // bob's change 1, at t0
	c.Set(t0.Add(postgres.ChangeRetention))
	create(t, s, "alice", 200) // change 3, a week later

	if _, err := s.PurgeChanges(ctx, 0); err == nil {
		t.Error("PurgeChanges(0) = nil error, want one")
	}
	c.Set(t0.Add(postgres.ChangeRetention + time.Hour))
	n, err := s.PurgeChanges(ctx, postgres.ChangeRetention)
	if err != nil || n != 3 {
		t.Fatalf("PurgeChanges = %d, %v; want 3 (alice's 1 and 2, bob's 1)", n, err)
	}
	for _, tt := range []struct {
		user           string
		oldest, latest int64
	}{{"alice", 3, 3}, {"bob", 0, 1}, {"carol", 0, 0}} {
		oldest, err := s.OldestChange(ctx, tt.user)
		if err != nil || oldest != tt.oldest {
			t.Errorf("OldestChange(%s) = %d, %v; want %d", tt.user, oldest, err, tt.oldest)
		}
		if latest, err := s.LatestChange(ctx, tt.user); err != nil || latest != tt.latest {
			t.Errorf("LatestChange(%s) = %d, %v; want %d", tt.user, latest, err, tt.latest)
		}
	}
	if got, err := s.ChangesAfter(ctx, "alice", 0, 10); err != nil || len(got) != 1 || got[0].Seq != 3 {
		t.Errorf("alice's log after the purge: %v, %v; want change 3 only", got, err)
	}
}
