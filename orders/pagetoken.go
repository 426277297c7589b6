package orders

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/google/uuid"

	"shop/service/fault"
)

// Cursor is a position in a user's orders, ordered by (created_at DESC,
// id DESC): a page starts with the first order strictly after it.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// The bounds of a cursor's created_at, [MinCursorTime, MaxCursorTime): no
// order of this shop is older or newer, and both are well inside the range
// Postgres and Go times share.
var (
	MinCursorTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxCursorTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// valid reports whether c can be a position among stored orders: a time
// within the cursor bounds and a non-nil RFC 4122 id (every order id is a
// UUID made by the store).
func (c Cursor) valid() bool {
	return !c.CreatedAt.Before(MinCursorTime) && c.CreatedAt.Before(MaxCursorTime) &&
		c.ID != uuid.Nil && c.ID.Variant() == uuid.RFC4122
}

// pageTokenVersion is the first byte of every token, so that the format can
// change without misreading old tokens. Version 1 had no tag and is
// refused.
const pageTokenVersion = 2

// pageTokenTagLen is the length of the truncated HMAC-SHA256 tag: 128 bits.
const pageTokenTagLen = 16

// pageTokenLen is version + created_at in Unix microseconds + id + tag.
const pageTokenLen = 1 + 8 + 16 + pageTokenTagLen

// MinPageTokenKeyLen is the shortest key NewPageTokens accepts (128 bits).
const MinPageTokenKeyLen = 16

// errBadPageToken is the one answer to every token that is not one this
// service issued for the caller: it says what to do, not what was wrong, so
// that a forger learns nothing.
func errBadPageToken() error {
	return fault.Errorf(fault.Invalid,
		"page_token is not a token this API returned for this user (or it has expired): start again without page_token")
}

// PageTokens makes and reads page tokens: opaque to clients, authenticated
// with a key that every instance of the service shares (postgres stores it
// in the orders database), bound to the user they were issued for. It is
// safe for concurrent use.
type PageTokens struct {
	key []byte
}

// NewPageTokens returns the page token codec keyed with key, which must be
// at least MinPageTokenKeyLen bytes of strong randomness. key is copied.
func NewPageTokens(key []byte) (*PageTokens, error) {
	if len(key) < MinPageTokenKeyLen {
		return nil, errors.New("page token key: shorter than 16 bytes")
	}
	return &PageTokens{key: append([]byte(nil), key...)}, nil
}

// Encode returns the token of c for userID: base64url without padding of a
// version byte, created_at in Unix microseconds, the id and a 16-byte
// HMAC-SHA256 tag over the user id and those bytes. Clients must treat it as
// opaque.
func (t *PageTokens) Encode(userID string, c Cursor) string {
	var b [pageTokenLen]byte
	b[0] = pageTokenVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(c.CreatedAt.UnixMicro()))
	copy(b[9:25], c.ID[:])
	copy(b[25:], t.tag(userID, b[:25]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Decode returns the cursor of a token that Encode made for userID with the
// same key. Anything else (malformed, another version, a tag that does not
// verify, a token of another user or of another key, a cursor out of range)
// is a fault.Invalid error.
func (t *PageTokens) Decode(userID, token string) (Cursor, error) {
	if len(token) != base64.RawURLEncoding.EncodedLen(pageTokenLen) {
		return Cursor{}, errBadPageToken()
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != pageTokenLen || b[0] != pageTokenVersion {
		return Cursor{}, errBadPageToken()
	}
	if !hmac.Equal(b[25:], t.tag(userID, b[:25])) {
		return Cursor{}, errBadPageToken()
	}
	// The tag proves this service made the token; the range check keeps a
	// leaked key or a bug from reaching the database with a time it refuses.
	var c Cursor
	c.CreatedAt = time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9]))).UTC()
	copy(c.ID[:], b[9:25])
	if !c.valid() {
		return Cursor{}, errBadPageToken()
	}
	return c, nil
}

// tag is the truncated HMAC-SHA256 of a domain label, the length-prefixed
// user id and body.
func (t *PageTokens) tag(userID string, body []byte) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte("shop orders page token\x00"))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(userID)))
	m.Write(n[:])
	m.Write([]byte(userID))
	m.Write(body)
	return m.Sum(nil)[:pageTokenTagLen]
}
