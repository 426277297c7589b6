package orders_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"shop/orders"
)

func TestErrorAccessors(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	tests := []struct {
		name        string
		err         error
		wantKind    orders.Kind
		wantReason  string
		wantMessage string
		wantCause   bool
	}{
		{"Invalid", orders.Errorf(orders.KindInvalid, "amount must be between %d and %d", 1, 2), orders.KindInvalid, "", "amount must be between 1 and 2", false},
		{"WithReason", orders.Errorf(orders.KindFailedPrecondition, "key reused").WithReason(orders.ReasonIdempotencyKeyReused), orders.KindFailedPrecondition, orders.ReasonIdempotencyKeyReused, "key reused", false},
		{"Wrapped", fmt.Errorf("create order: %w", orders.Errorf(orders.KindNotFound, "order not found")), orders.KindNotFound, "", "order not found", false},
		{"InternalHidesDetails", orders.Errorf(orders.KindInternal, "insert order: %w", cause), orders.KindInternal, "", "internal error", true},
		{"PlainErrorIsInternal", fmt.Errorf("query: %w", cause), orders.KindInternal, "", "internal error", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := orders.KindOf(tt.err); got != tt.wantKind {
				t.Errorf("KindOf: got %v, want %v", got, tt.wantKind)
			}
			if got := orders.ReasonOf(tt.err); got != tt.wantReason {
				t.Errorf("ReasonOf: got %q, want %q", got, tt.wantReason)
			}
			if got := orders.MessageOf(tt.err); got != tt.wantMessage {
				t.Errorf("MessageOf: got %q, want %q", got, tt.wantMessage)
			}
			if got := errors.Is(tt.err, cause); got != tt.wantCause {
				t.Errorf("errors.Is(cause): got %v, want %v", got, tt.wantCause)
			}
		})
	}
}
