package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	ordersv1 "shop/proto/orders/v1"
	paymentsv1 "shop/proto/payments/v1"
)

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testEnv is the router in front of in-process gRPC servers running the
// fakes, over real gRPC connections.
type testEnv struct {
	handler        http.Handler
	orders         *fakeOrders
	payments       *fakePayments
	ordersHealth   *health.Server
	paymentsHealth *health.Server
	ordersServer   *grpc.Server
	logs           *syncBuffer
}

func newTestEnv(t *testing.T, timeout time.Duration) *testEnv {
	t.Helper()
	env := &testEnv{
		orders:         newFakeOrders(),
		payments:       newFakePayments(),
		ordersHealth:   health.NewServer(),
		paymentsHealth: health.NewServer(),
		logs:           &syncBuffer{},
	}
	env.ordersServer = grpc.NewServer()
	ordersv1.RegisterOrderServiceServer(env.ordersServer, env.orders)
	healthpb.RegisterHealthServer(env.ordersServer, env.ordersHealth)
	paymentsServer := grpc.NewServer()
	paymentsv1.RegisterPaymentServiceServer(paymentsServer, env.payments)
	healthpb.RegisterHealthServer(paymentsServer, env.paymentsHealth)

	ordersConn := serve(t, env.ordersServer)
	paymentsConn := serve(t, paymentsServer)
	h, err := NewRouter(Options{
		Orders:   ordersv1.NewOrderServiceClient(ordersConn),
		Payments: paymentsv1.NewPaymentServiceClient(paymentsConn),
		Probes: []Probe{
			GRPCHealthProbe("orders", ordersConn),
			GRPCHealthProbe("payments", paymentsConn),
		},
		Logger:         slog.New(slog.NewTextHandler(env.logs, nil)),
		BackendTimeout: timeout,
	})
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	env.handler = h
	return env
}

// serve runs srv on a loopback port until the test ends and returns a
// client connection to it.
func serve(t *testing.T, srv *grpc.Server) *grpc.ClientConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc client: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// req describes one HTTP request to the router.
type req struct {
	method  string
	path    string
	user    string // X-User-ID; "" sends none
	body    string
	headers map[string]string
}

func (e *testEnv) do(t *testing.T, r req) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.user != "" {
		hr.Header.Set(HeaderUserID, r.user)
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, hr)
	if rec.Header().Get(HeaderRequestID) == "" {
		t.Errorf("%s %s: response has no %s", r.method, r.path, HeaderRequestID)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(r.path, "/swagger/") {
		t.Errorf("%s %s: Content-Type %q, want application/json", r.method, r.path, ct)
	}
	return rec
}

// wantError checks that rec is an error response with status and code.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) ErrorBody {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	var got ErrorResponse
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("error body %q: %v", rec.Body, err)
	}
	if got.Error.Code != code {
		t.Errorf("code = %q, want %q (message %q)", got.Error.Code, code, got.Error.Message)
	}
	if got.Error.Message == "" {
		t.Error("error message is empty")
	}
	return got.Error
}

