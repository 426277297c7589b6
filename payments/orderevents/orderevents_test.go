package orderevents

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"shop/cdc/inbox"
	"shop/payments"
	ordersv1 "shop/proto/orders/v1"
	"shop/service/fault"
	"shop/service/tracing"
	"shop/stack/stacktest"
)

// fakeStore records the orders it is asked to pay and passes err to the
// callback at once, queueing nothing; it stands in for the store to test
// the dispatch, not the payment (see TestEffectPaths for both).
type fakeStore struct {
	err         error
	orders      []payments.OrderCreated
	traceparent string
}

func (f *fakeStore) QueuePayOrder(_ *inbox.Queue, o payments.OrderCreated, traceparent string, decided func(payments.Outcome, error) error) error {
	f.orders = append(f.orders, o)
	f.traceparent = traceparent
	return decided(payments.Outcome{OrderID: o.OrderID, UserID: o.UserID, Amount: o.Amount, Status: payments.PaymentSucceeded}, f.err)
}

func TestEffects(t *testing.T) {
	id := uuid.New()
	good := []byte(`{"orderId":"` + id.String() + `","userId":"alice","amount":"150","currency":"RUB"}`)
	msg := func(typ string) inbox.Message {
		return inbox.Message{EventID: uuid.New(), Type: typ, Key: "alice", Value: good, Traceparent: "00-trace-span-01"}
	}
	tests := []struct {
		name            string
		m               inbox.Message
		storeErr        error
		wantPaid        bool
		wantUndecodable bool
		wantErr         bool
	}{
		{name: "OK", m: msg(ordersv1.EventOrderCreated), wantPaid: true},
		{name: "ErrUnknownType", m: msg("OrderShipped"), wantUndecodable: true, wantErr: true},
		{name: "ErrNoType", m: msg(""), wantUndecodable: true, wantErr: true},
		{name: "ErrUndecodable", m: inbox.Message{EventID: uuid.New(), Type: ordersv1.EventOrderCreated, Value: []byte("{")}, wantUndecodable: true, wantErr: true},
		{name: "ErrContradictsDecisionIsUndecodable", m: msg(ordersv1.EventOrderCreated), storeErr: fault.Errorf(fault.Invalid, "order was decided for another amount"), wantPaid: true, wantUndecodable: true, wantErr: true},
		{name: "ErrDatabaseIsTransient", m: msg(ordersv1.EventOrderCreated), storeErr: errors.New("connection reset"), wantPaid: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeStore{err: tt.storeErr}
			a, err := New(store, stacktest.Logger())
			if err != nil {
				t.Fatal(err)
			}
			err = a.Effects().Apply(context.Background(), nil, tt.m)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("Apply() error = %v, want error %t", err, tt.wantErr)
			}
			if got := inbox.IsUndecodable(err); got != tt.wantUndecodable {
				t.Errorf("Apply() error %v: undecodable = %t, want %t", err, got, tt.wantUndecodable)
			}
			var want []payments.OrderCreated
			if tt.wantPaid {
				want = []payments.OrderCreated{{OrderID: id, UserID: "alice", Amount: 150, Currency: "RUB"}}
			}
			if diff := cmp.Diff(want, store.orders); diff != "" {
				t.Errorf("orders paid (-want +got):\n%s", diff)
			}
			if tt.wantPaid && store.traceparent != "00-trace-span-01" {
				t.Errorf("traceparent = %q, want the message's", store.traceparent)
			}
		})
	}
}

func TestEffectsTable(t *testing.T) {
	a, err := New(&fakeStore{}, stacktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for typ := range a.Effects() {
		types = append(types, typ)
	}
	slices.Sort(types)
	if diff := cmp.Diff([]string{ordersv1.EventOrderCreated}, types); diff != "" {
		t.Errorf("event types handled (-want +got):\n%s", diff)
	}
}

func TestNewRequiresDeps(t *testing.T) {
	if _, err := New(nil, stacktest.Logger()); err == nil {
		t.Error("New(nil store) error = nil, want error")
	}
	if _, err := New(&fakeStore{}, nil); err == nil {
		t.Error("New(nil logger) error = nil, want error")
	}
}

// TestTraceparentOfConsumerSpan: the outcome's event carries the
// traceparent of the consumer's span, the child of the message's, so that
// the orders consumer's span continues from the payments consumer's.
func TestTraceparentOfConsumerSpan(t *testing.T) {
	store := &fakeStore{}
	a, err := New(store, stacktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	m := inbox.Message{EventID: uuid.New(), Type: ordersv1.EventOrderCreated, Key: "alice",
		Value:       []byte(`{"orderId":"` + id.String() + `","userId":"alice","amount":"150","currency":"RUB"}`),
		Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(tracing.FromTraceparent(context.Background(), m.Traceparent), "process")
	defer span.End()
	if err := a.Effects().Apply(ctx, nil, m); err != nil {
		t.Fatal(err)
	}
	want := "00-0af7651916cd43dd8448eb211c80319c-" + span.SpanContext().SpanID().String() + "-01"
	if store.traceparent != want {
		t.Errorf("traceparent = %q, want the consumer span's %q", store.traceparent, want)
	}
}
