package orders_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"shop/orders"
)

func TestPageTokenRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		c    orders.Cursor
	}{
		{"OK", orders.Cursor{CreatedAt: time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC), ID: uuid.MustParse("0190f0a4-8f1e-7c3a-9b2d-1e2f3a4b5c6d")}},
		{"BeforeEpoch", orders.Cursor{CreatedAt: time.Date(1960, 1, 1, 0, 0, 0, 1000, time.UTC), ID: uuid.MustParse("ffffffff-ffff-ffff-ffff-ffffffffffff")}},
		{"ZeroID", orders.Cursor{CreatedAt: time.Unix(0, 0).UTC()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := orders.EncodePageToken(tt.c)
			if _, err := base64.RawURLEncoding.DecodeString(tok); err != nil {
				t.Fatalf("token %q is not base64url: %v", tok, err)
			}
			got, err := orders.DecodePageToken(tok)
			if err != nil {
				t.Fatalf("decode %q: %v", tok, err)
			}
			if diff := cmp.Diff(tt.c, got); diff != "" {
				t.Errorf("cursor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodePageTokenMalformed(t *testing.T) {
	valid := orders.EncodePageToken(orders.Cursor{CreatedAt: time.Unix(1, 0), ID: uuid.New()})
	raw, _ := base64.RawURLEncoding.DecodeString(valid)
	wrongVersion := append([]byte{2}, raw[1:]...)
	tests := []struct {
		name  string
		token string
	}{
		{"ErrNotBase64", "***"},
		{"ErrStdBase64Padding", base64.URLEncoding.EncodeToString(raw)},
		{"ErrTooShort", valid[:len(valid)-4]},
		{"ErrTooLong", valid + "AAAA"},
		{"ErrWrongVersion", base64.RawURLEncoding.EncodeToString(wrongVersion)},
		{"ErrWhitespace", " " + valid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := orders.DecodePageToken(tt.token)
			wantInvalid(t, err, false)
		})
	}
}
