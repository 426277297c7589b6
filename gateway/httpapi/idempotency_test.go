package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIdempotencyKey(t *testing.T) {
	tests := []struct {
		name    string
		values  []string
		want    string
		wantErr bool
	}{
		{name: "Absent", values: nil, want: ""},
		{name: "OK", values: []string{"order-1"}, want: "order-1"},
		{name: "OKPrintableWithInnerSpace", values: []string{"a b~!{}"}, want: "a b~!{}"},
		{name: "OKMaxLength", values: []string{strings.Repeat("k", 255)}, want: strings.Repeat("k", 255)},
		{name: "ErrEmpty", values: []string{""}, wantErr: true},
		{name: "ErrTooLong", values: []string{strings.Repeat("k", 256)}, wantErr: true},
		{name: "ErrControl", values: []string{"a\tb"}, wantErr: true},
		{name: "ErrNonASCII", values: []string{"ключ"}, wantErr: true},
		{name: "ErrDEL", values: []string{"a\x7fb"}, wantErr: true},
		{name: "ErrTwice", values: []string{"a", "b"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/v1/orders", nil)
			for _, v := range tt.values {
				r.Header.Add(HeaderIdempotencyKey, v)
			}
			got, err := idempotencyKey(r)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %q, want error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
