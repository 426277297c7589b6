package service

import "fmt"

// The gateway's ways of establishing the caller (AUTH_MODE).
const (
	// AuthJWT verifies an Authorization: Bearer JWT; its sub is the user id.
	AuthJWT = "jwt"
	// AuthHeader trusts the X-User-ID header, for a gateway behind an
	// authenticating proxy and for local tests.
	AuthHeader = "header"
)

// AuthMode is how the gateway establishes the caller, read by the gateway
// and by `make run`, which runs the development issuer in jwt mode.
type AuthMode struct {
	Mode string `env:"AUTH_MODE, default=jwt"`
}

// Validate checks that the mode is jwt or header.
func (a AuthMode) Validate() error {
	if a.Mode != AuthJWT && a.Mode != AuthHeader {
		return fmt.Errorf("AUTH_MODE=%q: want %q or %q", a.Mode, AuthJWT, AuthHeader)
	}
	return nil
}
