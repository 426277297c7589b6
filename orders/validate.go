package orders

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits of a request.
const (
	MaxUserIDLen         = 64
	MinAmount            = 1
	MaxAmount            = 1_000_000_000_000
	MaxDescriptionRunes  = 1000
	MaxIdempotencyKeyLen = 255
	DefaultListLimit     = 20
	MaxListLimit         = 100
)

// ValidateUserID checks that id is 1 to 64 characters of [A-Za-z0-9._-].
// It returns a KindInvalid error otherwise.
func ValidateUserID(id string) error {
	if len(id) == 0 || len(id) > MaxUserIDLen {
		return Errorf(KindInvalid, "user_id must be 1 to %d characters", MaxUserIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return Errorf(KindInvalid, "user_id must contain only A-Z, a-z, 0-9, '.', '_' and '-'")
		}
	}
	return nil
}

// ValidateAmount checks that amount is 1 to 1e12 minor units. It returns a
// KindInvalid error otherwise.
func ValidateAmount(amount int64) error {
	if amount < MinAmount || amount > MaxAmount {
		return Errorf(KindInvalid, "amount must be between %d and %d", MinAmount, MaxAmount)
	}
	return nil
}

// ValidateDescription checks that d is valid UTF-8 of at most 1000 runes
// without NUL (which a Postgres text column cannot hold). It returns a
// KindInvalid error otherwise.
func ValidateDescription(d string) error {
	if !utf8.ValidString(d) {
		return Errorf(KindInvalid, "description must be valid UTF-8")
	}
	if strings.IndexByte(d, 0) >= 0 {
		return Errorf(KindInvalid, "description must not contain NUL characters")
	}
	if utf8.RuneCountInString(d) > MaxDescriptionRunes {
		return Errorf(KindInvalid, "description must be at most %d characters", MaxDescriptionRunes)
	}
	return nil
}

// ValidateIdempotencyKey checks that key is 1 to 255 printable ASCII
// characters (0x20 to 0x7E). It returns a KindInvalid error otherwise. An
// absent key is the caller's business: CreateOrderParams allows "".
func ValidateIdempotencyKey(key string) error {
	if len(key) == 0 || len(key) > MaxIdempotencyKeyLen {
		return Errorf(KindInvalid, "idempotency key must be 1 to %d characters", MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return Errorf(KindInvalid, "idempotency key must be printable ASCII")
		}
	}
	return nil
}

// ParseOrderID parses an order id in the canonical UUID form
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, either case). It returns a
// KindInvalid error for anything else, including the other forms
// uuid.Parse accepts (braces, urn:uuid:, no hyphens).
func ParseOrderID(s string) (uuid.UUID, error) {
	if len(s) != 36 {
		return uuid.Nil, Errorf(KindInvalid, "order id must be a UUID")
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, Errorf(KindInvalid, "order id must be a UUID")
	}
	return id, nil
}

// ListLimit returns the page size for a requested limit: 0 means
// DefaultListLimit, 1 to 100 is taken as is, anything else is a KindInvalid
// error.
func ListLimit(limit int32) (int, error) {
	switch {
	case limit == 0:
		return DefaultListLimit, nil
	case limit < 0 || limit > MaxListLimit:
		return 0, Errorf(KindInvalid, "limit must be between 1 and %d", MaxListLimit)
	}
	return int(limit), nil
}

// Validate checks every field of p and returns the first KindInvalid error.
// An empty IdempotencyKey means none.
func (p CreateOrderParams) Validate() error {
	if err := ValidateUserID(p.UserID); err != nil {
		return err
	}
	if err := ValidateAmount(p.Amount); err != nil {
		return err
	}
	if err := ValidateDescription(p.Description); err != nil {
		return err
	}
	if p.IdempotencyKey != "" {
		if err := ValidateIdempotencyKey(p.IdempotencyKey); err != nil {
			return err
		}
	}
	return nil
}

// RequestHash returns the SHA-256 of the canonical form of the request body
// (amount and description; the user and key identify the record, they are
// not part of the body). Two requests with the same body have the same hash.
func (p CreateOrderParams) RequestHash() []byte {
	h := sha256.New()
	// Version 1 of the canonical form: the amount in 8 bytes, big endian,
	// then the description bytes. The amount has a fixed width, so the
	// encoding is unambiguous.
	var b [9]byte
	b[0] = 1
	binary.BigEndian.PutUint64(b[1:], uint64(p.Amount))
	h.Write(b[:])
	h.Write([]byte(p.Description))
	return h.Sum(nil)
}

// ListQuery is a validated ListOrdersParams: the page size and the position
// after which the page starts (nil for the first page).
type ListQuery struct {
	UserID string
	Limit  int
	After  *Cursor
}

// Query validates p and decodes its page token. It returns a KindInvalid
// error for a bad user id, limit or token.
func (p ListOrdersParams) Query() (ListQuery, error) {
	if err := ValidateUserID(p.UserID); err != nil {
		return ListQuery{}, err
	}
	limit, err := ListLimit(p.Limit)
	if err != nil {
		return ListQuery{}, err
	}
	q := ListQuery{UserID: p.UserID, Limit: limit}
	if p.PageToken != "" {
		c, err := DecodePageToken(p.PageToken)
		if err != nil {
			return ListQuery{}, err
		}
		q.After = &c
	}
	return q, nil
}

// Validate checks that r names a valid order and user and, for a failure,
// carries a known reason. It returns a KindInvalid error otherwise.
func (r PaymentResult) Validate() error {
	if r.OrderID == uuid.Nil {
		return Errorf(KindInvalid, "order id must be set")
	}
	if err := ValidateUserID(r.UserID); err != nil {
		return err
	}
	if r.Paid && r.Reason != CancelReasonNone {
		return Errorf(KindInvalid, "a successful payment carries no reason")
	}
	if !r.Paid && !r.Reason.Valid() {
		return Errorf(KindInvalid, "unknown failure reason %q", r.Reason)
	}
	return nil
}
