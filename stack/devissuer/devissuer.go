// Package devissuer is the development token issuer of `make run`: an
// Ed25519 key kept in a directory, its public JWK Set for the gateway
// (AUTH_JWKS_FILE), and signed JWTs (EdDSA) for a user id. It is for local
// use only: whoever can read the key can be any user.
//
// It belongs to the development stack, which creates the key on the first
// `make run` and signs `stack token`'s tokens with it; the gateway's
// POST /dev/token (mounted only with AUTH_DEV_ISSUER_KEY) signs with the
// same key. It lives beside the stack, in the root module, because the
// gateway's module already requires that one, which could not require the
// gateway's without a cycle between the two.
package devissuer

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"shop/proto/limits"
)

// The claims `make run` configures the gateway with (AUTH_ISSUER,
// AUTH_AUDIENCE) and the command line's tokens carry.
const (
	Issuer   = "shop-dev-issuer"
	Audience = "shop"
)

// The files of a key directory.
const (
	// KeyFile holds the private key, PKCS #8 in PEM, readable by its owner
	// only.
	KeyFile = "key.pem"
	// JWKSFile holds the public JWK Set.
	JWKSFile = "jwks.json"
)

// DefaultTTL is the lifetime of a token when Claims leave it zero.
const DefaultTTL = time.Hour

// Key is an Ed25519 signing key with its key id (the RFC 7638 thumbprint of
// its public JWK). It is safe for concurrent use.
type Key struct {
	priv ed25519.PrivateKey
	kid  string
}

// Generate returns a new random key.
func Generate() (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate development issuer key: %w", err)
	}
	return newKey(priv), nil
}

func newKey(priv ed25519.PrivateKey) *Key {
	k := &Key{priv: priv}
	// RFC 7638: the SHA-256 of the required members in lexical order.
	thumb := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + k.x() + `"}`))
	k.kid = base64.RawURLEncoding.EncodeToString(thumb[:])
	return k
}

func (k *Key) x() string {
	return base64.RawURLEncoding.EncodeToString(k.priv.Public().(ed25519.PublicKey))
}

// KeyID is the key's kid, carried in the header of its tokens.
func (k *Key) KeyID() string { return k.kid }

// Load reads the private key written by Ensure (PKCS #8 PEM).
func Load(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("development issuer key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("development issuer key %s: no PEM PRIVATE KEY block", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("development issuer key %s: %w", path, err)
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("development issuer key %s: %T, want an Ed25519 key", path, parsed)
	}
	return newKey(priv), nil
}

// Ensure returns the key kept in dir, generating it on first use (dir is
// created, the key written with mode 0600), and (re)writes the public JWK
// Set next to it. It returns the key and the paths of both files.
func Ensure(dir string) (_ *Key, keyPath, jwksPath string, err error) {
	keyPath, jwksPath = filepath.Join(dir, KeyFile), filepath.Join(dir, JWKSFile)
	k, err := Load(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		if k, err = Generate(); err == nil {
			err = k.write(dir, keyPath)
		}
	}
	if err != nil {
		return nil, "", "", err
	}
	jwks, err := k.JWKS()
	if err != nil {
		return nil, "", "", err
	}
	if err := writeFile(jwksPath, jwks, 0o644); err != nil {
		return nil, "", "", err
	}
	return k, keyPath, jwksPath, nil
}

func (k *Key) write(dir, path string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("development issuer directory: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return err
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// writeFile replaces path with b atomically (a temporary file renamed).
func writeFile(path string, b []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// JWKS returns the public JWK Set of the key, as the gateway reads it.
func (k *Key) JWKS() ([]byte, error) {
	type jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		Use string `json:"use"`
	}
	return json.MarshalIndent(struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{{Kty: "OKP", Crv: "Ed25519", X: k.x(), Kid: k.kid, Alg: "EdDSA", Use: "sig"}}}, "", "  ")
}

// Claims are what a token says. Subject is the user id; Issuer and
// Audience default to the constants of this package, TTL to DefaultTTL,
// Now to the current time.
type Claims struct {
	Subject, Issuer, Audience string
	TTL                       time.Duration
	Now                       time.Time
}

// Token returns a signed JWT (EdDSA, with the key's kid) for c. It returns
// an error when the subject is not a valid user id.
func (k *Key) Token(c Claims) (string, error) {
	if err := limits.UserID(c.Subject); err != nil {
		return "", err
	}
	if c.Issuer == "" {
		c.Issuer = Issuer
	}
	if c.Audience == "" {
		c.Audience = Audience
	}
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.Now.IsZero() {
		c.Now = time.Now()
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"sub": c.Subject,
		"iss": c.Issuer,
		"aud": c.Audience,
		"iat": c.Now.Unix(),
		"nbf": c.Now.Unix(),
		"exp": c.Now.Add(c.TTL).Unix(),
	})
	t.Header["kid"] = k.kid
	return t.SignedString(k.priv)
}
