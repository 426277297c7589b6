package main

import (
	"cmp"
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// waitShare is how often the active sessions of the orders database were
// seen waiting on one wait event ("CPU" when running or waiting for no
// event).
type waitShare struct {
	Event string  `json:"event"`
	Pct   float64 `json:"pct"`
}

// sampleWaits samples the wait events of the orders database's active
// sessions every 250 ms until the returned function is called, which
// returns the shares of the events. A nil db samples nothing.
func sampleWaits(ctx context.Context, db *pgxpool.Pool) func() []waitShare {
	if db == nil {
		return func() []waitShare { return nil }
	}
	ctx, cancel := context.WithCancel(ctx)
	counts := map[string]int{}
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			rows, err := db.Query(ctx, `SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU')
				FROM pg_stat_activity
				WHERE datname = current_database() AND state <> 'idle' AND pid <> pg_backend_pid()
				  AND backend_type = 'client backend'`)
			if err == nil {
				events, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err == nil {
					for _, e := range events {
						counts[e]++
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return func() []waitShare {
		cancel()
		wg.Wait()
		return shares(counts, 6)
	}
}

// shares turns counts into percentages of their total, the largest first
// (ties by name), at most top of them.
func shares(counts map[string]int, top int) []waitShare {
	total := 0
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		return nil
	}
	out := make([]waitShare, 0, len(counts))
	for e, n := range counts {
		out = append(out, waitShare{Event: e, Pct: math.Round(float64(n)/float64(total)*1000) / 10})
	}
	slices.SortFunc(out, func(a, b waitShare) int {
		if c := cmp.Compare(b.Pct, a.Pct); c != 0 {
			return c
		}
		return cmp.Compare(a.Event, b.Event)
	})
	if len(out) > top {
		out = out[:top]
	}
	return out
}
