package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
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

func TestAuthentication(t *testing.T) {
	env := newTestEnv(t, time.Second)
	routes := []req{
		{method: "POST", path: "/api/v1/account"},
		{method: "GET", path: "/api/v1/account"},
		{method: "POST", path: "/api/v1/account/top-up", body: `{"amount":1}`},
		{method: "POST", path: "/api/v1/orders", body: `{"amount":1}`},
		{method: "GET", path: "/api/v1/orders"},
		{method: "GET", path: "/api/v1/orders/" + uuid.NewString()},
	}
	users := map[string]string{
		"Missing":  "",
		"Empty":    " ",
		"TooLong":  strings.Repeat("a", 65),
		"BadChars": "alice;drop",
		"Unicode":  "алиса",
	}
	for _, r := range routes {
		for name, user := range users {
			t.Run(r.method+r.path+"/"+name, func(t *testing.T) {
				r := r
				r.headers = map[string]string{}
				if user != "" {
					r.headers[HeaderUserID] = user
				}
				wantError(t, env.do(t, r), 401, CodeUnauthenticated)
			})
		}
	}
	for _, m := range []string{"CreateAccount", "GetAccount", "TopUp"} {
		if n := env.payments.count(m); n != 0 {
			t.Errorf("payments %s called %d times by unauthenticated requests", m, n)
		}
	}
	for _, m := range []string{"CreateOrder", "GetOrder", "ListOrders"} {
		if n := env.orders.count(m); n != 0 {
			t.Errorf("orders %s called %d times by unauthenticated requests", m, n)
		}
	}
}
