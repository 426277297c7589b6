package payments

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"shop/proto/limits"
	"shop/service/fault"
)

func TestOrderCreatedValidate(t *testing.T) {
	ok := OrderCreated{OrderID: uuid.New(), UserID: "alice", Amount: 100, Currency: "RUB", CreatedAt: time.Now()}
	tests := []struct {
		name    string
		mutate  func(*OrderCreated)
		wantErr bool
	}{
		{name: "OK", mutate: func(*OrderCreated) {}},
		{name: "OKNoCreatedAt", mutate: func(o *OrderCreated) { o.CreatedAt = time.Time{} }},
		{name: "ErrNilOrderID", mutate: func(o *OrderCreated) { o.OrderID = uuid.Nil }, wantErr: true},
		{name: "ErrBadUser", mutate: func(o *OrderCreated) { o.UserID = "" }, wantErr: true},
		{name: "ErrZeroAmount", mutate: func(o *OrderCreated) { o.Amount = 0 }, wantErr: true},
		{name: "ErrAmountTooLarge", mutate: func(o *OrderCreated) { o.Amount = limits.MaxAmount + 1 }, wantErr: true},
		{name: "ErrCurrency", mutate: func(o *OrderCreated) { o.Currency = "USD" }, wantErr: true},
		{name: "ErrNoCurrency", mutate: func(o *OrderCreated) { o.Currency = "" }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.mutate(&o)
			checkInvalid(t, o.Validate(), tt.wantErr)
		})
	}
}

func checkInvalid(t *testing.T, err error, wantErr bool) {
	t.Helper()
	if gotErr := err != nil; gotErr != wantErr {
		t.Fatalf("error = %v, want error %t", err, wantErr)
	}
	if err != nil {
		if k := fault.KindOf(err); k != fault.Invalid {
			t.Errorf("kind = %v, want %v", k, fault.Invalid)
		}
		if r := fault.ReasonOf(err); r != fault.ReasonInvalidArgument {
			t.Errorf("reason = %q, want %q", r, fault.ReasonInvalidArgument)
		}
	}
}
