package orders_test

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"shop/orders"
)

// testKey is a fixed key for the codec under test.
var testKey = []byte("0123456789abcdef0123456789abcdef")

func newTokens(t *testing.T, key []byte) *orders.PageTokens {
	t.Helper()
	tokens, err := orders.NewPageTokens(key)
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

func TestNewPageTokensKeyLength(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		ok   bool
	}{
		{"OK16", make([]byte, 16), true},
		{"OK32", make([]byte, 32), true},
		{"ErrNil", nil, false},
		{"ErrShort", make([]byte, 15), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := orders.NewPageTokens(tt.key)
			if (err == nil) != tt.ok {
				t.Errorf("got error %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestPageTokenRoundTrip(t *testing.T) {
	tokens := newTokens(t, testKey)
	tests := []struct {
		name string
		c    orders.Cursor
	}{
		{"OK", orders.Cursor{CreatedAt: time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC), ID: uuid.MustParse("0190f0a4-8f1e-7c3a-9b2d-1e2f3a4b5c6d")}},
		{"OKEarliest", orders.Cursor{CreatedAt: orders.MinCursorTime, ID: uuid.MustParse("ffffffff-ffff-4fff-bfff-ffffffffffff")}},
		{"OKLatest", orders.Cursor{CreatedAt: orders.MaxCursorTime.Add(-time.Microsecond), ID: uuid.New()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tokens.Encode("alice", tt.c)
			if _, err := base64.RawURLEncoding.DecodeString(tok); err != nil {
				t.Fatalf("token %q is not base64url: %v", tok, err)
			}
			got, err := tokens.Decode("alice", tok)
			if err != nil {
				t.Fatalf("decode %q: %v", tok, err)
			}
			if diff := cmp.Diff(tt.c, got); diff != "" {
				t.Errorf("cursor (-want +got):\n%s", diff)
			}
			// Another instance with the same key reads it too.
			if _, err := newTokens(t, append([]byte(nil), testKey...)).Decode("alice", tok); err != nil {
				t.Errorf("decode with the same key in another codec: %v", err)
			}
		})
	}
}

// forge returns a correctly tagged token of a cursor the service would
// never issue, as someone holding the key could make: only the range check
// stops it.
func forge(t *testing.T, micros int64, id uuid.UUID) string {
	t.Helper()
	return newTokens(t, testKey).Encode("alice", orders.Cursor{CreatedAt: time.UnixMicro(micros).UTC(), ID: id})
}

func TestDecodePageTokenRejected(t *testing.T) {
	tokens := newTokens(t, testKey)
	c := orders.Cursor{CreatedAt: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), ID: uuid.MustParse("0190f0a4-8f1e-7c3a-9b2d-1e2f3a4b5c6d")}
	valid := tokens.Encode("alice", c)
	raw, _ := base64.RawURLEncoding.DecodeString(valid)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	// A version 1 token (no tag), as the service issued before.
	v1 := make([]byte, 25)
	v1[0] = 1
	binary.BigEndian.PutUint64(v1[1:9], uint64(c.CreatedAt.UnixMicro()))
	copy(v1[9:], c.ID[:])
	tests := []struct {
		name  string
		user  string
		token string
	}{
		// The token of issue 9: version 1, a time in the year -144169.
		{"ErrIssue9Forgery", "alice", "AcAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"ErrVersion1", "alice", base64.RawURLEncoding.EncodeToString(v1)},
		{"ErrNotBase64", "alice", strings.Repeat("*", len(valid))},
		{"ErrStdBase64Padding", "alice", base64.URLEncoding.EncodeToString(raw)},
		{"ErrTooShort", "alice", valid[:len(valid)-4]},
		{"ErrTooLong", "alice", valid + "AAAA"},
		{"ErrWhitespace", "alice", " " + valid[1:]},
		{"ErrWrongVersion", "alice", flip(0)},
		{"ErrTimeTampered", "alice", flip(8)},
		{"ErrIDTampered", "alice", flip(20)},
		{"ErrTagTampered", "alice", flip(40)},
		{"ErrOtherUser", "bob", valid},
		{"ErrUserPrefix", "alic", valid},
		{"ErrOtherKey", "alice", newTokens(t, []byte("another key of 32 bytes, really!")).Encode("alice", c)},
		{"ErrTooEarly", "alice", forge(t, orders.MinCursorTime.UnixMicro()-1, c.ID)},
		{"ErrTooLate", "alice", forge(t, orders.MaxCursorTime.UnixMicro(), c.ID)},
		{"ErrYearMinus144169", "alice", forge(t, -4_611_686_018_427_387_904, c.ID)},
		{"ErrNilID", "alice", forge(t, c.CreatedAt.UnixMicro(), uuid.Nil)},
		{"ErrNonRFC4122ID", "alice", forge(t, c.CreatedAt.UnixMicro(), uuid.MustParse("0190f0a4-8f1e-7c3a-0b2d-1e2f3a4b5c6d"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tokens.Decode(tt.user, tt.token)
			wantInvalid(t, err, false)
			if err != nil && !strings.Contains(err.Error(), "page_token") {
				t.Errorf("got %v, want a message about page_token", err)
			}
		})
	}
}
