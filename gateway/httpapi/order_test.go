package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	ordersv1 "shop/proto/orders/v1"
	"shop/service/fault"
)

func TestOrders(t *testing.T) {
	env := newTestEnv(t, time.Second)

	rec := env.do(t, req{method: "POST", path: "/api/v1/orders", user: "alice", body: `{"amount":15000,"description":"two coffees"}`})
	if rec.Code != 201 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	created := decodeBody[Order](t, rec)
	if _, err := uuid.Parse(created.ID); err != nil {
		t.Errorf("id %q is not a UUID", created.ID)
	}
	if got, want := rec.Header().Get("Location"), "/api/v1/orders/"+created.ID; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	wantJSON(t, rec, 201, `{"id":"`+created.ID+`","user_id":"alice","amount":15000,"currency":"RUB","description":"two coffees","status":"PENDING","created_at":"2025-01-02T15:04:05.123456Z","updated_at":"2025-01-02T15:04:05.123456Z"}`)

	t.Run("Get", func(t *testing.T) {
		rec := env.do(t, req{method: "GET", path: "/api/v1/orders/" + created.ID, user: "alice"})
		wantJSON(t, rec, 200, `{"id":"`+created.ID+`","user_id":"alice","amount":15000,"currency":"RUB","description":"two coffees","status":"PENDING","created_at":"2025-01-02T15:04:05.123456Z","updated_at":"2025-01-02T15:04:05.123456Z"}`)
	})
	t.Run("GetUpperCaseID", func(t *testing.T) {
		rec := env.do(t, req{method: "GET", path: "/api/v1/orders/" + strings.ToUpper(created.ID), user: "alice"})
		if rec.Code != 200 {
			t.Errorf("status = %d, want 200; %s", rec.Code, rec.Body)
		}
	})
	t.Run("GetAnotherUsersOrder", func(t *testing.T) {
		rec := env.do(t, req{method: "GET", path: "/api/v1/orders/" + created.ID, user: "bob"})
		other := wantError(t, rec, 404, CodeNotFound)
		unknown := wantError(t, env.do(t, req{method: "GET", path: "/api/v1/orders/" + uuid.NewString(), user: "bob"}), 404, CodeNotFound)
		if other != unknown {
			t.Errorf("another user's order %+v differs from an unknown one %+v", other, unknown)
		}
	})
	t.Run("GetMalformedID", func(t *testing.T) {
		for _, id := range []string{"42", "not-a-uuid", created.ID + "0", strings.ReplaceAll(created.ID, "-", ""), "%7B" + created.ID + "%7D"} {
			wantError(t, env.do(t, req{method: "GET", path: "/api/v1/orders/" + id, user: "alice"}), 400, CodeInvalidArgument)
		}
	})
	t.Run("Paid", func(t *testing.T) {
		o := mustOrder(t, env, created.ID)
		o.Status = ordersv1.OrderStatus_ORDER_STATUS_PAID
		env.orders.set(o)
		got := decodeBody[map[string]any](t, env.do(t, req{method: "GET", path: "/api/v1/orders/" + created.ID, user: "alice"}))
		if got["status"] != "PAID" {
			t.Errorf("status = %v, want PAID", got["status"])
		}
		if _, ok := got["cancel_reason"]; ok {
			t.Errorf("cancel_reason present on a PAID order: %v", got)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		o := mustOrder(t, env, created.ID)
		o.Status = ordersv1.OrderStatus_ORDER_STATUS_CANCELLED
		o.CancelReason = ordersv1.CancelReason_CANCEL_REASON_INSUFFICIENT_FUNDS
		env.orders.set(o)
		got := decodeBody[Order](t, env.do(t, req{method: "GET", path: "/api/v1/orders/" + created.ID, user: "alice"}))
		if got.Status != "CANCELLED" || got.CancelReason != "INSUFFICIENT_FUNDS" {
			t.Errorf("got %s/%s, want CANCELLED/INSUFFICIENT_FUNDS", got.Status, got.CancelReason)
		}
	})
}

func mustOrder(t *testing.T, env *testEnv, id string) *ordersv1.Order {
	t.Helper()
	env.orders.mu.Lock()
	defer env.orders.mu.Unlock()
	for _, o := range env.orders.orders {
		if o.GetId() == id {
			return o
		}
	}
	t.Fatalf("order %s not in the fake", id)
	return nil
}

func TestCreateOrderErrors(t *testing.T) {
	env := newTestEnv(t, time.Second)
	tests := []struct {
		name       string
		body       string
		headers    map[string]string
		wantStatus int
		wantCode   string
		wantMsg    string // substring
	}{
		{"AmountZero", `{"amount":0}`, nil, 400, CodeInvalidArgument, "amount must be between 1 and 1000000000000"},
		{"AmountTooLarge", `{"amount":1000000000001}`, nil, 400, CodeInvalidArgument, "amount must be between 1 and 1000000000000"},
		{"DescriptionTooLong", `{"amount":1,"description":"` + strings.Repeat("я", 1001) + `"}`, nil, 400, CodeInvalidArgument, "description"},
		{"AmountMissing", `{"description":"x"}`, nil, 400, CodeInvalidArgument, "amount is required"},
		{"AmountFloat", `{"amount":10.5}`, nil, 400, CodeInvalidArgument, "integer"},
		{"AmountString", `{"amount":"10"}`, nil, 400, CodeInvalidArgument, "integer"},
		{"AmountExponent", `{"amount":1E2}`, nil, 400, CodeInvalidArgument, "integer"},
		{"AmountOverflow", `{"amount":18446744073709551616}`, nil, 400, CodeInvalidArgument, "out of range"},
		{"DescriptionWrongType", `{"amount":1,"description":["x"]}`, nil, 400, CodeInvalidArgument, "description"},
		{"UnknownField", `{"amount":1,"status":"PAID"}`, nil, 400, CodeInvalidArgument, `unknown field "status"`},
		{"Malformed", `{"amount":1,}`, nil, 400, CodeInvalidArgument, "not valid JSON"},
		{"NotAnObject", `[1]`, nil, 400, CodeInvalidArgument, "JSON object"},
		{"Trailing", `{"amount":1} {}`, nil, 400, CodeInvalidArgument, "unexpected data"},
		{"EmptyKey", `{"amount":1}`, map[string]string{HeaderIdempotencyKey: ""}, 400, CodeInvalidArgument, HeaderIdempotencyKey},
		{"KeyWithControl", `{"amount":1}`, map[string]string{HeaderIdempotencyKey: "a\x01b"}, 400, CodeInvalidArgument, HeaderIdempotencyKey},
		{"TooLarge", `{"amount":1,"description":"` + strings.Repeat("a", 70_000) + `"}`, nil, 413, CodePayloadTooLarge, "65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := env.do(t, req{method: "POST", path: "/api/v1/orders", user: "alice", body: tt.body, headers: tt.headers})
			got := wantError(t, rec, tt.wantStatus, tt.wantCode)
			if !strings.Contains(got.Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", got.Message, tt.wantMsg)
			}
		})
	}
	if n := len(env.orders.orders); n != 0 {
		t.Errorf("%d orders created by failing requests", n)
	}
}

