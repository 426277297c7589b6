package systemtest_test

import (
	"bytes"
	"testing"

	"github.com/google/uuid"

	ordersv1 "shop/proto/orders/v1"
	paymentsv1 "shop/proto/payments/v1"
	"shop/stack/stacktest"
	"shop/systemtest/system"
)

// TestUndecodableMessages puts undecodable messages on both topics, on the
// partition of a user's events and ahead of that user's next order: each
// lands in the consuming service's dead_letters with its raw bytes, and the
// order behind it is still paid.
func TestUndecodableMessages(t *testing.T) {
	t.Parallel()
	s := startShop(t, system.Options{})
	user := stacktest.Unique("dl")
	s.openAccount(t, user, 1000)

	// A first order shows which partition carries the user's events on
	// each topic.
	first := s.mustCreateOrder(t, user, 100)
	if got := s.waitOrder(t, first); got.Status != "PAID" {
		t.Fatalf("first order: %s/%s, want PAID", got.Status, got.Reason)
	}
	created := s.findRecord(t, s.OrdersTopic, eventFor(ordersv1.EventOrderCreated, first.ID))
	succeeded := s.findRecord(t, s.PaymentsTopic, eventFor(paymentsv1.EventPaymentSucceeded, first.ID))

	type bad struct {
		name    string
		value   []byte
		headers map[string]string
	}
	// Orders topic, consumed by payments.
	toPayments := []bad{
		{"BrokenJSON", []byte(`{"orderId": "`), map[string]string{"id": uuid.NewString(), "eventType": ordersv1.EventOrderCreated}},
		// A valid payload without its event id cannot be applied exactly once.
		{"NoEventID", created.Value, map[string]string{"eventType": ordersv1.EventOrderCreated}},
	}
	// Payments topic, consumed by orders; the value is not even UTF-8.
	toOrders := []bad{
		{"BrokenJSON", []byte("\x00\xff not json"), map[string]string{"id": uuid.NewString(), "eventType": paymentsv1.EventPaymentSucceeded}},
		{"NoEventID", succeeded.Value, map[string]string{"eventType": paymentsv1.EventPaymentSucceeded}},
	}
	produceAll := func(topic string, partition int32, bads []bad) map[int64]bad {
		out := map[int64]bad{}
		for _, b := range bads {
			out[s.produce(t, topic, partition, user, b.value, b.headers)] = b
		}
		return out
	}
	badForPayments := produceAll(s.OrdersTopic, created.Partition, toPayments)
	badForOrders := produceAll(s.PaymentsTopic, succeeded.Partition, toOrders)

	// The next order's events follow the bad ones on the same partitions.
	second := s.mustCreateOrder(t, user, 200)
	if got := s.waitOrder(t, second); got.Status != "PAID" {
		t.Fatalf("order behind the undecodable messages: %s/%s, want PAID", got.Status, got.Reason)
	}
	for _, c := range []struct {
		topic, typ string
		partition  int32
		bad        map[int64]bad
	}{
		{s.OrdersTopic, ordersv1.EventOrderCreated, created.Partition, badForPayments},
		{s.PaymentsTopic, paymentsv1.EventPaymentSucceeded, succeeded.Partition, badForOrders},
	} {
		r := s.findRecord(t, c.topic, eventFor(c.typ, second.ID))
		for off := range c.bad {
			if r.Partition != c.partition || r.Offset <= off {
				t.Fatalf("%s of the second order at %d@%d does not follow the undecodable message at %d@%d",
					c.typ, r.Partition, r.Offset, c.partition, off)
			}
		}
	}

	for _, c := range []struct {
		service string
		db      *stacktest.Database
		topic   string
		bad     map[int64]bad
	}{
		{"payments", s.PaymentsDB, s.OrdersTopic, badForPayments},
		{"orders", s.OrdersDB, s.PaymentsTopic, badForOrders},
	} {
		dls := deadLetters(t, c.db)
		if len(dls) != len(c.bad) {
			t.Errorf("%s dead letters: %d, want %d: %+v", c.service, len(dls), len(c.bad), dls)
		}
		for _, d := range dls {
			b, ok := c.bad[d.Offset]
			switch {
			case !ok || d.Topic != c.topic:
				t.Errorf("%s dead letter %s@%d is not one of the undecodable messages", c.service, d.Topic, d.Offset)
			case !bytes.Equal(d.Value, b.value) || string(d.Key) != user || d.Error == "":
				t.Errorf("%s dead letter %s: key %q value %q error %q; want key %q, value %q and the error",
					c.service, b.name, d.Key, d.Value, d.Error, user, b.value)
			}
		}
	}

	// The undecodable copy of the first order's event charged nothing.
	if got := s.balance(t, user); got != 1000-100-200 {
		t.Errorf("balance = %d, want %d", got, 1000-100-200)
	}
	s.auditClean(t)
}
