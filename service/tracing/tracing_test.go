package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"shop/service/tracing"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestSetup(t *testing.T) {
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	for _, tc := range []struct {
		name      string
		env       map[string]string
		exporting bool
		err       bool
	}{
		{name: "NoEndpoint", env: map[string]string{}},
		{name: "EmptyEndpoint", env: map[string]string{tracing.EnvEndpoint: " "}},
		{name: "OtherVarsOnly", env: map[string]string{tracing.EnvProtocol: "grpc", "OTEL_SERVICE_NAME": "x"}},
		{name: "Endpoint", env: map[string]string{tracing.EnvEndpoint: "http://127.0.0.1:4318"}, exporting: true},
		{name: "TracesEndpoint", env: map[string]string{tracing.EnvTracesEndpoint: "http://127.0.0.1:4318/v1/traces"}, exporting: true},
		{name: "GRPC", env: map[string]string{tracing.EnvEndpoint: "http://127.0.0.1:4317", tracing.EnvProtocol: "grpc"}, exporting: true},
		{name: "ErrProtocol", env: map[string]string{tracing.EnvEndpoint: "http://127.0.0.1:4317", tracing.EnvProtocol: "carrier-pigeon"}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p, err := tracing.Setup(ctx, "test", env(tc.env))
			if tc.err {
				if err == nil {
					t.Fatal("Setup succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				// Nothing listens at the endpoint: do not wait for the export.
				sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				defer cancel()
				_ = p.Shutdown(sctx)
			}()
			if got := p.Exporting(); got != tc.exporting {
				t.Errorf("Exporting() = %v, want %v", got, tc.exporting)
			}
			// Without an exporter spans still get ids and propagate.
			ctx, span := tracing.Tracer().Start(ctx, "op")
			defer span.End()
			if !span.SpanContext().IsValid() {
				t.Error("span context invalid, want ids from the installed provider")
			}
			if tracing.Traceparent(ctx) == "" {
				t.Error("Traceparent empty within a span")
			}
			// Recording costs: only what is exported is recorded.
			if got := span.IsRecording(); got != tc.exporting {
				t.Errorf("span recording = %v, want %v (recorded only when exported)", got, tc.exporting)
			}
		})
	}
}

func TestTraceparentRoundTrip(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	ctx, parent := tp.Tracer("t").Start(context.Background(), "producer")
	defer parent.End()
	traceparent := tracing.Traceparent(ctx)
	want := "00-" + parent.SpanContext().TraceID().String() + "-" + parent.SpanContext().SpanID().String() + "-01"
	if traceparent != want {
		t.Fatalf("Traceparent = %q, want %q", traceparent, want)
	}
	if got := tracing.Traceparent(context.Background()); got != "" {
		t.Errorf("Traceparent without a span = %q, want empty", got)
	}

	exp := tracetest.NewInMemoryExporter()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	_, span := tracing.StartConsumer(context.Background(), traceparent, "process topic")
	span.End()
	_, orphan := tracing.StartConsumer(context.Background(), "not a traceparent", "process topic")
	orphan.End()
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(spans))
	}
	got := spans[0]
	if got.SpanContext.TraceID() != parent.SpanContext().TraceID() || got.Parent.SpanID() != parent.SpanContext().SpanID() || !got.Parent.IsRemote() {
		t.Errorf("consumer span trace %s parent %s (remote %v), want trace %s parent %s remote",
			got.SpanContext.TraceID(), got.Parent.SpanID(), got.Parent.IsRemote(), parent.SpanContext().TraceID(), parent.SpanContext().SpanID())
	}
	if got.SpanKind.String() != "consumer" {
		t.Errorf("span kind %s, want consumer", got.SpanKind)
	}
	if o := spans[1]; o.Parent.IsValid() || o.SpanContext.TraceID() == parent.SpanContext().TraceID() {
		t.Errorf("span from an invalid traceparent has parent %v trace %s, want a new root", o.Parent, o.SpanContext.TraceID())
	}
}

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(tracing.LogHandler(slog.NewJSONHandler(&buf, nil))).With("service", "test")
	line := func() map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", buf.String(), err)
		}
		buf.Reset()
		return m
	}

	ctx, span := sdktrace.NewTracerProvider().Tracer("t").Start(context.Background(), "op")
	defer span.End()
	logger.InfoContext(ctx, "with span")
	m := line()
	if got, want := m[tracing.LogTraceID], span.SpanContext().TraceID().String(); got != want {
		t.Errorf("trace_id = %v, want %s", got, want)
	}
	if got, want := m[tracing.LogSpanID], span.SpanContext().SpanID().String(); got != want {
		t.Errorf("span_id = %v, want %s", got, want)
	}
	if m["service"] != "test" {
		t.Errorf("service = %v, want the attribute of With kept", m["service"])
	}

	for name, ctx := range map[string]context.Context{
		"NoSpan":        context.Background(),
		"RemoteInvalid": tracing.FromTraceparent(context.Background(), "00-00000000000000000000000000000000-0000000000000000-01"),
	} {
		logger.InfoContext(ctx, "without span")
		m := line()
		for _, k := range []string{tracing.LogTraceID, tracing.LogSpanID} {
			if v, ok := m[k]; ok {
				t.Errorf("%s: %s = %v, want absent", name, k, v)
			}
		}
	}
	logger.Info("no context")
	if m := line(); m[tracing.LogTraceID] != nil {
		t.Errorf("trace_id = %v on a line without context, want absent", m[tracing.LogTraceID])
	}
}

