package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	orders "shop/orders/app"
	payments "shop/payments/app"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service"
	"shop/service/grpctls"
	"shop/service/pki"
	schema "shop/sql"
	"shop/stack/local"
	"shop/stack/stacktest"
)

// startGateway runs Run in the background and returns its base URL and a
// function that stops it and returns Run's error.
func startGateway(t *testing.T, cfg Config) (string, func() error) {
	t.Helper()
	base, _, stop := startGatewayAdmin(t, cfg)
	return base, stop
}

// startGatewayAdmin is startGateway that also returns the base URL of the
// admin listener, on a free port.
func startGatewayAdmin(t *testing.T, cfg Config) (string, string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready, adminReady := make(chan net.Addr, 1), make(chan net.Addr, 1)
	cfg.Ready = func(a net.Addr) { ready <- a }
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.AdminReady = func(a net.Addr) { adminReady <- a }
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	var stopped bool
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return errors.New("Run did not return after cancel")
		}
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case a := <-ready:
		return "http://" + a.String(), "http://" + (<-adminReady).String(), stop
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway not ready in 10s")
	}
	return "", "", nil
}

func TestRunServesAndShutsDown(t *testing.T) {
	cfg := headerConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Orders.GRPCAddr, cfg.Payments.GRPCAddr = stacktest.FreeAddr(t), stacktest.FreeAddr(t)
	cfg.BackendTimeout = time.Second
	base, stop := startGateway(t, cfg)

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz = %d, want 200", resp.StatusCode)
	}

	// Both backends are down: not ready, and a call fails fast with 503.
	for _, path := range []string{"/readyz", "/api/v1/account"} {
		start := time.Now()
		r, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("X-User-ID", "alice")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 {
			t.Errorf("%s = %d %s, want 503", path, resp.StatusCode, body)
		}
		var e struct{ Error struct{ Code string } }
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "UNAVAILABLE" {
			t.Errorf("%s body %s, want code UNAVAILABLE", path, body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s took %s with backends down", path, d)
		}
	}

	if err := stop(); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

// requestCount sums, over the status codes, the http_requests_total samples
// of method and route in the /metrics text body.
func requestCount(t *testing.T, body, method, route string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^http_requests_total\{code="\d+",method="` + method + `",route="` + regexp.QuoteMeta(route) + `"\} (\S+)$`)
	var sum float64
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", m[0], err)
		}
		sum += v
	}
	return sum
}

// getBody returns the status and body of GET url.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// The admin listener serves the request metrics by route template, never
// the raw path, and pprof; the public port serves neither.
func TestRunServesMetricsOnAdmin(t *testing.T) {
	cfg := headerConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Orders.GRPCAddr, cfg.Payments.GRPCAddr = stacktest.FreeAddr(t), stacktest.FreeAddr(t)
	cfg.BackendTimeout = time.Second
	base, admin, _ := startGatewayAdmin(t, cfg)
	if base == admin {
		t.Fatalf("admin address %s is the public one", admin)
	}

	const route = "/api/v1/orders/:id"
	_, before := getBody(t, admin+"/metrics")
	r, err := http.NewRequest("GET", base+"/api/v1/orders/raw-path-7f3a", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("X-User-ID", "alice")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	getBody(t, base+"/no/such/route")

	code, after := getBody(t, admin+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("admin /metrics = %d, want 200", code)
	}
	if got, want := requestCount(t, after, "GET", route), requestCount(t, before, "GET", route)+1; got != want {
		t.Errorf("http_requests_total{method=GET,route=%s} = %v, want %v", route, got, want)
	}
	if requestCount(t, after, "GET", "unmatched") < 1 {
		t.Error(`no http_requests_total{route="unmatched"} after a request to no route`)
	}
	if !strings.Contains(after, `http_request_duration_seconds_count{code="`+strconv.Itoa(resp.StatusCode)+`",method="GET",route="`+route+`"}`) {
		t.Errorf("/metrics lacks the duration histogram of GET %s", route)
	}
	if strings.Contains(after, "raw-path-7f3a") || strings.Contains(after, "/no/such/route") {
		t.Error("/metrics shows a raw request path")
	}
	if code, body := getBody(t, admin+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("admin /debug/pprof/ = %d, want 200 listing the goroutine profile", code)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if code, _ := getBody(t, base+path); code != http.StatusNotFound {
			t.Errorf("public %s = %d, want 404", path, code)
		}
	}
}

func TestRunErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	bad := headerConfig()
	bad.BackendTimeout = 0
	busy := headerConfig()
	busy.HTTPAddr = taken.Addr().String()
	adminBusy := headerConfig()
	adminBusy.HTTPAddr = "127.0.0.1:0"
	adminBusy.Admin.Addr = taken.Addr().String()

	tests := []struct {
		name    string
		cfg     Config
		logger  *slog.Logger
		wantErr string
	}{
		{"InvalidConfig", bad, slog.New(slog.DiscardHandler), "GATEWAY_BACKEND_TIMEOUT"},
		{"PortTaken", busy, slog.New(slog.DiscardHandler), "GATEWAY_HTTP_ADDR"},
		{"AdminPortTaken", adminBusy, slog.New(slog.DiscardHandler), "GATEWAY_ADMIN_ADDR"},
		{"NoLogger", headerConfig(), nil, "logger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(context.Background(), tt.cfg, tt.logger)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Run = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// instance is a backend service running in this process until stop.
type instance struct {
	addr string
	stop func() error
}

// startInstance runs run (payments.Run or orders.Run) with a Ready callback
// set by setReady, and returns once it serves.
func startInstance(t *testing.T, run func(ctx context.Context) error, ready <-chan string) instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var stopped bool
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("instance did not stop 30s after cancel")
		}
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case addr := <-ready:
		return instance{addr: addr, stop: stop}
	case err := <-done:
		t.Fatalf("instance stopped before serving: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("instance not serving after a minute")
	}
	return instance{}
}

// balanceVia reads alice's balance through the gateway at base; it fails
// the test on any answer but 200.
func balanceVia(t *testing.T, base string) int64 {
	t.Helper()
	r, err := http.NewRequest("GET", base+"/api/v1/account", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("X-User-ID", "alice")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/account = %d %s, want 200", resp.StatusCode, body)
	}
	var acc struct{ Balance int64 }
	if err := json.Unmarshal(body, &acc); err != nil {
		t.Fatal(err)
	}
	return acc.Balance
}

// With ORDERS_GRPC_ADDR or PAYMENTS_GRPC_ADDR a list, the gateway balances
// round robin over the instances, and while one is stopped the others take
// every call. Every hop is mutual TLS: the gateway verifies each payments
// instance as "payments", the name of the list. The two payments instances here have a database each, with
// alice's balance 100 in one and 200 in the other, so that a balance shows
// which instance answered.
func TestRunBalancesOverInstances(t *testing.T) {
	env := stacktest.Get(t)
	kafka := env.Kafka(local.KafkaPayments)
	topics := service.Topics{Orders: env.NewTopic(t, "orders.events"), Payments: env.NewTopic(t, "payments.events")}
	logger := stacktest.Logger()
	group := stacktest.Unique("payments-")
	ids, err := pki.Ensure(t.TempDir(), "gateway", "orders", "payments")
	if err != nil {
		t.Fatal(err)
	}
	files := func(name string) grpctls.Files { return ids[name].Files() }
	gatewayCreds, err := grpctls.ClientCredentials(grpctls.Client{Files: files("gateway")}, logger)
	if err != nil {
		t.Fatal(err)
	}
	var instances []instance
	for i, balance := range []int64{100, 200} {
		cfg := payments.DefaultConfig()
		cfg.GRPC = grpctls.Server{Files: files("payments"), AllowedClients: []string{"gateway"}}
		cfg.Endpoint.GRPCAddr = "127.0.0.1:0"
		cfg.Admin.Addr = "127.0.0.1:0"
		cfg.DatabaseURL = service.DatabaseURL(env.NewDatabase(t, schema.Payments).URL)
		cfg.Kafka, cfg.Topics, cfg.ConsumerGroup = kafka, topics, group
		ready := make(chan string, 1)
		cfg.Ready = func(addr string) { ready <- addr }
		in := startInstance(t, func(ctx context.Context) error {
			return payments.Run(ctx, cfg, logger.With("instance", i))
		}, ready)
		instances = append(instances, in)
		conn, err := grpc.NewClient(in.addr, grpc.WithTransportCredentials(gatewayCreds))
		if err != nil {
			t.Fatal(err)
		}
		client := paymentsv1.NewPaymentServiceClient(conn)
		ctx := context.Background()
		if _, err := client.CreateAccount(ctx, &paymentsv1.CreateAccountRequest{UserId: "alice"}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.TopUp(ctx, &paymentsv1.TopUpRequest{UserId: "alice", Amount: balance}); err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	ocfg := orders.DefaultConfig()
	ocfg.GRPC = grpctls.Server{Files: files("orders"), AllowedClients: []string{"gateway"}}
	ocfg.Endpoint.GRPCAddr = "127.0.0.1:0"
	ocfg.Admin.Addr = "127.0.0.1:0"
	ocfg.DatabaseURL = service.DatabaseURL(env.NewDatabase(t, schema.Orders).URL)
	ocfg.Kafka, ocfg.Topics, ocfg.ConsumerGroup = kafka, topics, stacktest.Unique("orders-")
	oready := make(chan string, 1)
	ocfg.Ready = func(addr string) { oready <- addr }
	ordersInstance := startInstance(t, func(ctx context.Context) error { return orders.Run(ctx, ocfg, logger) }, oready)

	cfg := headerConfig()
	cfg.GRPC = grpctls.Client{Files: files("gateway")}
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Orders.GRPCAddr = ordersInstance.addr
	cfg.Payments.GRPCAddr = instances[0].addr + "," + instances[1].addr
	// alice's balance is read every 20 ms until both instances answered,
	// then 20 times: more than a shopper's rate, so no rate limit.
	cfg.RateLimit = 0
	base, _ := startGateway(t, cfg)

	seen := map[int64]bool{}
	stacktest.WaitFor(t, 20*time.Second, "calls answered by both instances", func() bool {
		seen[balanceVia(t, base)] = true
		return seen[100] && seen[200]
	})

	if err := instances[0].stop(); err != nil {
		t.Fatalf("stop instance 0: %v", err)
	}
	for range 20 {
		if got := balanceVia(t, base); got != 200 {
			t.Fatalf("balance %d with instance 0 stopped, want 200 (instance 1)", got)
		}
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/readyz = %d with one payments instance of two, want 200", resp.StatusCode)
	}
}
