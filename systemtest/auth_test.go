package systemtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"shop/gateway/httpapi"
	"shop/stack/devissuer"
	"shop/stack/stacktest"
	"shop/systemtest/system"
)

// In jwt mode the whole system serves the caller of a verified bearer
// token, and only them: X-User-ID is ignored, a token of another key is
// refused, another user's token does not see the order.
func TestJWTIdentity(t *testing.T) {
	// alice's order is polled through the gateway every 20 ms: faster than
	// a shopper, so no rate limit.
	s := startShop(t, system.Options{JWT: true, RateLimit: system.NoRateLimit})
	alice, bob := s.Token(t, "alice"), s.Token(t, "bob")
	stranger, err := devissuer.Generate()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := stranger.Token(devissuer.Claims{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}

	do := func(method, path, token, body string, headers ...string) (int, http.Header, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, b
	}

	for _, tt := range []struct {
		name, token, challenge string
		headers                []string
	}{
		{name: "NoToken", challenge: "Bearer"},
		{name: "HeaderIgnored", headers: []string{httpapi.HeaderUserID, "alice"}, challenge: "Bearer"},
		{name: "Forged", token: forged, challenge: `Bearer error="invalid_token"`},
	} {
		code, h, b := do("POST", "/api/v1/account", tt.token, "", tt.headers...)
		if code != http.StatusUnauthorized || h.Get("WWW-Authenticate") != tt.challenge || !strings.Contains(string(b), httpapi.CodeUnauthenticated) {
			t.Errorf("%s: %d %q %s, want 401 with challenge %q", tt.name, code, h.Get("WWW-Authenticate"), b, tt.challenge)
		}
	}

	if code, _, b := do("POST", "/api/v1/account", alice, "", httpapi.HeaderUserID, "mallory"); code != http.StatusCreated || !strings.Contains(string(b), `"user_id":"alice"`) {
		t.Fatalf("create account with alice's token: %d %s, want 201 for alice", code, b)
	}
	if code, _, b := do("POST", "/api/v1/account/top-up", alice, `{"amount":10000}`); code != http.StatusOK {
		t.Fatalf("top-up: %d %s", code, b)
	}
	code, _, b := do("POST", "/api/v1/orders", alice, `{"amount":2500,"description":"sunscreen"}`)
	if code != http.StatusCreated {
		t.Fatalf("create order: %d %s", code, b)
	}
	var order httpapi.Order
	if err := json.Unmarshal(b, &order); err != nil {
		t.Fatal(err)
	}
	stacktest.WaitFor(t, settleTimeout, "order "+order.ID+" PAID", func() bool {
		code, _, b := do("GET", "/api/v1/orders/"+order.ID, alice, "")
		return code == http.StatusOK && strings.Contains(string(b), `"status":"PAID"`)
	})
	if code, _, b := do("GET", "/api/v1/orders/"+order.ID, bob, ""); code != http.StatusNotFound {
		t.Errorf("bob reads alice's order: %d %s, want 404", code, b)
	}
	if code, _, b := do("GET", "/api/v1/account", alice, ""); code != http.StatusOK || !strings.Contains(string(b), `"balance":7500`) {
		t.Errorf("alice's account: %d %s, want balance 7500", code, b)
	}
}
