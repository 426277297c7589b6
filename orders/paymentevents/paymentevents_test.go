package paymentevents_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"shop/cdc/inbox"
	"shop/orders"
	"shop/orders/paymentevents"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service/fault"
	"shop/stack/stacktest"
)

// recordingStore records the payment results it is asked to apply and
// park, and answers with outcome and err; its parked results are swept in
// batches of the given sizes. The store itself is tested against Postgres
// in package postgres.
type recordingStore struct {
	outcome orders.ApplyOutcome
	err     error
	got     []orders.PaymentResult
	parked  []orders.PaymentResult
	sweeps  []int // sizes of the batches ApplyParkedPayments returns, in turn
	limits  []int // the limits it was called with
}

func (s *recordingStore) QueueParkPayment(_ *inbox.Queue, r orders.PaymentResult, m inbox.Message) {
	if r.EventID != m.EventID {
		panic("parked result and message differ")
	}
	s.parked = append(s.parked, r)
}

func (s *recordingStore) ApplyParkedPayments(_ context.Context, limit int) ([]orders.ParkedPayment, error) {
	s.limits = append(s.limits, limit)
	if len(s.sweeps) == 0 {
		return nil, s.err
	}
	n := s.sweeps[0]
	s.sweeps = s.sweeps[1:]
	return make([]orders.ParkedPayment, n), nil
}

// QueueApplyPayment records r and passes the store's outcome and err to
// done at once, queueing nothing.
func (s *recordingStore) QueueApplyPayment(_ *inbox.Queue, r orders.PaymentResult, done func(orders.ApplyOutcome, error) error) error {
	s.got = append(s.got, r)
	if s.outcome == 0 && s.err == nil {
		return done(orders.Applied, nil)
	}
	return done(s.outcome, s.err)
}

func TestNewRequiresDependencies(t *testing.T) {
	if _, err := paymentevents.New(nil, stacktest.Logger()); err == nil {
		t.Error("New(nil store): got nil error, want one")
	}
	if _, err := paymentevents.New(&recordingStore{}, nil); err == nil {
		t.Error("New(nil logger): got nil error, want one")
	}
}

func TestEffectsTable(t *testing.T) {
	a, err := paymentevents.New(&recordingStore{}, stacktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for typ := range a.Effects() {
		got = append(got, typ)
	}
	slices.Sort(got)
	want := []string{paymentsv1.EventPaymentFailed, paymentsv1.EventPaymentSucceeded}
	if !slices.Equal(got, want) {
		t.Errorf("event types: got %v, want %v", got, want)
	}
}

// TestStoreOutcomes checks what the consumer is told for each answer of the
// store: nil (commit; an unknown order's result parked), Undecodable
// (dead-letter) or another error (roll back and retry).
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
		wantParked      int
	}{
		{name: "Applied", store: recordingStore{outcome: orders.Applied}},
		{name: "AlreadyTerminalIgnored", store: recordingStore{outcome: orders.AlreadyTerminal}},
		{name: "UnknownOrderParked", store: recordingStore{outcome: orders.UnknownOrder}, wantParked: 1},
		{name: "OtherUsersOrderDeadLettered", store: recordingStore{outcome: orders.OtherUsersOrder}, wantUndecodable: true},
		{name: "AmountMismatchDeadLettered", store: recordingStore{outcome: orders.AmountMismatch}, wantUndecodable: true},
		{name: "InvalidDeadLettered", store: recordingStore{err: fault.Errorf(fault.Invalid, "bad")}, wantUndecodable: true},
		{name: "DatabaseErrorRetried", store: recordingStore{err: transient}, wantErr: transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := paymentevents.New(&tt.store, stacktest.Logger())
			if err != nil {
				t.Fatal(err)
			}
			err = a.Effects().Apply(context.Background(), nil, m)
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
			if len(tt.store.parked) != tt.wantParked {
				t.Errorf("parked: got %d, want %d", len(tt.store.parked), tt.wantParked)
			}
		})
	}
}

// TestSweepUntilDrained checks that Sweep asks for more while the store
// returns full batches, and stops at the first short one or an error.
func TestSweepUntilDrained(t *testing.T) {
	transient := errors.New("connection reset")
	tests := []struct {
		name      string
		store     recordingStore
		wantCalls int
		wantErr   error
	}{
		{name: "NothingParked", store: recordingStore{}, wantCalls: 1},
		{name: "ShortBatch", store: recordingStore{sweeps: []int{3}}, wantCalls: 1},
		{name: "FullBatchesThenShort", store: recordingStore{sweeps: []int{100, 100, 7}}, wantCalls: 3},
		{name: "FullBatchThenEmpty", store: recordingStore{sweeps: []int{100}}, wantCalls: 2},
		{name: "DatabaseError", store: recordingStore{err: transient}, wantCalls: 1, wantErr: transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := paymentevents.New(&tt.store, stacktest.Logger())
			if err != nil {
				t.Fatal(err)
			}
			err = a.Sweep(context.Background())
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Sweep() = %v, want %v", err, tt.wantErr)
			}
			if len(tt.store.limits) != tt.wantCalls {
				t.Errorf("store sweeps: got %d, want %d", len(tt.store.limits), tt.wantCalls)
			}
			for _, l := range tt.store.limits {
				if l != 100 {
					t.Errorf("sweep limit %d, want 100", l)
				}
			}
		})
	}
}