func TestCreateOrderIdempotency(t *testing.T) {
	env := newTestEnv(t, time.Second)
	key := map[string]string{HeaderIdempotencyKey: "order-1"}
	first := env.do(t, req{method: "POST", path: "/api/v1/orders", user: "alice", body: `{"amount":100,"description":"tea"}`, headers: key})
	if first.Code != 201 {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	if env.orders.lastKey != "order-1" {
		t.Errorf("key passed to orders = %q, want order-1", env.orders.lastKey)
	}
	replay := env.do(t, req{method: "POST", path: "/api/v1/orders", user: "alice", body: `{"description":"tea","amount":100}`, headers: key})
	if replay.Code != first.Code || replay.Body.String() != first.Body.String() {
		t.Errorf("replay = %d %s, want %d %s", replay.Code, replay.Body, first.Code, first.Body)
	}
	if replay.Header().Get("Location") != first.Header().Get("Location") {
		t.Errorf("replay Location %q, want %q", replay.Header().Get("Location"), first.Header().Get("Location"))
	}
	wantError(t, env.do(t, req{method: "POST", path: "/api/v1/orders", user: "alice", body: `{"amount":101,"description":"tea"}`, headers: key}), 422, CodeIdempotencyKeyReused)

	// The key is scoped to the caller: bob's "order-1" is a new order.
	bob := env.do(t, req{method: "POST", path: "/api/v1/orders", user: "bob", body: `{"amount":100,"description":"tea"}`, headers: key})
	if bob.Code != 201 || bob.Body.String() == first.Body.String() {
		t.Errorf("bob with alice's key = %d %s, want a new order", bob.Code, bob.Body)
	}
	if n := len(env.orders.orders); n != 2 {
		t.Errorf("%d orders stored, want 2", n)
	}

	env.orders.fail("CreateOrder", reasonErr(codes.Aborted, "a request with this idempotency key is in progress", fault.ReasonIdempotencyKeyInUse))
	wantError(t, env.do(t, req{method: "POST", path: "/api/v1/orders", user: "alice", body: `{"amount":100}`, headers: key}), 409, CodeIdempotencyKeyInUse)
}

func TestListOrders(t *testing.T) {
	env := newTestEnv(t, time.Second)
	var ids []string
	for i := range 5 {
		rec := env.do(t, req{method: "POST", path: "/api/v1/orders", user: "alice", body: `{"amount":` + string(rune('1'+i)) + `}`})
		ids = append(ids, decodeBody[Order](t, rec).ID)
	}
	env.do(t, req{method: "POST", path: "/api/v1/orders", user: "bob", body: `{"amount":7}`})

	var got []string
	token := ""
	pages := 0
	for {
		path := "/api/v1/orders?limit=2"
		if token != "" {
			path += "&page_token=" + token
		}
		rec := env.do(t, req{method: "GET", path: path, user: "alice"})
		if rec.Code != 200 {
			t.Fatalf("list: %d %s", rec.Code, rec.Body)
		}
		page := decodeBody[map[string]json.RawMessage](t, rec)
		list := decodeBody[OrderList](t, rec)
		for _, o := range list.Orders {
			got = append(got, o.ID)
		}
		pages++
		if list.NextPageToken == "" {
			if _, ok := page["next_page_token"]; ok {
				t.Errorf("last page carries next_page_token: %s", rec.Body)
			}
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		token = list.NextPageToken
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("orders newest first (-want +got):\n%s", diff)
	}
	if pages != 3 {
		t.Errorf("pages = %d, want 3", pages)
	}

	t.Run("Empty", func(t *testing.T) {
		wantJSON(t, env.do(t, req{method: "GET", path: "/api/v1/orders", user: "carol"}), 200, `{"orders":[]}`)
	})
	t.Run("DefaultLimit", func(t *testing.T) {
		if n := len(decodeBody[OrderList](t, env.do(t, req{method: "GET", path: "/api/v1/orders", user: "alice"})).Orders); n != 5 {
			t.Errorf("got %d orders, want 5", n)
		}
	})
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "limit=1.0", "limit=1&limit=2", "page_token=garbage", "page_token=a&page_token=b"} {
		t.Run("Err_"+q, func(t *testing.T) {
			wantError(t, env.do(t, req{method: "GET", path: "/api/v1/orders?" + q, user: "alice"}), 400, CodeInvalidArgument)
		})
	}
}

func TestPageLimit(t *testing.T) {
	tests := []struct {
		query   string
		want    int32
		wantErr bool
	}{
		{"", 20, false},
		{"limit=", 0, true},
		{"limit=05", 5, false},
		{"limit=+5", 0, true},
		{"limit=%205", 0, true},
		{"limit=5%20", 0, true},
		{"limit=0x10", 0, true},
		{"limit=1", 1, false},
		{"limit=100", 100, false},
		{"limit=0", 0, true},
		{"limit=101", 0, true},
		{"limit=-1", 0, true},
		{"limit=1.5", 0, true},
		{"limit=abc", 0, true},
		{"limit=99999999999", 0, true},
		{"limit=1&limit=2", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/orders?"+tt.query, nil)
			got, err := pageLimit(r)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestPageToken(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		want    string
		wantErr bool
	}{
		{"OKAbsent", "", "", false},
		{"OKEmpty", "page_token=", "", false},
		{"OKBase64URL", "page_token=Ag-_z09", "Ag-_z09", false},
		{"OKMaxLen", "page_token=" + strings.Repeat("A", MaxPageTokenLen), strings.Repeat("A", MaxPageTokenLen), false},
		{"ErrTooLong", "page_token=" + strings.Repeat("A", MaxPageTokenLen+1), "", true},
		{"ErrPadding", "page_token=AA%3D%3D", "", true},
		{"ErrStdBase64", "page_token=a%2Bb%2Fc", "", true},
		{"ErrSpace", "page_token=a%20b", "", true},
		{"ErrNonASCII", "page_token=%C3%A9", "", true},
		{"ErrRepeated", "page_token=a&page_token=b", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/orders?"+tt.query, nil)
			got, err := pageToken(r)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseOrderID(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f", "0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f", false},
		{"0193E0B4-8C7A-7E2A-9A53-2F6B0C1D2E3F", "0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f", false},
		{"0193e0b48c7a7e2a9a532f6b0c1d2e3f", "", true},
		{"{0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f}", "", true},
		{"urn:uuid:0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f", "", true},
		{"0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3g", "", true},
		{"42", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := parseOrderID(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseOrderID(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
