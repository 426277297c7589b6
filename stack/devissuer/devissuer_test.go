package devissuer

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnsureKeepsTheKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "devissuer")
	first, keyPath, jwksPath, err := Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	again, _, _, err := Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.KeyID() != first.KeyID() {
		t.Errorf("kid %q after a restart, want the same key %q", again.KeyID(), first.KeyID())
	}
	b, err := os.ReadFile(jwksPath)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0]["kid"] != first.KeyID() || set.Keys[0]["kty"] != "OKP" || set.Keys[0]["d"] != "" {
		t.Errorf("JWKS %s: want one public OKP key with kid %s", b, first.KeyID())
	}
	other, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if other.KeyID() == first.KeyID() {
		t.Error("two generated keys share a kid")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "x.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.pem"), notPEM} {
		if _, err := Load(path); err == nil {
			t.Errorf("Load(%s): no error", path)
		}
	}
}

func TestToken(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	tok, err := k.Token(Claims{Subject: "alice", TTL: time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q: want three parts", tok)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(k.priv.Public().(ed25519.PublicKey), []byte(parts[0]+"."+parts[1]), sig) {
		t.Error("signature does not verify")
	}
	var header, claims map[string]any
	for i, into := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatal(err)
		}
	}
	if header["alg"] != "EdDSA" || header["kid"] != k.KeyID() {
		t.Errorf("header %v, want alg EdDSA and kid %s", header, k.KeyID())
	}
	if claims["sub"] != "alice" || claims["iss"] != Issuer || claims["aud"] != Audience ||
		claims["exp"] != float64(now.Add(time.Minute).Unix()) || claims["nbf"] != float64(now.Unix()) {
		t.Errorf("claims %v", claims)
	}
	for _, bad := range []string{"", "al ice", strings.Repeat("a", 65)} {
		if _, err := k.Token(Claims{Subject: bad}); err == nil {
			t.Errorf("token for subject %q: no error", bad)
		}
	}
}