// wantJSON checks status and that the body is exactly the JSON want.
func wantJSON(t *testing.T, rec *httptest.ResponseRecorder, status int, want string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	var got, w any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func decodeBody[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return v
}

func TestNewRouterRequiresDependencies(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	orders, payments := ordersv1.NewOrderServiceClient(conn), paymentsv1.NewPaymentServiceClient(conn)
	tests := []struct {
		name string
		opts Options
	}{
		{"NoOrders", Options{Payments: payments, Logger: logger}},
		{"NoPayments", Options{Orders: orders, Logger: logger}},
		{"NoLogger", Options{Orders: orders, Payments: payments}},
		{"NegativeTimeout", Options{Orders: orders, Payments: payments, Logger: logger, BackendTimeout: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewRouter(tt.opts); err == nil {
				t.Error("NewRouter succeeded, want error")
			}
		})
	}
}

func TestAccount(t *testing.T) {
	env := newTestEnv(t, time.Second)
	steps := []struct {
		name       string
		req        req
		wantStatus int
		wantCode   string // error code, or "" for success
		wantBody   string // exact JSON on success
	}{
		{"GetBeforeCreate", req{method: "GET", path: "/api/v1/account", user: "alice"}, 404, CodeNotFound, ""},
		{"TopUpBeforeCreate", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1}`}, 404, CodeNotFound, ""},
		{"Create", req{method: "POST", path: "/api/v1/account", user: "alice"}, 201, "", `{"user_id":"alice","balance":0,"currency":"RUB","created_at":"2025-01-02T15:04:05.123456Z","updated_at":"2025-01-02T15:04:05.123456Z"}`},
		{"CreateAgain", req{method: "POST", path: "/api/v1/account", user: "alice"}, 409, CodeAccountExists, ""},
		{"Get", req{method: "GET", path: "/api/v1/account", user: "alice"}, 200, "", `{"user_id":"alice","balance":0,"currency":"RUB","created_at":"2025-01-02T15:04:05.123456Z","updated_at":"2025-01-02T15:04:05.123456Z"}`},
		{"GetOtherUser", req{method: "GET", path: "/api/v1/account", user: "bob"}, 404, CodeNotFound, ""},
		{"TopUp", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":150000}`}, 200, "", `{"user_id":"alice","balance":150000,"currency":"RUB","created_at":"2025-01-02T15:04:05.123456Z","updated_at":"2025-01-02T15:04:06.123456Z"}`},
		{"TopUpMax", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1000000000000}`}, 200, "", `{"user_id":"alice","balance":1000000150000,"currency":"RUB","created_at":"2025-01-02T15:04:05.123456Z","updated_at":"2025-01-02T15:04:06.123456Z"}`},
		{"TopUpZero", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":0}`}, 400, CodeInvalidArgument, ""},
		{"TopUpNegative", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":-1}`}, 400, CodeInvalidArgument, ""},
		{"TopUpTooMuch", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1000000000001}`}, 400, CodeInvalidArgument, ""},
		{"TopUpMissingAmount", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{}`}, 400, CodeInvalidArgument, ""},
		{"TopUpNullAmount", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":null}`}, 400, CodeInvalidArgument, ""},
		{"TopUpFloat", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1.5}`}, 400, CodeInvalidArgument, ""},
		{"TopUpExponent", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1e3}`}, 400, CodeInvalidArgument, ""},
		{"TopUpString", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":"1"}`}, 400, CodeInvalidArgument, ""},
		{"TopUpOverflow", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":9223372036854775808}`}, 400, CodeInvalidArgument, ""},
		{"TopUpUnknownField", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1,"currency":"USD"}`}, 400, CodeInvalidArgument, ""},
		{"TopUpMalformed", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1`}, 400, CodeInvalidArgument, ""},
		{"TopUpTrailing", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1}]`}, 400, CodeInvalidArgument, ""},
		{"TopUpNoBody", req{method: "POST", path: "/api/v1/account/top-up", user: "alice"}, 400, CodeInvalidArgument, ""},
		{"TopUpBadKey", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1}`, headers: map[string]string{HeaderIdempotencyKey: strings.Repeat("k", 256)}}, 400, CodeInvalidArgument, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			rec := env.do(t, s.req)
			if s.wantCode != "" {
				wantError(t, rec, s.wantStatus, s.wantCode)
				return
			}
			wantJSON(t, rec, s.wantStatus, s.wantBody)
		})
	}
	// Only the top-ups with a well-formed body reached the service (one
	// before the account existed, two that succeeded, three the service
	// rejected); HTTP-shape errors stopped at the gateway.
	if got, want := env.payments.count("TopUp"), 6; got != want {
		t.Errorf("TopUp calls = %d, want %d", got, want)
	}
}

