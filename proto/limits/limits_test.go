package limits_test

import (
	"strings"
	"testing"

	"shop/proto/limits"
	"shop/service/fault"
)

// wantInvalid checks err against a wanted outcome: nil when ok, else an
// error of kind fault.Invalid.
func wantInvalid(t *testing.T, err error, ok bool) {
	t.Helper()
	if ok {
		if err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatal("got nil error, want an invalid error")
	}
	if got := fault.KindOf(err); got != fault.Invalid {
		t.Fatalf("got kind %v (%v), want %v", got, err, fault.Invalid)
	}
}

func TestUserID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"OK", "user-1", true},
		{"OKAllClasses", "Az09._-", true},
		{"OKOneChar", "a", true},
		{"OKMaxLen", strings.Repeat("a", 64), true},
		{"ErrEmpty", "", false},
		{"ErrTooLong", strings.Repeat("a", 65), false},
		{"ErrSpace", "a b", false},
		{"ErrSlash", "a/b", false},
		{"ErrNonASCII", "юзер", false},
		{"ErrNUL", "a\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantInvalid(t, limits.UserID(tt.id), tt.ok)
		})
	}
}

func TestAmount(t *testing.T) {
	tests := []struct {
		name   string
		amount int64
		ok     bool
	}{
		{"OKMin", 1, true},
		{"OKMax", 1_000_000_000_000, true},
		{"ErrZero", 0, false},
		{"ErrNegative", -5, false},
		{"ErrAmountTooLarge", 1_000_000_000_001, false},
		{"ErrMinInt", -1 << 63, false},
		{"ErrMaxInt", 1<<63 - 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantInvalid(t, limits.Amount(tt.amount), tt.ok)
		})
	}
}

func TestIdempotencyKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{"OK", "key-1", true},
		{"OKSpaceAndTilde", " ~", true},
		{"OKMaxLen", strings.Repeat("k", 255), true},
		{"ErrEmpty", "", false},
		{"ErrTooLong", strings.Repeat("k", 256), false},
		{"ErrControl", "a\tb", false},
		{"ErrDEL", "a\x7f", false},
		{"ErrNonASCII", "ключ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantInvalid(t, limits.IdempotencyKey(tt.key), tt.ok)
		})
	}
}
