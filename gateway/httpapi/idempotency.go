package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"shop/proto/limits"
)

// HeaderIdempotencyKey is the optional header that makes a POST repeatable.
const HeaderIdempotencyKey = "Idempotency-Key"

// HeaderIdempotencyReplayed marks a response that is the stored answer to
// an earlier request with the same Idempotency-Key.
const HeaderIdempotencyReplayed = "Idempotency-Replayed"

// idempotencyKey returns the Idempotency-Key of r, "" when the header is
// absent, or an error when it is repeated or fails limits.IdempotencyKey
// (1 to 255 printable ASCII characters, 0x20 to 0x7E).
func idempotencyKey(r *http.Request) (string, error) {
	vals := r.Header.Values(HeaderIdempotencyKey)
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1:
		return "", errors.New(HeaderIdempotencyKey + " header must be given once")
	}
	if limits.IdempotencyKey(vals[0]) != nil {
		return "", fmt.Errorf("%s must be 1 to %d printable ASCII characters", HeaderIdempotencyKey, limits.MaxIdempotencyKeyLen)
	}
	return vals[0], nil
}