func TestTopUpMessagesFromService(t *testing.T) {
	env := newTestEnv(t, time.Second)
	env.do(t, req{method: "POST", path: "/api/v1/account", user: "alice"})
	rec := env.do(t, req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":0}`})
	got := wantError(t, rec, 400, CodeInvalidArgument)
	if want := "amount must be between 1 and 1000000000000"; got.Message != want {
		t.Errorf("message = %q, want the service's %q", got.Message, want)
	}
}

func TestTopUpBalanceLimit(t *testing.T) {
	env := newTestEnv(t, time.Second)
	env.do(t, req{method: "POST", path: "/api/v1/account", user: "alice"})
	env.payments.mu.Lock()
	env.payments.accounts["alice"].Balance = 1_000_000_000_000_000
	env.payments.mu.Unlock()
	rec := env.do(t, req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1}`})
	wantError(t, rec, 422, CodeBalanceLimitExceeded)
}

func TestTopUpIdempotency(t *testing.T) {
	env := newTestEnv(t, time.Second)
	env.do(t, req{method: "POST", path: "/api/v1/account", user: "alice"})
	key := map[string]string{HeaderIdempotencyKey: "top-up 1"}

	first := env.do(t, req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":100}`, headers: key})
	if first.Code != 200 {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	if got := env.payments.lastKey; got != "top-up 1" {
		t.Errorf("key passed to payments = %q, want %q", got, "top-up 1")
	}
	replay := env.do(t, req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{ "amount": 100 }`, headers: key})
	if replay.Code != first.Code || replay.Body.String() != first.Body.String() {
		t.Errorf("replay = %d %s, want %d %s", replay.Code, replay.Body, first.Code, first.Body)
	}
	if replay.Header().Get(HeaderIdempotencyReplayed) != "true" {
		t.Errorf("replay has no %s: true", HeaderIdempotencyReplayed)
	}
	if first.Header().Get(HeaderIdempotencyReplayed) != "" {
		t.Errorf("first response is marked as replayed")
	}
	reused := env.do(t, req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":200}`, headers: key})
	wantError(t, reused, 422, CodeIdempotencyKeyReused)

	acc := decodeBody[Account](t, env.do(t, req{method: "GET", path: "/api/v1/account", user: "alice"}))
	if acc.Balance != 100 {
		t.Errorf("balance = %d, want 100 (one credit)", acc.Balance)
	}
}

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

	env.orders.fail("CreateOrder", reasonErr(codes.Aborted, "a request with this idempotency key is in progress", ReasonIdempotencyKeyInUse))
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

func TestAuthentication(t *testing.T) {
	env := newTestEnv(t, time.Second)
	routes := []req{
		{method: "POST", path: "/api/v1/account"},
		{method: "GET", path: "/api/v1/account"},
		{method: "POST", path: "/api/v1/account/top-up", body: `{"amount":1}`},
		{method: "POST", path: "/api/v1/orders", body: `{"amount":1}`},
		{method: "GET", path: "/api/v1/orders"},
		{method: "GET", path: "/api/v1/orders/" + uuid.NewString()},
	}
	users := map[string]string{
		"Missing":  "",
		"Empty":    " ",
		"TooLong":  strings.Repeat("a", 65),
		"BadChars": "alice;drop",
		"Unicode":  "алиса",
	}
	for _, r := range routes {
		for name, user := range users {
			t.Run(r.method+r.path+"/"+name, func(t *testing.T) {
				r := r
				r.headers = map[string]string{}
				if user != "" {
					r.headers[HeaderUserID] = user
				}
				wantError(t, env.do(t, r), 401, CodeUnauthenticated)
			})
		}
	}
	for _, m := range []string{"CreateAccount", "GetAccount", "TopUp"} {
		if n := env.payments.count(m); n != 0 {
			t.Errorf("payments %s called %d times by unauthenticated requests", m, n)
		}
	}
	for _, m := range []string{"CreateOrder", "GetOrder", "ListOrders"} {
		if n := env.orders.count(m); n != 0 {
			t.Errorf("orders %s called %d times by unauthenticated requests", m, n)
		}
	}
}

