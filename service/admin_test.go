package service_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"shop/service"
	"shop/service/grpctls"
)

// echo is a gRPC service whose unary method Echo answers an empty message;
// only TestRunServesAdmin calls it, so its metrics are this test's alone.
var echo = grpc.ServiceDesc{
	ServiceName: "test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(context.Context, any) (any, error) { return &emptypb.Empty{}, nil }
			if interceptor == nil {
				return h(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/test.Echo/Echo"}, h)
		},
	}},
}

func get(t *testing.T, url string) (int, string) {
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

// The admin listener serves /metrics, with the gRPC server metrics of the
// calls made, and /debug/pprof/, on its own address; it stops with Run.
func TestRunServesAdmin(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready, adminReady := make(chan string, 1), make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- service.Run(ctx, service.Spec{
			Name:            "test",
			Addr:            "127.0.0.1:0",
			AdminAddr:       "127.0.0.1:0",
			AdminEnv:        "TEST_ADMIN_ADDR",
			Service:         &echo,
			Impl:            struct{}{},
			GRPC:            grpctls.Server{Insecure: true},
			ShutdownTimeout: time.Second,
			Ready:           func(addr string) { ready <- addr },
			AdminReady:      func(addr string) { adminReady <- addr },
			Logger:          slog.New(slog.DiscardHandler),
		})
	}()
	var addr, admin string
	select {
	case addr = <-ready:
		admin = <-adminReady
	case err := <-done:
		t.Fatalf("Run() = %v before serving", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run() not serving after 30s")
	}
	if admin == addr {
		t.Fatalf("admin address %s is the gRPC address", admin)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Invoke(ctx, "/test.Echo/Echo", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
		t.Fatalf("Echo: %v", err)
	}

	code, body := get(t, "http://"+admin+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Echo",grpc_service="test.Echo",grpc_type="unary"} 1`,
		`grpc_server_handling_seconds_count{grpc_method="Echo",grpc_service="test.Echo",grpc_type="unary"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	code, body = get(t, "http://"+admin+"/debug/pprof/")
	if code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ = %d, want 200 listing the goroutine profile", code)
	}
	code, _ = get(t, "http://"+admin+"/debug/pprof/goroutine?debug=1")
	if code != http.StatusOK {
		t.Errorf("/debug/pprof/goroutine = %d, want 200", code)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run() after cancel = %v", err)
	}
	if _, err := http.Get("http://" + admin + "/metrics"); err == nil {
		t.Error("admin listener still answers after Run returned")
	}
}

// An admin address that cannot be listened on fails Run, naming its
// variable, and leaves the gRPC address free.
func TestRunAdminAddrTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcAddr := free.Addr().String()
	free.Close()

	err = service.Run(context.Background(), service.Spec{
		Name:      "test",
		Addr:      grpcAddr,
		AdminAddr: taken.Addr().String(),
		AdminEnv:  "TEST_ADMIN_ADDR",
		Service:   &echo,
		Impl:      struct{}{},
		GRPC:      grpctls.Server{Insecure: true},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err == nil || !strings.Contains(err.Error(), "TEST_ADMIN_ADDR") {
		t.Fatalf("Run() = %v, want an error naming TEST_ADMIN_ADDR", err)
	}
	ln, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		t.Fatalf("gRPC address still held after Run failed: %v", err)
	}
	ln.Close()
}
