package systemtest_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"shop/stack/stacktest"
)

// TestDuplicateOrderCreated produces a paid order's OrderCreated again, once
// with the same event id (a Kafka redelivery) and once with a new one (the
// producer sent the event twice), and proves the order is debited and paid
// once: balance, ledger, the orders side and the audit.
func TestDuplicateOrderCreated(t *testing.T) {
	t.Parallel()
	s := startSystem(t, options{})
	user := stacktest.Unique("dup")
	s.openAccount(t, user, 1000)

	first := s.mustCreateOrder(t, user, 300)
	paid := s.waitOrder(t, first)
	if paid.Status != "PAID" {
		t.Fatalf("order %s: %s/%s, want PAID", first.ID, paid.Status, paid.Reason)
	}
	orig := s.findRecord(t, s.ordersTopic, eventFor("OrderCreated", first.ID))
	origID := headerValue(orig.Headers["id"])
	if _, err := uuid.Parse(origID); err != nil || orig.Key != user {
		t.Fatalf("OrderCreated as Debezium published it: key %q, headers %v; want key %q and a UUID id", orig.Key, orig.Headers, user)
	}

	// The same record again, byte for byte, on its partition.
	sameOff := s.produce(t, s.ordersTopic, orig.Partition, orig.Key, orig.Value, orig.Headers)
	// The same order under a new event id: the inbox cannot catch it, only
	// the business key can.
	newID := uuid.NewString()
	headers := maps.Clone(orig.Headers)
	headers["id"] = strings.Replace(orig.Headers["id"], origID, newID, 1)
	newOff := s.produce(t, s.ordersTopic, orig.Partition, orig.Key, orig.Value, headers)

	// A later order of the same user is keyed to the same partition, behind
	// both copies: once it is decided, the copies have been consumed.
	second := s.mustCreateOrder(t, user, 200)
	if got := s.waitOrder(t, second); got.Status != "PAID" {
		t.Fatalf("second order %s: %s/%s, want PAID", second.ID, got.Status, got.Reason)
	}
	behind := s.findRecord(t, s.ordersTopic, eventFor("OrderCreated", second.ID))
	if behind.Partition != orig.Partition || behind.Offset <= newOff || newOff <= sameOff {
		t.Fatalf("second order's event at %d@%d, copies at %d@%d and %d@%d: the barrier does not follow the copies",
			behind.Partition, behind.Offset, orig.Partition, sameOff, orig.Partition, newOff)
	}
	if !inboxHas(t, s.paymentsDB, newID) {
		t.Errorf("payments inbox has no event %s: the copy under a new id was not consumed as an event", newID)
	}
	if dl := deadLetters(t, s.paymentsDB); len(dl) != 0 {
		t.Errorf("payments dead letters %+v, want none: a duplicate is not undecodable", dl)
	}

	if got := s.balance(t, user); got != 1000-300-200 {
		t.Errorf("balance = %d, want %d (each order debited once)", got, 1000-300-200)
	}
	debits, rows := s.debits(t, user)
	if diff := cmp.Diff(map[string]int64{first.ID: 300, second.ID: 200}, debits); diff != "" || rows != 2 {
		t.Errorf("%d debit rows; debits by order (-want +got):\n%s", rows, diff)
	}

	// Whatever the payments service published for the copies (it may
	// publish the recorded outcome again), the orders service has consumed
	// it by now (same key, ahead of the second order's outcome) and the order
	// was paid once: still PAID, not touched since.
	recs := s.env.ReadTopic(t, s.paymentsTopic, settleTimeout, func(recs []stacktest.Record) bool {
		return slices.ContainsFunc(recs, eventFor("PaymentSucceeded", second.ID))
	})
	outcomes := 0
	for _, r := range recs {
		if eventFor("PaymentSucceeded", first.ID)(r) || eventFor("PaymentFailed", first.ID)(r) {
			outcomes++
			if id := headerValue(r.Headers["id"]); !inboxHas(t, s.ordersDB, id) {
				t.Errorf("outcome event %s of order %s not in the orders inbox", id, first.ID)
			}
		}
	}
	t.Logf("outcome events published for the order: %d", outcomes)
	if outcomes == 0 {
		t.Errorf("no outcome event of order %s on %s", first.ID, s.paymentsTopic)
	}
	after := s.waitOrder(t, first)
	if after.Status != "PAID" || !after.UpdatedAt.Equal(paid.UpdatedAt) {
		t.Errorf("order after the copies: %s updated %s, want PAID updated %s (unchanged)", after.Status, after.UpdatedAt, paid.UpdatedAt)
	}
	if o := s.restOrder(t, user, first.ID); o.Status != "PAID" {
		t.Errorf("GET order %s: status %s, want PAID", first.ID, o.Status)
	}

	r := s.auditClean(t)
	if r.Debits != 2 || r.PaidOrders != 2 {
		t.Errorf("audit saw %d debits and %d PAID orders, want 2 and 2", r.Debits, r.PaidOrders)
	}
}
