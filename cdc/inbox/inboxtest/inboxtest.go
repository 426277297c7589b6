// Package inboxtest applies a consumer's effects (inbox.Effects) to real
// databases the two ways an inbox consumer does, so that a consumer's tests
// can check that both leave the same rows.
package inboxtest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/cdc/inbox"
)

// BothWays applies msgs, in order, to the database of pipelined the
// pipelined way (Pipelined, through pe) and to that of oneByOne message by
// message (OneByOne, through oe), and fails t where the pipelined path's
// choice differs from want: per message, whether it applied the message
// without falling back.
func BothWays(t testing.TB, pipelined, oneByOne *pgxpool.Pool, pe, oe inbox.Effects, msgs []inbox.Message, want []bool) {
	t.Helper()
	for i, m := range msgs {
		if got := Pipelined(t, pipelined, pe, m); got != want[i] {
			t.Errorf("message %d applied from the pipeline: got %t, want %t", i, got, want[i])
		}
		OneByOne(t, oneByOne, oe, m)
	}
}

// Pipelined applies m to pool's database the way the consumer's pipelined
// path does (inbox.ApplyPipelined), message by message when that path says
// the batch needs it (OneByOne), and reports whether the pipelined path
// applied it. Any other failure fails t.
func Pipelined(t testing.TB, pool *pgxpool.Pool, effects inbox.Effects, m inbox.Message) bool {
	t.Helper()
	err := inbox.ApplyPipelined(context.Background(), pool, effects.Effect, m)
	if errors.Is(err, inbox.ErrNotPipelined) {
		OneByOne(t, pool, effects, m)
		return false
	}
	if err != nil {
		t.Fatalf("ApplyPipelined(%s) = %v", m.EventID, err)
	}
	return true
}

// OneByOne applies m to pool's database in a transaction of its own, the
// way the consumer's message-by-message path does (inbox.Record with
// effects.Apply). A failure fails t.
func OneByOne(t testing.TB, pool *pgxpool.Pool, effects inbox.Effects, m inbox.Message) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		_, err := inbox.Record(context.Background(), tx, m, effects.Apply)
		return err
	})
	if err != nil {
		t.Fatalf("apply %s message by message: %v", m.EventID, err)
	}
}

// SameRows fails t for each query whose rows (in any order) differ between
// the database applied pipelined and the one applied one by one.
func SameRows(t testing.TB, pipelined, oneByOne *pgxpool.Pool, queries ...string) {
	t.Helper()
	for _, query := range queries {
		if diff := cmp.Diff(rows(t, oneByOne, query), rows(t, pipelined, query)); diff != "" {
			t.Errorf("%s (-message by message +pipelined):\n%s", query, diff)
		}
	}
}

// rows returns the rows of query as a JSON array, sorted.
func rows(t testing.TB, pool *pgxpool.Pool, query string) string {
	t.Helper()
	var rows string
	err := pool.QueryRow(context.Background(), `SELECT coalesce(json_agg(r ORDER BY r::text), '[]')::text FROM (`+query+`) r`).Scan(&rows)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return rows
}
