package orders_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"shop/orders"
	"shop/service/fault"
)

// wantInvalid checks err against a wanted outcome: nil when ok, else a
// fault.Invalid error.
func wantInvalid(t *testing.T, err error, ok bool) {
	t.Helper()
	if ok {
		if err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatal("got nil error, want an invalid error")
	}
	if got := fault.KindOf(err); got != fault.Invalid {
		t.Fatalf("got kind %v (%v), want %v", got, err, fault.Invalid)
	}
}

func TestParseOrderID(t *testing.T) {
	const canonical = "0190f0a4-8f1e-7c3a-9b2d-1e2f3a4b5c6d"
	tests := []struct {
		name string
		s    string
		want uuid.UUID
		ok   bool
	}{
		{"OK", canonical, uuid.MustParse(canonical), true},
		{"OKUpperCase", strings.ToUpper(canonical), uuid.MustParse(canonical), true},
		{"ErrEmpty", "", uuid.Nil, false},
		{"ErrGarbage", "not-a-uuid", uuid.Nil, false},
		{"ErrNoHyphens", strings.ReplaceAll(canonical, "-", ""), uuid.Nil, false},
		{"ErrBraces", "{" + canonical + "}", uuid.Nil, false},
		{"ErrURN", "urn:uuid:" + canonical, uuid.Nil, false},
		{"ErrBadHex", "0190f0a4-8f1e-7c3a-9b2d-1e2f3a4b5c6g", uuid.Nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := orders.ParseOrderID(tt.s)
			wantInvalid(t, err, tt.ok)
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCreateOrderParamsValidate(t *testing.T) {
	ok := orders.CreateOrderParams{UserID: "u1", Amount: 100, Description: "tea", IdempotencyKey: "k1"}
	tests := []struct {
		name   string
		modify func(p *orders.CreateOrderParams)
		ok     bool
	}{
		{"OK", func(*orders.CreateOrderParams) {}, true},
		{"OKNoKey", func(p *orders.CreateOrderParams) { p.IdempotencyKey = "" }, true},
		{"OKNoDescription", func(p *orders.CreateOrderParams) { p.Description = "" }, true},
		{"ErrUserID", func(p *orders.CreateOrderParams) { p.UserID = "" }, false},
		{"ErrAmount", func(p *orders.CreateOrderParams) { p.Amount = 0 }, false},
		{"ErrDescription", func(p *orders.CreateOrderParams) { p.Description = "\xff" }, false},
		{"ErrKey", func(p *orders.CreateOrderParams) { p.IdempotencyKey = "\n" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.modify(&p)
			wantInvalid(t, p.Validate(), tt.ok)
		})
	}
}

func TestRequestHash(t *testing.T) {
	base := orders.CreateOrderParams{UserID: "u1", Amount: 100, Description: "tea", IdempotencyKey: "k1"}
	tests := []struct {
		name  string
		other orders.CreateOrderParams
		same  bool
	}{
		{"SameBody", base, true},
		{"OtherKeyAndUserSameBody", orders.CreateOrderParams{UserID: "u2", Amount: 100, Description: "tea", IdempotencyKey: "k2"}, true},
		{"OtherAmount", orders.CreateOrderParams{UserID: "u1", Amount: 101, Description: "tea", IdempotencyKey: "k1"}, false},
		{"OtherDescription", orders.CreateOrderParams{UserID: "u1", Amount: 100, Description: "tea ", IdempotencyKey: "k1"}, false},
		{"EmptyDescription", orders.CreateOrderParams{UserID: "u1", Amount: 100, IdempotencyKey: "k1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(base.RequestHash()) == string(tt.other.RequestHash())
			if got != tt.same {
				t.Errorf("hashes equal: got %v, want %v", got, tt.same)
			}
		})
	}
}

func TestListOrdersParamsQuery(t *testing.T) {
	tokens := newTokens(t, testKey)
	c := orders.Cursor{CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC), ID: uuid.MustParse("0190f0a4-8f1e-7c3a-9b2d-1e2f3a4b5c6d")}
	tests := []struct {
		name string
		p    orders.ListOrdersParams
		want orders.ListQuery
		ok   bool
	}{
		{"OKFirstPage", orders.ListOrdersParams{UserID: "u1"}, orders.ListQuery{UserID: "u1", Limit: 20}, true},
		{"OKNextPage", orders.ListOrdersParams{UserID: "u1", Limit: 5, PageToken: tokens.Encode("u1", c)}, orders.ListQuery{UserID: "u1", Limit: 5, After: &c}, true},
		{"ErrOtherUsersToken", orders.ListOrdersParams{UserID: "u2", Limit: 5, PageToken: tokens.Encode("u1", c)}, orders.ListQuery{}, false},
		{"ErrUserID", orders.ListOrdersParams{UserID: "a b"}, orders.ListQuery{}, false},
		{"ErrLimit", orders.ListOrdersParams{UserID: "u1", Limit: 101}, orders.ListQuery{}, false},
		{"ErrToken", orders.ListOrdersParams{UserID: "u1", PageToken: "!!"}, orders.ListQuery{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.p.Query(tokens)
			wantInvalid(t, err, tt.ok)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
		})
	}
}
