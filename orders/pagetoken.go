package orders

import (
	"encoding/base64"
	"encoding/binary"
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

// pageTokenVersion is the first byte of every token, so that the format can
// change without misreading old tokens.
const pageTokenVersion = 1

// pageTokenLen is version + created_at in Unix microseconds + id.
const pageTokenLen = 1 + 8 + 16

// EncodePageToken returns the opaque token of c: base64url without padding
// of a version byte, created_at in Unix microseconds and the id. Clients
// must treat it as opaque.
func EncodePageToken(c Cursor) string {
	var b [pageTokenLen]byte
	b[0] = pageTokenVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(c.CreatedAt.UnixMicro()))
	copy(b[9:], c.ID[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// DecodePageToken returns the cursor of a token made by EncodePageToken. A
// token that is not one is a fault.Invalid error.
func DecodePageToken(token string) (Cursor, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != pageTokenLen || b[0] != pageTokenVersion {
		return Cursor{}, fault.Errorf(fault.Invalid, "malformed page token")
	}
	var c Cursor
	c.CreatedAt = time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9]))).UTC()
	copy(c.ID[:], b[9:])
	return c, nil
}