// TestSetupExportsOTLP: with OTEL_EXPORTER_OTLP_ENDPOINT set, the spans of
// the process reach the OTLP/HTTP endpoint, under the service's name.
func TestSetupExportsOTLP(t *testing.T) {
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	got := make(chan *coltracepb.ExportTraceServiceRequest, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		req := &coltracepb.ExportTraceServiceRequest{}
		if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
			t.Errorf("OTLP request %s %s: %v", r.Method, r.URL.Path, err)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		got <- req
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Write(b)
	}))
	defer srv.Close()
	t.Setenv(tracing.EnvEndpoint, srv.URL) // read by the exporter itself too

	ctx := context.Background()
	p, err := tracing.Setup(ctx, "shop-test", os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Exporting() {
		t.Fatal("Exporting() = false with an endpoint")
	}
	_, span := tracing.Tracer().Start(ctx, "exported op")
	span.End()
	if err := p.Shutdown(ctx); err != nil { // flushes
		t.Fatal(err)
	}
	select {
	case req := <-got:
		rs := req.GetResourceSpans()
		if len(rs) != 1 {
			t.Fatalf("%d resource spans, want 1", len(rs))
		}
		var service string
		for _, a := range rs[0].GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		if service != "shop-test" {
			t.Errorf("service.name = %q, want shop-test", service)
		}
		if ss := rs[0].GetScopeSpans(); len(ss) != 1 || len(ss[0].GetSpans()) != 1 || ss[0].GetSpans()[0].GetName() != "exported op" {
			t.Errorf("exported spans %v, want the one span \"exported op\"", ss)
		}
	default:
		t.Fatal("no OTLP export request received")
	}
}

// Off installs a provider that records nothing: no trace starts, and a
// caller's trace context passes through unchanged (no span of its own).
func TestOff(t *testing.T) {
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	p := tracing.Off()
	if p.Exporting() {
		t.Error("Off().Exporting() = true")
	}
	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, parent := range []string{"", caller} {
		ctx, span := tracing.StartConsumer(context.Background(), parent, "process")
		if got := tracing.Traceparent(ctx); got != parent {
			t.Errorf("under %q: Traceparent = %q, want the caller's", parent, got)
		}
		if span.IsRecording() {
			t.Errorf("under %q: the span records", parent)
		}
		span.End()
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() = %v", err)
	}
}
