package httpapi

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"shop/stack/devissuer"
)

const (
	testIssuer   = "https://issuer.test"
	testAudience = "shop-test"
)

// testKeys are the signing keys of the tests, each with its public JWK.
type testKeys struct {
	rsa      *rsa.PrivateKey
	ec       *ecdsa.PrivateKey
	ed       ed25519.PrivateKey
	stranger ed25519.PrivateKey // not in any JWKS
}

var keysOnce = sync.OnceValue(func() *testKeys {
	k := &testKeys{}
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	if _, k.stranger, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwk returns the public JWK of key (an RSA, EC P-256 or Ed25519 private
// key) with kid.
func jwk(kid string, key any) map[string]string {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return map[string]string{"kty": "RSA", "kid": kid, "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PrivateKey:
		pub, err := k.PublicKey.ECDH()
		if err != nil {
			panic(err)
		}
		raw := pub.Bytes() // 0x04 || X || Y
		return map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(raw[1:33]), "y": b64(raw[33:])}
	case ed25519.PrivateKey:
		return map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(k.Public().(ed25519.PublicKey))}
	}
	panic("unknown key type")
}

func jwksJSON(t *testing.T, keys ...map[string]string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fileKeys writes the JWKS of the test keys (kids "rsa", "ec", "ed") to a
// file and returns its KeySet.
func fileKeys(t *testing.T) KeySet {
	t.Helper()
	k := keysOnce()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwksJSON(t, jwk("rsa", k.rsa), jwk("ec", k.ec), jwk("ed", k.ed)), 0o600); err != nil {
		t.Fatal(err)
	}
	ks, err := JWKSFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// claims are valid claims for user alice, changed by edit.
func claims(edit func(c jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub": "alice", "iss": testIssuer, "aud": testAudience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func sign(t *testing.T, method jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

func bearerRequest(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/account", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func TestJWTAuthenticator(t *testing.T) {
	k := keysOnce()
	secret := []byte(strings.Repeat("k", 32))
	auth, err := NewJWTAuthenticator(JWTConfig{Keys: fileKeys(t), HS256Secret: secret, Issuer: testIssuer, Audience: testAudience, Leeway: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	noSecret, err := NewJWTAuthenticator(JWTConfig{Keys: fileKeys(t), Issuer: testIssuer, Audience: testAudience, Leeway: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bounded, err := NewJWTAuthenticator(JWTConfig{Keys: fileKeys(t), Issuer: testIssuer, Audience: testAudience, Leeway: 30 * time.Second, MaxLifetime: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	lifetime := func(iat, exp time.Duration) string { // from now; iat < 0: none
		return "Bearer " + sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(func(c jwt.MapClaims) {
			now := time.Now()
			delete(c, "iat")
			if iat >= 0 {
				c["iat"] = now.Add(-iat).Unix()
			}
			c["exp"] = now.Add(exp).Unix()
		}))
	}
	rsaPub, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
	none := sign(t, jwt.SigningMethodNone, "ed", jwt.UnsafeAllowNoneSignatureType, claims(nil))
	edToken := sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(nil))
	parts := strings.Split(edToken, ".")

	tests := []struct {
		name      string
		auth      *JWTAuthenticator // nil: auth
		header    []string          // Authorization values
		want      string            // user id; "" wants a 401
		challenge string
	}{
		{name: "OKEdDSA", header: []string{"Bearer " + edToken}, want: "alice"},
		{name: "OKRS256", header: []string{"Bearer " + sign(t, jwt.SigningMethodRS256, "rsa", k.rsa, claims(nil))}, want: "alice"},
		{name: "OKES256", header: []string{"Bearer " + sign(t, jwt.SigningMethodES256, "ec", k.ec, claims(nil))}, want: "alice"},
		{name: "OKHS256WithSecret", header: []string{"Bearer " + sign(t, jwt.SigningMethodHS256, "", secret, claims(nil))}, want: "alice"},
		{name: "OKNoKid", header: []string{"Bearer " + sign(t, jwt.SigningMethodEdDSA, "", k.ed, claims(nil))}, want: "alice"},
		{name: "OKSchemeCase", header: []string{"bearer " + edToken}, want: "alice"},
		{name: "OKExpiredWithinLeeway", header: []string{"Bearer " + sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-10 * time.Second).Unix()
		}))}, want: "alice"},
		{name: "OKLifetimeAtMax", auth: bounded, header: []string{lifetime(time.Hour, 23*time.Hour)}, want: "alice"},
		{name: "OKNoIatWithinMax", auth: bounded, header: []string{lifetime(-1, 23*time.Hour)}, want: "alice"},
		{name: "OKLongLifetimeUnbounded", header: []string{lifetime(time.Hour, 30*24*time.Hour)}, want: "alice"},
		{name: "ErrLifetimeOverMax", auth: bounded, header: []string{lifetime(time.Hour, 23*time.Hour+time.Minute)}, challenge: challengeInvalidToken},
		{name: "ErrLifetimeYear", auth: bounded, header: []string{lifetime(0, 365*24*time.Hour)}, challenge: challengeInvalidToken},
		{name: "ErrNoIatBeyondMax", auth: bounded, header: []string{lifetime(-1, 25*time.Hour)}, challenge: challengeInvalidToken},
		{name: "ErrMissing", header: nil, challenge: challengeBearer},
		{name: "ErrBasic", header: []string{"Basic YWxpY2U6eA=="}, challenge: challengeBearer},
		{name: "ErrEmptyBearer", header: []string{"Bearer "}, challenge: challengeBearer},
		{name: "ErrTwice", header: []string{"Bearer " + edToken, "Bearer " + edToken}, challenge: challengeInvalidReq},
		{name: "ErrMalformed", header: []string{"Bearer not.a.jwt"}, challenge: challengeInvalidToken},
		{name: "ErrForgedSignature", header: []string{"Bearer " + sign(t, jwt.SigningMethodEdDSA, "ed", k.stranger, claims(nil))}, challenge: challengeInvalidToken},
		{name: "ErrTamperedClaims", header: []string{"Bearer " + parts[0] + "." + b64([]byte(`{"sub":"bob","iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":9999999999}`)) + "." + parts[2]}, challenge: challengeInvalidToken},
		{name: "ErrExpired", header: []string{"Bearer " + sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(func(c jwt.MapClaims) {
			c["exp"] = time.Now().Add(-time.Minute).Unix()
		}))}, challenge: challengeInvalidToken},
		{name: "ErrNoExp", header: []string{"Bearer " + sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(func(c jwt.MapClaims) { delete(c, "exp") }))}, challenge: challengeInvalidToken},
		{name: "ErrNotYetValid", header: []string{"Bearer " + sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(func(c jwt.MapClaims) {
			c["nbf"] = time.Now().Add(5 * time.Minute).Unix()
		}))}, challenge: challengeInvalidToken},
		{name: "ErrWrongAudience", header: []string{"Bearer " + sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(func(c jwt.MapClaims) { c["aud"] = "other" }))}, challenge: challengeInvalidToken},
		{name: "ErrNoAudience", header: []string{"Bearer " + sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(func(c jwt.MapClaims) { delete(c, "aud") }))}, challenge: challengeInvalidToken},
		{name: "ErrWrongIssuer", header: []string{"Bearer " + sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }))}, challenge: challengeInvalidToken},
		{name: "ErrAlgNone", header: []string{"Bearer " + none}, challenge: challengeInvalidToken},
		{name: "ErrAlgNoneNoSecret", auth: noSecret, header: []string{"Bearer " + none}, challenge: challengeInvalidToken},
		// Key confusion: an HMAC "signed" with the issuer's public key,
		// which anyone has, must never verify.
		{name: "ErrHS256WithPublicKey", auth: noSecret, header: []string{"Bearer " + sign(t, jwt.SigningMethodHS256, "rsa", rsaPubPEM, claims(nil))}, challenge: challengeInvalidToken},
		{name: "ErrHS256WithPublicKeyDER", auth: noSecret, header: []string{"Bearer " + sign(t, jwt.SigningMethodHS256, "rsa", rsaPub, claims(nil))}, challenge: challengeInvalidToken},
		{name: "ErrHS256WithPublicKeySecretSet", header: []string{"Bearer " + sign(t, jwt.SigningMethodHS256, "ed", []byte(k.ed.Public().(ed25519.PublicKey)), claims(nil))}, challenge: challengeInvalidToken},
		{name: "ErrHS256WithoutSecret", auth: noSecret, header: []string{"Bearer " + sign(t, jwt.SigningMethodHS256, "", secret, claims(nil))}, challenge: challengeInvalidToken},
		// A kid of one key type with another's algorithm.
		{name: "ErrRS256KidOfEd", header: []string{"Bearer " + sign(t, jwt.SigningMethodRS256, "ed", k.rsa, claims(nil))}, challenge: challengeInvalidToken},
		{name: "ErrAlgNotAllowed", header: []string{"Bearer " + sign(t, jwt.SigningMethodRS512, "rsa", k.rsa, claims(nil))}, challenge: challengeInvalidToken},
		{name: "ErrUnknownKid", header: []string{"Bearer " + sign(t, jwt.SigningMethodEdDSA, "nobody", k.stranger, claims(nil))}, challenge: challengeInvalidToken},
		{name: "ErrNoSubject", header: []string{"Bearer " + sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(func(c jwt.MapClaims) { delete(c, "sub") }))}, challenge: challengeInvalidToken},
		{name: "ErrBadSubject", header: []string{"Bearer " + sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(func(c jwt.MapClaims) { c["sub"] = "al ice" }))}, challenge: challengeInvalidToken},
		{name: "ErrLongSubject", header: []string{"Bearer " + sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(func(c jwt.MapClaims) { c["sub"] = strings.Repeat("a", 65) }))}, challenge: challengeInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.auth
			if a == nil {
				a = auth
			}
			r := httptest.NewRequest(http.MethodGet, "/api/v1/account", nil)
			for _, v := range tt.header {
				r.Header.Add("Authorization", v)
			}
			r.Header.Set(HeaderUserID, "mallory") // ignored in jwt mode
			id, err := a.Authenticate(r)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if id.UserID() != tt.want {
					t.Errorf("user %q, want %q", id.UserID(), tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got user %q, want 401", id.UserID())
			}
			ce, ok := err.(*ChallengeError)
			if !ok {
				t.Fatalf("error %T %v, want *ChallengeError", err, err)
			}
			if ce.Challenge != tt.challenge {
				t.Errorf("challenge %q, want %q (message %q)", ce.Challenge, tt.challenge, ce.Message)
			}
		})
	}
}

