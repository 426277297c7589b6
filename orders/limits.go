package orders

import (
	"strings"
	"unicode/utf8"

	"shop/service/fault"
)

// The limits of an order's own fields (DESIGN.md section 3); those it
// shares with payments and the gateway (user id, amount, currency,
// idempotency key) are shop/proto/limits. The gateway checks these on the
// way in, and the service again, since it trusts no caller.
const (
	MaxDescriptionRunes = 1000
	DefaultListLimit    = 20
	MaxListLimit        = 100
)

// CheckDescription checks that d is valid UTF-8 of at most
// MaxDescriptionRunes characters without NUL (which a Postgres text column
// cannot hold). A violation is a fault.Invalid error.
func CheckDescription(d string) error {
	if !utf8.ValidString(d) {
		return fault.Errorf(fault.Invalid, "description must be valid UTF-8")
	}
	if strings.IndexByte(d, 0) >= 0 {
		return fault.Errorf(fault.Invalid, "description must not contain NUL characters")
	}
	if utf8.RuneCountInString(d) > MaxDescriptionRunes {
		return fault.Errorf(fault.Invalid, "description must be at most %d characters", MaxDescriptionRunes)
	}
	return nil
}

// ListLimit returns the page size for a requested limit: 0 means
// DefaultListLimit, 1 to MaxListLimit is taken as is, anything else is a
// fault.Invalid error.
func ListLimit(limit int32) (int, error) {
	switch {
	case limit == 0:
		return DefaultListLimit, nil
	case limit < 0 || limit > MaxListLimit:
		return 0, fault.Errorf(fault.Invalid, "limit must be between 1 and %d", MaxListLimit)
	}
	return int(limit), nil
}
