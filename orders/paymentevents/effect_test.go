package paymentevents_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"shop/cdc/inbox"
	"shop/cdc/inbox/inboxtest"
	"shop/orders/paymentevents"
	"shop/orders/postgres"
	paymentsv1 "shop/proto/payments/v1"
	schema "shop/sql"
	"shop/stack/stacktest"
)

// TestEffectPaths applies the same payment results to two orders
// databases, once the pipelined way (inbox.ApplyPipelined, message by
// message when it says the batch needs that, as the consumer does) and once
// message by message (inbox.Record with Effects().Apply), and compares every
// row they leave: orders, parked results, inbox and dead letters. It checks
// which way the pipelined path took: only a result that moves a PENDING
// order is applied from the pipeline.
func TestEffectPaths(t *testing.T) {
	env := stacktest.Get(t)
	pending, paid, missing := uuid.New(), uuid.New(), uuid.New()
	result := func(typ string, order uuid.UUID, reason string) inbox.Message {
		value := fmt.Sprintf(`{"orderId":%q,"userId":"alice","amount":"10","currency":"RUB"}`, order)
		if reason != "" {
			value = fmt.Sprintf(`{"orderId":%q,"userId":"alice","amount":"10","currency":"RUB","reason":%q}`, order, reason)
		}
		return inbox.Message{EventID: uuid.New(), Type: typ, Key: "alice", Value: []byte(value),
			Topic: "payments.events", Partition: 2, Offset: 9, Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	}
	succeeded := result(paymentsv1.EventPaymentSucceeded, pending, "")
	tests := []struct {
		name string
		msgs []inbox.Message
		// pipelined says, per message, whether the pipelined path applies
		// it without falling back.
		pipelined []bool
		// status is the pending order's status after, parked the results
		// parked.
		status string
		parked int
	}{
		{name: "SucceededApplied", msgs: []inbox.Message{succeeded}, pipelined: []bool{true}, status: "PAID"},
		{name: "FailedApplied", msgs: []inbox.Message{result(paymentsv1.EventPaymentFailed, pending, "FAILURE_REASON_INSUFFICIENT_FUNDS")}, pipelined: []bool{true}, status: "CANCELLED"},
		{name: "SucceededParked", msgs: []inbox.Message{result(paymentsv1.EventPaymentSucceeded, missing, "")}, pipelined: []bool{false}, status: "PENDING", parked: 1},
		{name: "FailedParked", msgs: []inbox.Message{result(paymentsv1.EventPaymentFailed, missing, "FAILURE_REASON_ACCOUNT_NOT_FOUND")}, pipelined: []bool{false}, status: "PENDING", parked: 1},
		{name: "FailedOnTerminalOrderIgnored", msgs: []inbox.Message{result(paymentsv1.EventPaymentFailed, paid, "FAILURE_REASON_INSUFFICIENT_FUNDS")}, pipelined: []bool{false}, status: "PENDING"},
		{name: "SucceededDuplicate", msgs: []inbox.Message{succeeded, succeeded}, pipelined: []bool{true, false}, status: "PAID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			var (
				dbs     [2]*stacktest.Database
				effects [2]inbox.Effects
			)
			for i := range dbs {
				dbs[i] = env.NewDatabase(t, schema.Orders)
				_, err := dbs[i].Pool.Exec(ctx, `INSERT INTO orders (id, user_id, amount, currency, description, status, created_at, updated_at)
					VALUES ($1, 'alice', 10, 'RUB', '', 'PENDING', now(), now()), ($2, 'alice', 10, 'RUB', '', 'PAID', now(), now())`, pending, paid)
				if err != nil {
					t.Fatal(err)
				}
				store, err := postgres.New(dbs[i].Pool)
				if err != nil {
					t.Fatal(err)
				}
				a, err := paymentevents.New(store, stacktest.Logger())
				if err != nil {
					t.Fatal(err)
				}
				effects[i] = a.Effects()
			}
			inboxtest.BothWays(t, dbs[0].Pool, dbs[1].Pool, effects[0], effects[1], tt.msgs, tt.pipelined)
			if got := stacktest.Count(t, dbs[0].Pool, `SELECT count(*) FROM orders WHERE id = $1 AND status = $2`, pending, tt.status); got != 1 {
				t.Errorf("pending order not %s after", tt.status)
			}
			if got := stacktest.Count(t, dbs[0].Pool, `SELECT count(*) FROM parked_payment_results`); got != tt.parked {
				t.Errorf("parked results = %d, want %d", got, tt.parked)
			}
			if got := stacktest.Count(t, dbs[0].Pool, `SELECT count(*) FROM orders WHERE id = $1 AND status = 'PAID'`, paid); got != 1 {
				t.Errorf("paid order changed")
			}
			inboxtest.SameRows(t, dbs[0].Pool, dbs[1].Pool,
				`SELECT id, user_id, amount, status, cancel_reason FROM orders`,
				`SELECT event_id, order_id, user_id, amount, paid, cancel_reason, event_type, topic, partition, "offset", key, value, traceparent FROM parked_payment_results`,
				`SELECT event_id, topic, partition, "offset" FROM inbox`,
				`SELECT count(*) FROM dead_letters`,
			)
		})
	}
}
