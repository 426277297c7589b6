package orders_test

import (
	"testing"

	"github.com/google/uuid"

	"shop/orders"
)

func TestPaymentResultValidate(t *testing.T) {
	id := uuid.MustParse("0190f0a4-8f1e-7c3a-9b2d-1e2f3a4b5c6d")
	tests := []struct {
		name string
		r    orders.PaymentResult
		ok   bool
	}{
		{"OKPaid", orders.PaymentResult{OrderID: id, UserID: "u1", Amount: 5, Paid: true}, true},
		{"OKFailed", orders.PaymentResult{OrderID: id, UserID: "u1", Amount: 5, Reason: orders.CancelReasonAccountNotFound}, true},
		{"OKMaxAmount", orders.PaymentResult{OrderID: id, UserID: "u1", Amount: 1_000_000_000_000, Paid: true}, true},
		{"ErrNoOrderID", orders.PaymentResult{UserID: "u1", Amount: 5, Paid: true}, false},
		{"ErrUserID", orders.PaymentResult{OrderID: id, Amount: 5, Paid: true}, false},
		{"ErrUserIDFormat", orders.PaymentResult{OrderID: id, UserID: "a b", Amount: 5, Paid: true}, false},
		{"ErrZeroAmount", orders.PaymentResult{OrderID: id, UserID: "u1", Paid: true}, false},
		{"ErrNegativeAmount", orders.PaymentResult{OrderID: id, UserID: "u1", Amount: -5, Paid: true}, false},
		{"ErrAmountTooLarge", orders.PaymentResult{OrderID: id, UserID: "u1", Amount: 1_000_000_000_001, Paid: true}, false},
		{"ErrPaidWithReason", orders.PaymentResult{OrderID: id, UserID: "u1", Amount: 5, Paid: true, Reason: orders.CancelReasonInsufficientFunds}, false},
		{"ErrFailedWithoutReason", orders.PaymentResult{OrderID: id, UserID: "u1", Amount: 5}, false},
		{"ErrFailedUnknownReason", orders.PaymentResult{OrderID: id, UserID: "u1", Amount: 5, Reason: "BORED"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantInvalid(t, tt.r.Validate(), tt.ok)
		})
	}
}

func TestApplyOutcomeString(t *testing.T) {
	tests := []struct {
		o    orders.ApplyOutcome
		want string
	}{
		{orders.Applied, "applied"},
		{orders.AlreadyTerminal, "already terminal"},
		{orders.UnknownOrder, "unknown order"},
		{orders.OtherUsersOrder, "another user's order"},
		{orders.AmountMismatch, "amount differs from the order's"},
		{0, "outcome(0)"},
	}
	for _, tt := range tests {
		if got := tt.o.String(); got != tt.want {
			t.Errorf("ApplyOutcome(%d).String(): got %q, want %q", int(tt.o), got, tt.want)
		}
	}
}

func TestApplyOutcomeMismatch(t *testing.T) {
	tests := []struct {
		o    orders.ApplyOutcome
		want bool
	}{
		{orders.Applied, false},
		{orders.AlreadyTerminal, false},
		{orders.UnknownOrder, false},
		{orders.OtherUsersOrder, true},
		{orders.AmountMismatch, true},
	}
	for _, tt := range tests {
		t.Run(tt.o.String(), func(t *testing.T) {
			if got := tt.o.Mismatch(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
