package httpapi

import (
	"errors"
	"net/http"
)

// HeaderIdempotencyKey is the optional header that makes a POST repeatable.
const HeaderIdempotencyKey = "Idempotency-Key"

// idempotencyKey returns the Idempotency-Key of r, "" when the header is
// absent, or an error when it is repeated, empty, longer than 255
// characters or not printable ASCII (0x20 to 0x7E).
func idempotencyKey(r *http.Request) (string, error) {
	vals := r.Header.Values(HeaderIdempotencyKey)
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1:
		return "", errors.New(HeaderIdempotencyKey + " header must be given once")
	}
	if !validIdempotencyKey(vals[0]) {
		return "", errors.New(HeaderIdempotencyKey + " must be 1 to 255 printable ASCII characters")
	}
	return vals[0], nil
}

func validIdempotencyKey(s string) bool {
	if len(s) < 1 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
