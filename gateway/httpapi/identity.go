package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"shop/proto/limits"
)

// HeaderUserID is the header that carries the caller's identity in
// AUTH_MODE=header (HeaderAuthenticator); in jwt mode it is ignored.
const HeaderUserID = "X-User-ID"

// Identity is the authenticated caller of a request. Handlers see only
// this interface, so the way a caller is established (a verified bearer
// token, JWTAuthenticator, or a header set by an authenticating proxy,
// HeaderAuthenticator) does not concern them.
type Identity interface {
	// UserID is the caller's user id, 1 to 64 characters of [A-Za-z0-9._-].
	UserID() string
}

// Authenticator establishes the caller of a request. It returns an error
// when the request carries no acceptable identity; the error's text is
// shown to the client, so it must not carry secrets.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

// userID is an Identity that is just a validated user id.
type userID string

func (u userID) UserID() string { return string(u) }

// HeaderAuthenticator trusts the X-User-ID header: only for a gateway
// behind an authenticating proxy that sets it, and for tests. It is safe
// for concurrent use.
type HeaderAuthenticator struct{}

// Authenticate returns the identity in the X-User-ID header, or an error
// when the header is missing, repeated or malformed.
func (HeaderAuthenticator) Authenticate(r *http.Request) (Identity, error) {
	vals := r.Header.Values(HeaderUserID)
	switch {
	case len(vals) == 0:
		return nil, errors.New("missing " + HeaderUserID + " header")
	case len(vals) > 1:
		return nil, errors.New(HeaderUserID + " header must be given once")
	}
	if limits.UserID(vals[0]) != nil {
		return nil, fmt.Errorf("%s must be 1 to %d characters of A-Z, a-z, 0-9, '.', '_' or '-'", HeaderUserID, limits.MaxUserIDLen)
	}
	return userID(vals[0]), nil
}

type identityKey struct{}

// WithIdentity returns a copy of ctx that carries id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity stored in ctx by WithIdentity.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// caller returns the user id that the authenticate middleware stored.
func caller(c *gin.Context) (string, error) {
	id, ok := IdentityFrom(c.Request.Context())
	if !ok {
		return "", errors.New("no identity in request context: authenticate middleware missing")
	}
	return id.UserID(), nil
}
