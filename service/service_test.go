package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"shop/service"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// panicker is a gRPC service whose unary method Panic and server-streaming
// method PanicStream panic, as a handler with a bug does.
var panicker = grpc.ServiceDesc{
	ServiceName: "test.Panicker",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Panic",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(context.Context, any) (any, error) { panic("unary handler bug") }
			if interceptor == nil {
				return h(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/test.Panicker/Panic"}, h)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "PanicStream",
		ServerStreams: true,
		Handler:       func(any, grpc.ServerStream) error { panic("stream handler bug") },
	}},
}

// runPanicker runs the panicker service with spec's Logger and
// NoTelemetry until ctx is done, and returns a client connection to it and
// the channel of Run's result.
func runPanicker(ctx context.Context, t *testing.T, spec service.Spec) (*grpc.ClientConn, <-chan error) {
	t.Helper()
	return runService(ctx, t, &panicker, spec)
}

// runService runs desc (with no implementation behind it: its handlers
// stand alone) as runPanicker runs the panicker.
func runService(ctx context.Context, t *testing.T, desc *grpc.ServiceDesc, spec service.Spec) (*grpc.ClientConn, <-chan error) {
	t.Helper()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	spec.Name, spec.Addr, spec.Service, spec.Impl = "test", "127.0.0.1:0", desc, struct{}{}
	spec.ShutdownTimeout, spec.Ready = time.Second, func(addr string) { ready <- addr }
	spec.GRPC.Insecure = true
	go func() { done <- service.Run(ctx, spec) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run() = %v before serving", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run() not serving after 30s")
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, done
}

// A handler's panic fails its call with Internal "internal error", is
// logged once with its stack, and the server keeps serving.
func TestRunRecoversPanics(t *testing.T) {
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	conn, done := runPanicker(ctx, t, service.Spec{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})

	wantInternal := func(what string, err error) {
		t.Helper()
		if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "internal error" {
			t.Errorf("%s: got %v, want Internal \"internal error\"", what, err)
		}
	}
	for range 2 {
		err := conn.Invoke(ctx, "/test.Panicker/Panic", &emptypb.Empty{}, &emptypb.Empty{})
		wantInternal("unary call", err)
	}
	stream, err := conn.NewStream(ctx, &panicker.Streams[0], "/test.Panicker/PanicStream")
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(&emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	wantInternal("stream", stream.RecvMsg(&emptypb.Empty{}))

	// Still serving, and still the same process.
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: panicker.ServiceName})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health after the panics: %v, %v; want SERVING", resp.GetStatus(), err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v, want nil after a stop asked for", err)
	}

	// One log record per panic, with method, value and stack.
	want := map[string]int{"/test.Panicker/Panic": 2, "/test.Panicker/PanicStream": 1}
	got := map[string]int{}
	for line := range strings.Lines(logs.String()) {
		var rec struct{ Msg, Method, Panic, Stack string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg != "handler panicked" {
			continue
		}
		got[rec.Method]++
		if !strings.Contains(rec.Panic, "handler bug") || !strings.Contains(rec.Stack, "service_test.go") {
			t.Errorf("panic logged as %q with stack %q; want the panic value and a stack through the handler", rec.Panic, rec.Stack)
		}
	}
	for m, n := range want {
		if got[m] != n {
			t.Errorf("log records of panics in %s: got %d, want %d (all: %v)", m, got[m], n, got)
		}
	}
}

// goroutineService's unary method GoroutineID answers with the id of the
// goroutine that ran its handler.
var goroutineService = grpc.ServiceDesc{
	ServiceName: "test.Goroutines",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "GoroutineID",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(context.Context, any) (any, error) {
				buf := make([]byte, 64)
				buf = buf[:runtime.Stack(buf, false)] // "goroutine 123 [running]:..."
				id, _, _ := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
				return wrapperspb.String(id), nil
			}
			if interceptor == nil {
				return h(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/test.Goroutines/GoroutineID"}, h)
		},
	}},
}

// Calls run on a pool of worker goroutines, which keep their grown stacks,
// not on a new goroutine each (grpc-go's default without stream workers).
func TestRunReusesHandlerGoroutines(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	conn, done := runService(ctx, t, &goroutineService, service.Spec{Logger: slog.New(slog.DiscardHandler)})

	const calls = 200
	ids := map[string]bool{}
	for range calls {
		var id wrapperspb.StringValue
		if err := conn.Invoke(ctx, "/test.Goroutines/GoroutineID", &emptypb.Empty{}, &id); err != nil {
			t.Fatal(err)
		}
		ids[id.GetValue()] = true
	}
	// One after another, every call finds a worker waiting; a goroutine per
	// call would give 200 ids.
	if len(ids) > calls/4 {
		t.Errorf("%d sequential calls ran on %d goroutines, want a few workers reused", calls, len(ids))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v, want nil after a stop asked for", err)
	}
}