func TestNewJWTAuthenticatorErrors(t *testing.T) {
	ks := fileKeys(t)
	tests := []struct {
		name string
		cfg  JWTConfig
	}{
		{"ErrNoKeys", JWTConfig{Issuer: "i", Audience: "a"}},
		{"ErrShortSecret", JWTConfig{HS256Secret: []byte("short"), Issuer: "i", Audience: "a"}},
		{"ErrNoIssuer", JWTConfig{Keys: ks, Audience: "a"}},
		{"ErrNoAudience", JWTConfig{Keys: ks, Issuer: "i"}},
		{"ErrNegativeLeeway", JWTConfig{Keys: ks, Issuer: "i", Audience: "a", Leeway: -time.Second}},
		{"ErrNegativeMaxLifetime", JWTConfig{Keys: ks, Issuer: "i", Audience: "a", MaxLifetime: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewJWTAuthenticator(tt.cfg); err == nil {
				t.Error("no error")
			}
		})
	}
}

// The keys of a JWKS URL are fetched at start, and again when a token
// names an unknown kid (a key rotation), at most once per interval.
func TestJWKSFromURLRefreshesOnUnknownKid(t *testing.T) {
	k := keysOnce()
	var fetches atomic.Int32
	var served atomic.Value
	served.Store(jwksJSON(t, jwk("ed", k.ed)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(served.Load().([]byte))
	}))
	t.Cleanup(srv.Close)

	ks, err := jwksFromURL(t.Context(), srv.URL, discardLogger(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := NewJWTAuthenticator(JWTConfig{Keys: ks, Issuer: testIssuer, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	authenticate := func(token string) error {
		_, err := auth.Authenticate(bearerRequest(token))
		return err
	}
	if err := authenticate(sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(nil))); err != nil {
		t.Fatalf("token of the served key: %v", err)
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after start, want 1", n)
	}

	// Unknown kid: refetched, still unknown, refused.
	rotated := sign(t, jwt.SigningMethodEdDSA, "new", k.stranger, claims(nil))
	if err := authenticate(rotated); err == nil {
		t.Fatal("token of an unknown kid accepted")
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after an unknown kid, want 2", n)
	}
	// The issuer rotates to the new key: the next unknown kid would need
	// a refresh, but the limiter allows one per interval: refused, and no
	// fetch.
	served.Store(jwksJSON(t, jwk("ed", k.ed), jwk("new", k.stranger)))
	for range 5 {
		if err := authenticate(rotated); err == nil {
			t.Fatal("token accepted without a refresh")
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after more unknown kids within the interval, want still 2", n)
	}

	// With a short interval the rotated key is picked up.
	ks2, err := jwksFromURL(t.Context(), srv.URL, discardLogger(), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	served.Store(jwksJSON(t, jwk("ed", k.ed)))
	auth2, err := NewJWTAuthenticator(JWTConfig{Keys: ks2, Issuer: testIssuer, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	served.Store(jwksJSON(t, jwk("ed", k.ed), jwk("new", k.stranger)))
	if _, err := auth2.Authenticate(bearerRequest(rotated)); err != nil {
		t.Fatalf("token of a key added to the JWKS after start: %v", err)
	}
}

// Through the router: a 401 carries the challenge and the error body; a
// valid token reaches the backend as its subject.
func TestJWTThroughRouter(t *testing.T) {
	k := keysOnce()
	auth, err := NewJWTAuthenticator(JWTConfig{Keys: fileKeys(t), Issuer: testIssuer, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t, time.Second, func(o *Options) { o.Authenticator = auth })

	rec := env.do(t, req{method: "GET", path: "/api/v1/account", user: "alice"})
	wantError(t, rec, 401, CodeUnauthenticated)
	if got := rec.Header().Get("WWW-Authenticate"); got != challengeBearer {
		t.Errorf("WWW-Authenticate %q without a token, want %q", got, challengeBearer)
	}
	expired := sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))
	rec = env.do(t, req{method: "GET", path: "/api/v1/account", headers: map[string]string{"Authorization": "Bearer " + expired}})
	if e := wantError(t, rec, 401, CodeUnauthenticated); !strings.Contains(e.Message, "expired") {
		t.Errorf("message %q, want it to say expired", e.Message)
	}
	if got := rec.Header().Get("WWW-Authenticate"); got != challengeInvalidToken {
		t.Errorf("WWW-Authenticate %q for an expired token, want %q", got, challengeInvalidToken)
	}
	if n := env.payments.count("GetAccount"); n != 0 {
		t.Fatalf("GetAccount called %d times by unauthenticated requests", n)
	}

	token := sign(t, jwt.SigningMethodEdDSA, "ed", k.ed, claims(func(c jwt.MapClaims) { c["sub"] = "bob" }))
	rec = env.do(t, req{method: "POST", path: "/api/v1/account", user: "mallory", headers: map[string]string{"Authorization": "Bearer " + token}})
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST /api/v1/account with a valid token = %d, want 201; body %s", rec.Code, rec.Body)
	}
	var acc struct {
		UserID string `json:"user_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &acc); err != nil {
		t.Fatal(err)
	}
	if acc.UserID != "bob" {
		t.Errorf("account of %q, want bob (the token's subject, not X-User-ID)", acc.UserID)
	}
}

// A token of the development issuer verifies with its JWKS.
func TestDevIssuerTokenVerifies(t *testing.T) {
	key, _, jwksPath, err := devissuer.Ensure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ks, err := JWKSFromFile(jwksPath)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := NewJWTAuthenticator(JWTConfig{Keys: ks, Issuer: devissuer.Issuer, Audience: devissuer.Audience})
	if err != nil {
		t.Fatal(err)
	}
	token, err := key.Token(devissuer.Claims{Subject: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := auth.Authenticate(bearerRequest(token))
	if err != nil {
		t.Fatalf("development token refused: %v", err)
	}
	if id.UserID() != "carol" {
		t.Errorf("user %q, want carol", id.UserID())
	}
	expired, err := key.Token(devissuer.Claims{Subject: "carol", Now: time.Now().Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Authenticate(bearerRequest(expired)); err == nil {
		t.Error("expired development token accepted")
	}
}
