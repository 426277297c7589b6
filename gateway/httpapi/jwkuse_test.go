package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Only keys meant for signatures verify a token: "use" absent or "sig",
// "key_ops" absent or with "verify"; from a file and from a URL, with a
// kid and without one.
func TestJWKSSignatureKeysOnly(t *testing.T) {
	k := keysOnce()
	with := func(kid string, extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range jwk(kid, k.ed) {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		key  map[string]any
		ok   bool
	}{
		{"OKNoUse", with("ed", nil), true},
		{"OKUseSig", with("ed", map[string]any{"use": "sig"}), true},
		{"OKKeyOpsVerify", with("ed", map[string]any{"key_ops": []string{"verify"}}), true},
		{"ErrUseEnc", with("ed", map[string]any{"use": "enc"}), false},
		{"ErrKeyOpsEncrypt", with("ed", map[string]any{"key_ops": []string{"encrypt"}}), false},
		{"ErrKeyOpsSignOnly", with("ed", map[string]any{"key_ops": []string{"sign"}}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := json.Marshal(map[string]any{"keys": []any{tt.key}})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "jwks.json")
			if err := os.WriteFile(path, body, 0o600); err != nil {
				t.Fatal(err)
			}
			fromFile, err := JWKSFromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
			t.Cleanup(srv.Close)
			fromURL, err := jwksFromURL(t.Context(), srv.URL, discardLogger(), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			for source, ks := range map[string]KeySet{"file": fromFile, "url": fromURL} {
				auth, err := NewJWTAuthenticator(JWTConfig{Keys: ks, Issuer: testIssuer, Audience: testAudience})
				if err != nil {
					t.Fatal(err)
				}
				for _, kid := range []string{"ed", ""} {
					_, err := auth.Authenticate(bearerRequest(sign(t, jwt.SigningMethodEdDSA, kid, k.ed, claims(nil))))
					if (err == nil) != tt.ok {
						t.Errorf("%s, kid %q: Authenticate = %v, want ok %v", source, kid, err, tt.ok)
					}
				}
			}
		})
	}
}