func TestRequestID(t *testing.T) {
	env := newTestEnv(t, time.Second)
	tests := []struct {
		name string
		r    req
		sent string
		echo bool
	}{
		{"EchoOnSuccess", req{method: "GET", path: "/healthz"}, "req-123", true},
		{"EchoOnUnauthenticated", req{method: "GET", path: "/api/v1/account"}, "0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f", true},
		{"EchoOnNotFound", req{method: "GET", path: "/nope"}, "abc", true},
		{"EchoOnBadRequest", req{method: "POST", path: "/api/v1/orders", user: "alice", body: `{`}, "abc", true},
		{"GeneratedWhenAbsent", req{method: "GET", path: "/healthz"}, "", false},
		{"GeneratedWhenInsane", req{method: "GET", path: "/healthz"}, "has spaces in it", false},
		{"GeneratedWhenTooLong", req{method: "GET", path: "/healthz"}, strings.Repeat("x", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if tt.sent != "" {
				r.headers = map[string]string{HeaderRequestID: tt.sent}
			}
			got := env.do(t, r).Header().Get(HeaderRequestID)
			if tt.echo {
				if got != tt.sent {
					t.Errorf("%s = %q, want %q", HeaderRequestID, got, tt.sent)
				}
				return
			}
			if _, err := uuid.Parse(got); err != nil || got == tt.sent {
				t.Errorf("%s = %q, want a generated UUID", HeaderRequestID, got)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	env := newTestEnv(t, time.Second)
	big := `{"amount":1,"description":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	t.Run("DeclaredLength", func(t *testing.T) {
		wantError(t, env.do(t, req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: big}), 413, CodePayloadTooLarge)
	})
	t.Run("Chunked", func(t *testing.T) {
		hr := httptest.NewRequest("POST", "/api/v1/orders", io.MultiReader(strings.NewReader(big)))
		hr.ContentLength = -1
		hr.Header.Set(HeaderUserID, "alice")
		rec := httptest.NewRecorder()
		env.handler.ServeHTTP(rec, hr)
		wantError(t, rec, 413, CodePayloadTooLarge)
	})
	t.Run("JustUnderLimit", func(t *testing.T) {
		body := `{"amount":1,"description":"x"}`
		body += strings.Repeat(" ", MaxBodyBytes-len(body))
		rec := env.do(t, req{method: "POST", path: "/api/v1/orders", user: "alice", body: body})
		if rec.Code != 201 {
			t.Errorf("status = %d, want 201: %s", rec.Code, rec.Body)
		}
	})
	if n := env.orders.count("CreateOrder"); n != 1 {
		t.Errorf("CreateOrder calls = %d, want 1", n)
	}
}

func TestRoutingErrors(t *testing.T) {
	env := newTestEnv(t, time.Second)
	wantError(t, env.do(t, req{method: "GET", path: "/api/v1/nope", user: "alice"}), 404, CodeNotFound)
	wantError(t, env.do(t, req{method: "GET", path: "/"}), 404, CodeNotFound)
	wantError(t, env.do(t, req{method: "GET", path: "/api/v1/orders/", user: "alice"}), 404, CodeNotFound)
	wantError(t, env.do(t, req{method: "DELETE", path: "/api/v1/account", user: "alice"}), 405, CodeMethodNotAllowed)
	wantError(t, env.do(t, req{method: "PUT", path: "/api/v1/orders", user: "alice"}), 405, CodeMethodNotAllowed)
}

func TestBackendFailures(t *testing.T) {
	const secret = `pq: password authentication failed for user "shop" at 10.1.2.3`
	tests := []struct {
		name       string
		setup      func(env *testEnv)
		r          req
		wantStatus int
		wantCode   string
	}{
		{"Internal", func(env *testEnv) { env.payments.fail("GetAccount", status.Error(codes.Internal, secret)) },
			req{method: "GET", path: "/api/v1/account", user: "alice"}, 500, CodeInternal},
		{"Unknown", func(env *testEnv) { env.orders.fail("ListOrders", status.Error(codes.Unknown, secret)) },
			req{method: "GET", path: "/api/v1/orders", user: "alice"}, 500, CodeInternal},
		{"Unavailable", func(env *testEnv) { env.orders.fail("CreateOrder", status.Error(codes.Unavailable, secret)) },
			req{method: "POST", path: "/api/v1/orders", user: "alice", body: `{"amount":1}`}, 503, CodeUnavailable},
		{"Slow", func(env *testEnv) { env.payments.stall("CreateAccount", time.Minute) },
			req{method: "POST", path: "/api/v1/account", user: "alice"}, 503, CodeUnavailable},
		{"Down", func(env *testEnv) { env.ordersServer.Stop() },
			req{method: "GET", path: "/api/v1/orders/" + uuid.NewString(), user: "alice"}, 503, CodeUnavailable},
		{"MalformedOrder", func(env *testEnv) {
			env.orders.corrupt = &ordersv1.Order{Id: "x", Status: ordersv1.OrderStatus_ORDER_STATUS_UNSPECIFIED}
		}, req{method: "GET", path: "/api/v1/orders/" + uuid.NewString(), user: "alice"}, 500, CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, 200*time.Millisecond)
			tt.setup(env)
			start := time.Now()
			rec := env.do(t, tt.r)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s; a failing backend must not hang the request", d)
			}
			got := wantError(t, rec, tt.wantStatus, tt.wantCode)
			if strings.Contains(rec.Body.String(), "10.1.2.3") || strings.Contains(got.Message, "pq:") {
				t.Errorf("body leaks internal details: %s", rec.Body)
			}
			if n := strings.Count(env.logs.String(), "request failed"); n != 1 {
				t.Errorf("failure logged %d times, want once:\n%s", n, env.logs)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	env := newTestEnv(t, 500*time.Millisecond)
	wantJSON(t, env.do(t, req{method: "GET", path: "/healthz"}), 200, `{"status":"ok"}`)
	wantJSON(t, env.do(t, req{method: "GET", path: "/readyz"}), 200, `{"status":"ok"}`)

	env.paymentsHealth.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	wantError(t, env.do(t, req{method: "GET", path: "/readyz"}), 503, CodeUnavailable)
	env.paymentsHealth.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	wantJSON(t, env.do(t, req{method: "GET", path: "/readyz"}), 200, `{"status":"ok"}`)

	env.ordersServer.Stop()
	start := time.Now()
	wantError(t, env.do(t, req{method: "GET", path: "/readyz"}), 503, CodeUnavailable)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("readyz took %s with a backend down", d)
	}
	wantJSON(t, env.do(t, req{method: "GET", path: "/healthz"}), 200, `{"status":"ok"}`)
}

func TestSwagger(t *testing.T) {
	env := newTestEnv(t, time.Second)
	rec := env.do(t, req{method: "GET", path: "/swagger/index.html"})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "swagger-ui") {
		t.Errorf("index.html = %d, want the Swagger UI page", rec.Code)
	}
	rec = env.do(t, req{method: "GET", path: "/swagger/doc.json"})
	if rec.Code != 200 {
		t.Fatalf("doc.json = %d", rec.Code)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("doc.json: %v", err)
	}
	want := map[string]map[string][]string{
		"/api/v1/account":        {"post": {"201", "401", "409", "500", "503"}, "get": {"200", "401", "404", "500", "503"}},
		"/api/v1/account/top-up": {"post": {"200", "400", "401", "404", "409", "413", "422", "500", "503"}},
		"/api/v1/orders":         {"post": {"201", "400", "401", "409", "413", "422", "500", "503"}, "get": {"200", "400", "401", "500", "503"}},
		"/api/v1/orders/{id}":    {"get": {"200", "400", "401", "404", "500", "503"}},
		"/healthz":               {"get": {"200"}},
		"/readyz":                {"get": {"200", "503"}},
	}
	for path, methods := range want {
		for method, codes := range methods {
			op, ok := doc.Paths[path][method]
			if !ok {
				t.Errorf("doc has no %s %s", method, path)
				continue
			}
			for _, c := range codes {
				if _, ok := op.Responses[c]; !ok {
					t.Errorf("%s %s documents no %s response", method, path, c)
				}
			}
		}
	}
}

func TestRecoverPanic(t *testing.T) {
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(requestID(), recoverPanic(logger))
	r.GET("/boom", func(*gin.Context) { panic("secret state") })
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	wantError(t, rec, 500, CodeInternal)
	if strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("500 body leaks the panic: %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "secret state") {
		t.Errorf("panic not logged: %s", logs)
	}
	if rec.Header().Get(HeaderRequestID) == "" {
		t.Error("500 has no request id")
	}
}
