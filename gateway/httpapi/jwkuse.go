package httpapi

import (
	"context"
	"fmt"
	"slices"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
)

// signingKeys is a JWK Set storage that shows only the keys meant to
// verify signatures (RFC 7517 4.2 and 4.3): "use" absent or "sig", and
// "key_ops" absent or holding "verify". A key published for encryption
// ("use": "enc") never verifies a token.
type signingKeys struct {
	jwkset.Storage
}

// verifiesSignatures reports whether jwk may verify a signature.
func verifiesSignatures(jwk jwkset.JWK) bool {
	m := jwk.Marshal()
	if m.USE != "" && m.USE != jwkset.UseSig {
		return false
	}
	return len(m.KEYOPS) == 0 || slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify)
}

// KeyRead returns the key keyID, or an error for a key not meant to verify
// signatures.
func (s signingKeys) KeyRead(ctx context.Context, keyID string) (jwkset.JWK, error) {
	jwk, err := s.Storage.KeyRead(ctx, keyID)
	if err != nil {
		return jwk, err
	}
	if !verifiesSignatures(jwk) {
		m := jwk.Marshal()
		return jwkset.JWK{}, fmt.Errorf("key %q is not a signature key (use %q, key_ops %v)", keyID, m.USE, m.KEYOPS)
	}
	return jwk, nil
}

// KeyReadAll returns the keys meant to verify signatures.
func (s signingKeys) KeyReadAll(ctx context.Context) ([]jwkset.JWK, error) {
	all, err := s.Storage.KeyReadAll(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(slices.Clone(all), func(j jwkset.JWK) bool { return !verifiesSignatures(j) }), nil
}

// onlySigningKeys returns the key set of ks's storage restricted to its
// signature keys.
func onlySigningKeys(ctx context.Context, ks keyfunc.Keyfunc) (KeySet, error) {
	return keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: signingKeys{ks.Storage()}})
}
