package payments

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestValidateUserID(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		wantErr bool
	}{
		{name: "OK", id: "alice"},
		{name: "OKAllClasses", id: "A-z_0.9"},
		{name: "OKMaxLen", id: strings.Repeat("a", 64)},
		{name: "OKOneChar", id: "x"},
		{name: "ErrEmpty", id: "", wantErr: true},
		{name: "ErrTooLong", id: strings.Repeat("a", 65), wantErr: true},
		{name: "ErrSpace", id: "al ice", wantErr: true},
		{name: "ErrSlash", id: "a/b", wantErr: true},
		{name: "ErrNonASCII", id: "алиса", wantErr: true},
		{name: "ErrNUL", id: "a\x00", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateUserID(tt.id)
			checkInvalid(t, err, tt.wantErr)
		})
	}
}

func TestValidateAmount(t *testing.T) {
	tests := []struct {
		name    string
		amount  int64
		wantErr bool
	}{
		{name: "OKMin", amount: 1},
		{name: "OKMax", amount: 1_000_000_000_000},
		{name: "ErrZero", amount: 0, wantErr: true},
		{name: "ErrNegative", amount: -5, wantErr: true},
		{name: "ErrTooLarge", amount: 1_000_000_000_001, wantErr: true},
		{name: "ErrMinInt", amount: -1 << 63, wantErr: true},
		{name: "ErrMaxInt", amount: 1<<63 - 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkInvalid(t, ValidateAmount(tt.amount), tt.wantErr)
		})
	}
}

func TestValidateIdempotencyKey(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		wantErr bool
	}{
		{name: "OK", key: "abc-123"},
		{name: "OKPrintableRange", key: " ~!\"#"},
		{name: "OKMaxLen", key: strings.Repeat("k", 255)},
		{name: "ErrEmpty", key: "", wantErr: true},
		{name: "ErrTooLong", key: strings.Repeat("k", 256), wantErr: true},
		{name: "ErrTab", key: "a\tb", wantErr: true},
		{name: "ErrDEL", key: "a\x7f", wantErr: true},
		{name: "ErrNonASCII", key: "ключ", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkInvalid(t, ValidateIdempotencyKey(tt.key), tt.wantErr)
		})
	}
}

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
		{name: "ErrAmountTooLarge", mutate: func(o *OrderCreated) { o.Amount = MaxAmount + 1 }, wantErr: true},
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
		if k := ErrorKind(err); k != KindInvalid {
			t.Errorf("kind = %v, want %v", k, KindInvalid)
		}
		if r := ErrorReason(err); r != ReasonInvalidArgument {
			t.Errorf("reason = %q, want %q", r, ReasonInvalidArgument)
		}
	}
}
