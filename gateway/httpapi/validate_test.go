package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHeaderAuthenticator(t *testing.T) {
	tests := []struct {
		name    string
		values  []string // nil: header absent
		want    string
		wantErr bool
	}{
		{name: "OK", values: []string{"alice"}, want: "alice"},
		{name: "OKAllCharacters", values: []string{"A-z_0.9"}, want: "A-z_0.9"},
		{name: "OKMaxLength", values: []string{strings.Repeat("u", 64)}, want: strings.Repeat("u", 64)},
		{name: "ErrMissing", values: nil, wantErr: true},
		{name: "ErrEmpty", values: []string{""}, wantErr: true},
		{name: "ErrTooLong", values: []string{strings.Repeat("u", 65)}, wantErr: true},
		{name: "ErrSpace", values: []string{"al ice"}, wantErr: true},
		{name: "ErrSlash", values: []string{"a/b"}, wantErr: true},
		{name: "ErrColon", values: []string{"a:b"}, wantErr: true},
		{name: "ErrNonASCII", values: []string{"алиса"}, wantErr: true},
		{name: "ErrTwice", values: []string{"alice", "bob"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/account", nil)
			for _, v := range tt.values {
				r.Header.Add(HeaderUserID, v)
			}
			id, err := HeaderAuthenticator{}.Authenticate(r)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got identity %q, want error", id.UserID())
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if id.UserID() != tt.want {
				t.Errorf("got %q, want %q", id.UserID(), tt.want)
			}
		})
	}
}

func TestIdentityContext(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if _, ok := IdentityFrom(r.Context()); ok {
		t.Fatal("identity found in a fresh context")
	}
	ctx := WithIdentity(r.Context(), userID("bob"))
	id, ok := IdentityFrom(ctx)
	if !ok || id.UserID() != "bob" {
		t.Fatalf("got %v %v, want bob", id, ok)
	}
}

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

func TestValidRequestID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f", true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"x", true},
		{strings.Repeat("r", 128), true},
		{"", false},
		{strings.Repeat("r", 129), false},
		{"has space", false},
		{"new\nline", false},
		{"ü", false},
	}
	for _, tt := range tests {
		if got := validRequestID(tt.in); got != tt.want {
			t.Errorf("validRequestID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPageLimit(t *testing.T) {
	tests := []struct {
		query   string
		want    int32
		wantErr bool
	}{
		{"", 20, false},
		{"limit=", 20, false},
		{"limit=1", 1, false},
		{"limit=100", 100, false},
		{"limit=0", 0, true},
		{"limit=101", 0, true},
		{"limit=-1", 0, true},
		{"limit=1.5", 0, true},
		{"limit=abc", 0, true},
		{"limit=99999999999", 0, true},
		{"limit=1&limit=2", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/orders?"+tt.query, nil)
			got, err := pageLimit(r)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseOrderID(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f", "0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f", false},
		{"0193E0B4-8C7A-7E2A-9A53-2F6B0C1D2E3F", "0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f", false},
		{"0193e0b48c7a7e2a9a532f6b0c1d2e3f", "", true},
		{"{0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f}", "", true},
		{"urn:uuid:0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f", "", true},
		{"0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3g", "", true},
		{"42", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := parseOrderID(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseOrderID(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
