package systemtest_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	ordersv1 "shop/proto/orders/v1"
	paymentsv1 "shop/proto/payments/v1"
	"shop/stack/stacktest"
	"shop/systemtest/system"
)

// TestDuplicateOrderCreated produces a paid order's OrderCreated again, once
// with the same event id (a Kafka redelivery) and once with a new one (the
// producer sent the event twice), and proves the order is debited and paid
// once: balance, ledger, the orders side and the audit.
func TestDuplicateOrderCreated(t *testing.T) {
	t.Parallel()
	s := startShop(t, system.Options{})
	user := stacktest.Unique("dup")
	s.openAccount(t, user, 1000)

	first := s.mustCreateOrder(t, user, 300)
	paid := s.waitOrder(t, first)
	if paid.Status != "PAID" {
		t.Fatalf("order %s: %s/%s, want PAID", first.ID, paid.Status, paid.Reason)
	}
	orig := s.findRecord(t, s.OrdersTopic, eventFor(ordersv1.EventOrderCreated, first.ID))
	origID := headerValue(orig.Headers["id"])
	if _, err := uuid.Parse(origID); err != nil || orig.Key != user {
		t.Fatalf("OrderCreated as Debezium published it: key %q, headers %v; want key %q and a UUID id", orig.Key, orig.Headers, user)
	}

	// barrier creates an order of the same user, which is keyed to the same
	// partition behind whatever was produced before, and waits until it is
	// paid: then everything ahead of it has been consumed, by payments and
	// (for the outcome events, also keyed by user) by orders. It returns the
	// outcome events of the first order published so far.
	barrier := func(amount, after int64) (id string, outcomes []stacktest.Record) {
		t.Helper()
		o := s.mustCreateOrder(t, user, amount)
		if got := s.waitOrder(t, o); got.Status != "PAID" {
			t.Fatalf("barrier order %s: %s/%s, want PAID", o.ID, got.Status, got.Reason)
		}
		behind := s.findRecord(t, s.OrdersTopic, eventFor(ordersv1.EventOrderCreated, o.ID))
		if behind.Partition != orig.Partition || behind.Offset <= after {
			t.Fatalf("barrier order's event at %d@%d does not follow the copy at %d@%d", behind.Partition, behind.Offset, orig.Partition, after)
		}
		recs := s.Env.ReadTopic(t, s.PaymentsTopic, settleTimeout, func(recs []stacktest.Record) bool {
			return slices.ContainsFunc(recs, eventFor(paymentsv1.EventPaymentSucceeded, o.ID))
		})
		for _, r := range recs {
			if eventFor(paymentsv1.EventPaymentSucceeded, first.ID)(r) || eventFor(paymentsv1.EventPaymentFailed, first.ID)(r) {
				outcomes = append(outcomes, r)
			}
		}
		return o.ID, outcomes
	}

	// The same record again, byte for byte, on its partition: the inbox
	// skips it, with no effect at all, not even an event.
	sameOff := s.produce(t, s.OrdersTopic, orig.Partition, orig.Key, orig.Value, orig.Headers)
	second, outcomes := barrier(200, sameOff)
	if len(outcomes) != 1 {
		t.Errorf("%d outcome events of order %s after a redelivery of its OrderCreated, want 1", len(outcomes), first.ID)
	}

	// The same order under a new event id: the inbox cannot catch it, only
	// the business key can. The payments service may publish the recorded
	// outcome again; the orders service must take it as a no-op.
	newID := uuid.NewString()
	headers := maps.Clone(orig.Headers)
	headers["id"] = strings.Replace(orig.Headers["id"], origID, newID, 1)
	newOff := s.produce(t, s.OrdersTopic, orig.Partition, orig.Key, orig.Value, headers)
	third, outcomes := barrier(100, newOff)
	t.Logf("outcome events of the order after the copy under a new id: %d", len(outcomes))
	if len(outcomes) < 1 || len(outcomes) > 2 {
		t.Errorf("%d outcome events of order %s, want the first and at most one replay", len(outcomes), first.ID)
	}
	for _, r := range outcomes {
		if id := headerValue(r.Headers["id"]); !inboxHas(t, s.OrdersDB, id) {
			t.Errorf("outcome event %s of order %s not in the orders inbox", id, first.ID)
		}
		if eventFor(paymentsv1.EventPaymentFailed, first.ID)(r) {
			t.Errorf("PaymentFailed published for the paid order %s", first.ID)
		}
	}
	if !inboxHas(t, s.PaymentsDB, newID) {
		t.Errorf("payments inbox has no event %s: the copy under a new id was not consumed as an event", newID)
	}
	if dl := deadLetters(t, s.PaymentsDB); len(dl) != 0 {
		t.Errorf("payments dead letters %+v, want none: a duplicate is not undecodable", dl)
	}

	if got, want := s.balance(t, user), int64(1000-300-200-100); got != want {
		t.Errorf("balance = %d, want %d (each order debited once)", got, want)
	}
	debits, rows := s.debits(t, user)
	if diff := cmp.Diff(map[string]int64{first.ID: 300, second: 200, third: 100}, debits); diff != "" || rows != 3 {
		t.Errorf("%d debit rows; debits by order (-want +got):\n%s", rows, diff)
	}
	after := s.waitOrder(t, first)
	if after.Status != "PAID" || !after.UpdatedAt.Equal(paid.UpdatedAt) {
		t.Errorf("order after the copies: %s updated %s, want PAID updated %s (unchanged)", after.Status, after.UpdatedAt, paid.UpdatedAt)
	}
	if o := s.restOrder(t, user, first.ID); o.Status != "PAID" {
		t.Errorf("GET order %s: status %s, want PAID", first.ID, o.Status)
	}

	r := s.auditClean(t)
	if r.Debits != 3 || r.PaidOrders != 3 {
		t.Errorf("audit saw %d debits and %d PAID orders, want 3 and 3", r.Debits, r.PaidOrders)
	}
}
