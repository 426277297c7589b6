package httpapi

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"google.golang.org/grpc"

	"shop/gateway/sse"
	ordersv1 "shop/proto/orders/v1"
	paymentsv1 "shop/proto/payments/v1"
)

// A stream's connection gets TCP_USER_TIMEOUT: a client that vanished
// without closing is noticed within StreamUserTimeout.
func TestStreamConnectionHasAUserTimeout(t *testing.T) {
	srv := grpc.NewServer()
	ordersv1.RegisterOrderServiceServer(srv, &fakeWatch{script: []watchStep{{seq: 3}}})
	conn := serve(t, srv)
	h, err := NewRouter(Options{Orders: ordersv1.NewOrderServiceClient(conn), Payments: paymentsv1.NewPaymentServiceClient(conn),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}
	ts.Start()
	defer ts.Close()

	req, err := http.NewRequest("GET", ts.URL+"/api/v1/orders/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(HeaderUserID, "alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil { // the stream has started
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1", len(conns))
	}
	got, err := sse.UserTimeout(conns[0])
	if err != nil {
		t.Fatal(err)
	}
	if got != StreamUserTimeout {
		t.Errorf("TCP_USER_TIMEOUT %s, want %s", got, StreamUserTimeout)
	}
}
