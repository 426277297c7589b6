package orderevents

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"shop/audit"
	"shop/cdc/inbox"
	"shop/cdc/inbox/inboxtest"
	"shop/payments/postgres"
	ordersv1 "shop/proto/orders/v1"
	schema "shop/sql"
	"shop/stack/stacktest"
)

// TestEffectPaths applies the same OrderCreated messages to two payments
// databases, once the pipelined way (inbox.ApplyPipelined, message by
// message when it says the batch needs that, as the consumer does) and once
// message by message (inbox.Record with Effects().Apply), and compares every
// row they leave: accounts, ledger, recorded outcomes, inbox, and the
// outbox rows but for their ids. It checks which way the pipelined path
// took, and that balance = credits - debits and balance >= 0 in both.
func TestEffectPaths(t *testing.T) {
	env := stacktest.Get(t)
	order := func(user string, amount int64) inbox.Message {
		o := newOrder(user, amount)
		return inbox.Message{EventID: uuid.New(), Type: ordersv1.EventOrderCreated, Key: user, Value: o.json(t),
			Topic: "orders.events", Partition: 1, Offset: 7, Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	}
	paid, poor, nobody := order("rich", 60), order("poor", 50), order("nobody", 5)
	replay := paid
	replay.EventID, replay.Offset = uuid.New(), 8
	tests := []struct {
		name string
		msgs []inbox.Message
		// pipelined says, per message, whether the pipelined path applies
		// it without falling back.
		pipelined []bool
		// status and reason are the order's recorded outcome.
		status, reason string
	}{
		{name: "Paid", msgs: []inbox.Message{paid}, pipelined: []bool{true}, status: "SUCCEEDED"},
		{name: "InsufficientFunds", msgs: []inbox.Message{poor}, pipelined: []bool{true}, status: "FAILED", reason: "INSUFFICIENT_FUNDS"},
		{name: "NoAccount", msgs: []inbox.Message{nobody}, pipelined: []bool{true}, status: "FAILED", reason: "ACCOUNT_NOT_FOUND"},
		{name: "DuplicateEvent", msgs: []inbox.Message{paid, paid}, pipelined: []bool{true, false}, status: "SUCCEEDED"},
		{name: "OrderReplayed", msgs: []inbox.Message{paid, replay}, pipelined: []bool{true, true}, status: "SUCCEEDED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			var (
				dbs     [2]*stacktest.Database
				effects [2]inbox.Effects
			)
			for i := range dbs {
				dbs[i] = env.NewDatabase(t, schema.Payments)
				store, err := postgres.New(dbs[i].Pool)
				if err != nil {
					t.Fatal(err)
				}
				for user, balance := range map[string]int64{"rich": 100, "poor": 10} {
					if _, err := store.CreateAccount(ctx, user); err != nil {
						t.Fatal(err)
					}
					if _, err := store.TopUp(ctx, user, balance, ""); err != nil {
						t.Fatal(err)
					}
				}
				a, err := New(store, stacktest.Logger())
				if err != nil {
					t.Fatal(err)
				}
				effects[i] = a.Effects()
			}
			inboxtest.BothWays(t, dbs[0].Pool, dbs[1].Pool, effects[0], effects[1], tt.msgs, tt.pipelined)
			for _, db := range dbs {
				r, err := audit.Check(ctx, db.Pool, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !r.OK() {
					t.Errorf("audit violations: %v", r.Violations)
				}
				if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM accounts WHERE balance < 0`); n != 0 {
					t.Errorf("%d accounts below 0", n)
				}
			}
			if got := stacktest.Count(t, dbs[0].Pool, `SELECT count(*) FROM payment_outcomes WHERE status = $1 AND coalesce(reason, '') = $2`, tt.status, tt.reason); got != 1 {
				t.Errorf("outcomes %s %s = %d, want 1", tt.status, tt.reason, got)
			}
			inboxtest.SameRows(t, dbs[0].Pool, dbs[1].Pool,
				`SELECT user_id, balance FROM accounts`,
				`SELECT user_id, kind, amount, order_id FROM ledger`,
				`SELECT order_id, user_id, amount, status, reason FROM payment_outcomes`,
				`SELECT event_id, topic, partition, "offset" FROM inbox`,
				`SELECT aggregatetype, aggregateid, type, payload, traceparent FROM outbox`,
				`SELECT count(*) FROM dead_letters`,
			)
			events := map[uuid.UUID]bool{}
			for _, m := range tt.msgs {
				events[m.EventID] = true
			}
			if got := stacktest.Count(t, dbs[0].Pool, `SELECT count(*) FROM outbox`); got != len(events) {
				t.Errorf("outbox rows = %d, want one per event, %d", got, len(events))
			}
		})
	}
}
