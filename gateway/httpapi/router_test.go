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

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

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

func newTestEnv(t *testing.T, timeout time.Duration, with ...func(*Options)) *testEnv {
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
	opts := Options{
		Orders:   ordersv1.NewOrderServiceClient(ordersConn),
		Payments: paymentsv1.NewPaymentServiceClient(paymentsConn),
		Probes: []Probe{
			GRPCHealthProbe("orders", ordersConn),
			GRPCHealthProbe("payments", paymentsConn),
		},
		Logger:         slog.New(slog.NewTextHandler(env.logs, nil)),
		BackendTimeout: timeout,
	}
	for _, w := range with {
		w(&opts)
	}
	h, err := NewRouter(opts)
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

func TestRoutingErrors(t *testing.T) {
	env := newTestEnv(t, time.Second)
	wantError(t, env.do(t, req{method: "GET", path: "/api/v1/nope", user: "alice"}), 404, CodeNotFound)
	wantError(t, env.do(t, req{method: "GET", path: "/"}), 404, CodeNotFound)
	wantError(t, env.do(t, req{method: "GET", path: "/api/v1/orders/", user: "alice"}), 404, CodeNotFound)
	wantError(t, env.do(t, req{method: "DELETE", path: "/api/v1/account", user: "alice"}), 405, CodeMethodNotAllowed)
	wantError(t, env.do(t, req{method: "PUT", path: "/api/v1/orders", user: "alice"}), 405, CodeMethodNotAllowed)
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
