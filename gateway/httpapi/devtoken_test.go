package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"shop/stack/devissuer"
)

func TestDevTokenAbsentByDefault(t *testing.T) {
	env := newTestEnv(t, time.Second)
	rec := env.do(t, req{method: "POST", path: "/dev/token", body: `{"user_id":"alice"}`})
	wantError(t, rec, http.StatusNotFound, CodeNotFound)
}

func TestDevToken(t *testing.T) {
	key, _, jwksPath, err := devissuer.Ensure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ks, err := JWKSFromFile(jwksPath)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := NewJWTAuthenticator(JWTConfig{Keys: ks, Issuer: "dev-iss", Audience: "dev-aud"})
	if err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t, time.Second, func(o *Options) {
		o.Authenticator = auth
		o.DevTokens = &DevTokens{Key: key, Issuer: "dev-iss", Audience: "dev-aud", TTL: 10 * time.Minute}
	})

	for _, tt := range []struct{ name, body string }{
		{"ErrBadUserID", `{"user_id":"al ice"}`},
		{"ErrEmptyUserID", `{"user_id":""}`},
		{"ErrUnknownField", `{"user_id":"alice","admin":true}`},
		{"ErrNotJSON", `alice`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, env.do(t, req{method: "POST", path: "/dev/token", body: tt.body}), http.StatusBadRequest, CodeInvalidArgument)
		})
	}

	rec := env.do(t, req{method: "POST", path: "/dev/token", body: `{"user_id":"alice"}`})
	if rec.Code != http.StatusOK {
		t.Fatalf("POST /dev/token = %d, want 200; body %s", rec.Code, rec.Body)
	}
	var resp DevTokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.TokenType != "Bearer" || resp.ExpiresIn != 600 || strings.Count(resp.AccessToken, ".") != 2 {
		t.Fatalf("response %+v, want a Bearer JWT for 600 s", resp)
	}
	rec = env.do(t, req{method: "GET", path: "/api/v1/orders", headers: map[string]string{"Authorization": "Bearer " + resp.AccessToken}})
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/orders with the development token = %d, want 200; body %s", rec.Code, rec.Body)
	}
}
