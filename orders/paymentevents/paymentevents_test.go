package paymentevents_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"shop/cdc/inbox"
	"shop/orders"
	"shop/orders/paymentevents"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service/fault"
	"shop/stack/stacktest"
)

// recordingStore records the payment results it is asked to apply and
// answers with outcome and err; the store itself is tested against
// Postgres in package postgres.
type recordingStore struct {
	outcome orders.ApplyOutcome
	err     error
	got     []orders.PaymentResult
}

func (s *recordingStore) ApplyPayment(_ context.Context, _ pgx.Tx, r orders.PaymentResult) (orders.ApplyOutcome, error) {
	s.got = append(s.got, r)
	if s.outcome == 0 && s.err == nil {
		return orders.Applied, nil
	}
	return s.outcome, s.err
}

func TestNewRequiresDependencies(t *testing.T) {
	if _, err := paymentevents.New(nil, stacktest.Logger()); err == nil {
		t.Error("New(nil store): got nil error, want one")
	}
	if _, err := paymentevents.New(&recordingStore{}, nil); err == nil {
		t.Error("New(nil logger): got nil error, want one")
	}
}

func TestHandlersTable(t *testing.T) {
	a, err := paymentevents.New(&recordingStore{}, stacktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for typ := range a.Handlers() {
		got = append(got, typ)
	}
	slices.Sort(got)
	want := []string{paymentsv1.EventPaymentFailed, paymentsv1.EventPaymentSucceeded}
	if !slices.Equal(got, want) {
		t.Errorf("event types: got %v, want %v", got, want)
	}
}

// TestStoreOutcomes checks what the consumer is told for each answer of the
// store: nil (commit), Undecodable (dead-letter) or another error (roll
// back and retry). An unknown order is covered by TestConsumer, since it
// waits for the order first.
func TestStoreOutcomes(t *testing.T) {
	m := inbox.Message{
		EventID: uuid.New(), Type: paymentsv1.EventPaymentSucceeded, Key: "u1",
		Value: []byte(`{"orderId":"` + uuid.NewString() + `","userId":"u1","amount":"5","currency":"RUB"}`),
	}
	transient := errors.New("connection reset")
	tests := []struct {
		name            string
		store           recordingStore
		wantErr         error
		wantUndecodable bool
	}{
		{name: "Applied", store: recordingStore{outcome: orders.Applied}},
		{name: "AlreadyTerminalIgnored", store: recordingStore{outcome: orders.AlreadyTerminal}},
		{name: "InvalidDeadLettered", store: recordingStore{err: fault.Errorf(fault.Invalid, "bad")}, wantUndecodable: true},
		{name: "DatabaseErrorRetried", store: recordingStore{err: transient}, wantErr: transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := paymentevents.New(&tt.store, stacktest.Logger())
			if err != nil {
				t.Fatal(err)
			}
			err = a.Handlers().Apply(context.Background(), nil, m)
			if got := inbox.IsUndecodable(err); got != tt.wantUndecodable {
				t.Errorf("undecodable: got %v (%v), want %v", got, err, tt.wantUndecodable)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !tt.wantUndecodable && err != nil {
				t.Errorf("got error %v, want nil", err)
			}
			if len(tt.store.got) != 1 {
				t.Errorf("store calls: got %d, want 1", len(tt.store.got))
			}
		})
	}
}
