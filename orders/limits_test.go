package orders_test

import (
	"strings"
	"testing"

	"shop/orders"
)

func TestCheckDescription(t *testing.T) {
	tests := []struct {
		name string
		d    string
		ok   bool
	}{
		{"OKEmpty", "", true},
		{"OKMaxASCII", strings.Repeat("a", 1000), true},
		{"OKMaxRunes", strings.Repeat("я", 1000), true}, // 2000 bytes, 1000 runes
		{"ErrTooLong", strings.Repeat("a", 1001), false},
		{"ErrTooManyRunes", strings.Repeat("я", 1001), false},
		{"ErrInvalidUTF8", "ok\xff", false},
		{"ErrNUL", "a\x00b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantInvalid(t, orders.CheckDescription(tt.d), tt.ok)
		})
	}
}

func TestListLimit(t *testing.T) {
	tests := []struct {
		name  string
		limit int32
		want  int
		ok    bool
	}{
		{"OKDefault", 0, 20, true},
		{"OKMin", 1, 1, true},
		{"OKMax", 100, 100, true},
		{"ErrNegative", -1, 0, false},
		{"ErrTooLarge", 101, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := orders.ListLimit(tt.limit)
			wantInvalid(t, err, tt.ok)
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}
