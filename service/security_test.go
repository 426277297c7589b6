package service_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"shop/service"
	"shop/service/grpctls"
	"shop/service/pki"
)

// secured is a service with no methods: the calls of these tests go to
// the health and reflection services beside it.
var secured = grpc.ServiceDesc{ServiceName: "test.Secured", HandlerType: (*any)(nil)}

// runSecured runs secured with sec and an admin listener until the test
// ends, and returns the gRPC and admin addresses.
func runSecured(t *testing.T, sec grpctls.Server) (addr, admin string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready, adminReady := make(chan string, 1), make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- service.Run(ctx, service.Spec{
			Name: "test", Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", AdminEnv: "TEST_ADMIN_ADDR",
			Service: &secured, Impl: struct{}{}, GRPC: sec, ShutdownTimeout: time.Second,
			Ready: func(a string) { ready <- a }, AdminReady: func(a string) { adminReady <- a },
			Logger: slog.New(slog.DiscardHandler), NoTelemetry: true,
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
	select {
	case admin = <-adminReady:
		addr = <-ready
	case err := <-done:
		t.Fatalf("Run() = %v before serving", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run() not serving after 30s")
	}
	return addr, admin
}

func dialWith(t *testing.T, addr string, c grpctls.Client) *grpc.ClientConn {
	t.Helper()
	creds, err := grpctls.ClientCredentials(c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func health(conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return status.Errorf(codes.Unknown, "status %s", resp.GetStatus())
	}
	return err
}

// reflect lists the services through reflection.
func reflect(conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil && err != io.EOF {
		return err
	}
	_, err = stream.Recv()
	return err
}

// The service port takes mutual TLS from the allowed callers only,
// reflection is off unless turned on, and the health service answers in
// plaintext on the admin listener for probes.
func TestRunMutualTLS(t *testing.T) {
	ids, err := pki.Ensure(t.TempDir(), "gateway", "orders", "payments")
	if err != nil {
		t.Fatal(err)
	}
	files := func(name string) grpctls.Files { return ids[name].Files() }
	sec := grpctls.Server{Files: files("payments"), AllowedClients: []string{"gateway"}}
	addr, admin := runSecured(t, sec)
	gateway := dialWith(t, addr, grpctls.Client{Files: files("gateway")})

	for _, tc := range []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"Gateway", func() error { return health(gateway) }, codes.OK},
		{"ErrOrdersIdentity", func() error { return health(dialWith(t, addr, grpctls.Client{Files: files("orders")})) }, codes.PermissionDenied},
		{"ErrPlaintext", func() error { return health(dialWith(t, addr, grpctls.Client{Insecure: true})) }, codes.Unavailable},
		{"ErrReflectionOffByDefault", func() error { return reflect(gateway) }, codes.Unimplemented},
		{"AdminHealthInPlaintext", func() error { return health(dialWith(t, admin, grpctls.Client{Insecure: true})) }, codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); status.Code(err) != tc.code {
				t.Errorf("got %v, want %s", err, tc.code)
			}
		})
	}
	if code, _ := get(t, "http://"+admin+"/metrics"); code != 200 {
		t.Errorf("admin /metrics over HTTP/1.1 beside the health service: %d, want 200", code)
	}

	t.Run("ReflectionOn", func(t *testing.T) {
		on := sec
		on.Reflection = true
		addr, _ := runSecured(t, on)
		if err := reflect(dialWith(t, addr, grpctls.Client{Files: files("gateway")})); err != nil {
			t.Errorf("reflection with GRPC_REFLECTION=true: %v", err)
		}
	})
}

// Without GRPC_INSECURE=true and without the files, a service refuses to
// start.
func TestRunRefusesNoTransportSecurity(t *testing.T) {
	err := service.Run(context.Background(), service.Spec{
		Name: "test", Addr: "127.0.0.1:0", Service: &secured, Impl: struct{}{},
		GRPC: grpctls.Server{AllowedClients: []string{"gateway"}}, Logger: slog.New(slog.DiscardHandler),
	})
	if err == nil || !strings.Contains(err.Error(), "GRPC_INSECURE=true") {
		t.Errorf("Run() = %v, want an error naming the TLS files and GRPC_INSECURE", err)
	}
}
