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
		{"OKFailed", orders.PaymentResult{OrderID: id, UserID: "u1", Reason: orders.CancelReasonAccountNotFound}, true},
		{"ErrNoOrderID", orders.PaymentResult{UserID: "u1", Paid: true}, false},
		{"ErrUserID", orders.PaymentResult{OrderID: id, Paid: true}, false},
		{"ErrPaidWithReason", orders.PaymentResult{OrderID: id, UserID: "u1", Paid: true, Reason: orders.CancelReasonInsufficientFunds}, false},
		{"ErrFailedWithoutReason", orders.PaymentResult{OrderID: id, UserID: "u1"}, false},
		{"ErrFailedUnknownReason", orders.PaymentResult{OrderID: id, UserID: "u1", Reason: "BORED"}, false},
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
		{0, "outcome(0)"},
	}
	for _, tt := range tests {
		if got := tt.o.String(); got != tt.want {
			t.Errorf("ApplyOutcome(%d).String(): got %q, want %q", int(tt.o), got, tt.want)
		}
	}
}
