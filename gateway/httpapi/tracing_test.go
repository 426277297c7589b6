package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"shop/service/tracing"
)

// TestTraceRequest: a span per request, named after its route, the child
// of the caller's traceparent; the span's traceparent on the response; the
// access log line carries its trace and span ids; a 5xx fails the span.
func TestTraceRequest(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	var logs syncBuffer
	logger := slog.New(tracing.LogHandler(slog.NewJSONHandler(&logs, nil)))
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(traceRequest(), accessLog(logger))
	r.GET("/items/:id", func(c *gin.Context) {
		if c.Param("id") == "broken" {
			c.Status(http.StatusBadGateway)
			return
		}
		c.Status(http.StatusOK)
	})

	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	tests := []struct {
		name, path, traceparent string
		wantName                string
		wantStatus              codes.Code
		wantChildOfCaller       bool
	}{
		{name: "OKWithCaller", path: "/items/1", traceparent: "00-" + callerTrace + "-" + callerSpan + "-01",
			wantName: "GET /items/:id", wantChildOfCaller: true},
		{name: "OKNewTrace", path: "/items/2", wantName: "GET /items/:id"},
		{name: "InvalidTraceparentNewTrace", path: "/items/3", traceparent: "00-zz-" + callerSpan + "-01", wantName: "GET /items/:id"},
		{name: "NoRoute", path: "/nowhere", wantName: "GET"},
		{name: "ServerErrorFailsSpan", path: "/items/broken", wantName: "GET /items/:id", wantStatus: codes.Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp.Reset()
			req := httptest.NewRequest("GET", tt.path, nil)
			if tt.traceparent != "" {
				req.Header.Set("traceparent", tt.traceparent)
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)

			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("got %d spans, want 1", len(spans))
			}
			sp := spans[0]
			if sp.Name != tt.wantName || sp.SpanKind != trace.SpanKindServer || sp.Status.Code != tt.wantStatus {
				t.Errorf("span %q kind %s status %s, want %q server %s", sp.Name, sp.SpanKind, sp.Status.Code, tt.wantName, tt.wantStatus)
			}
			childOfCaller := sp.SpanContext.TraceID().String() == callerTrace && sp.Parent.SpanID().String() == callerSpan
			if childOfCaller != tt.wantChildOfCaller {
				t.Errorf("span trace %s parent %s: child of the caller %v, want %v", sp.SpanContext.TraceID(), sp.Parent.SpanID(), childOfCaller, tt.wantChildOfCaller)
			}
			want := "00-" + sp.SpanContext.TraceID().String() + "-" + sp.SpanContext.SpanID().String() + "-01"
			if got := rec.Header().Get("traceparent"); got != want {
				t.Errorf("response traceparent %q, want the span's %q", got, want)
			}

			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			var line map[string]any
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &line); err != nil {
				t.Fatal(err)
			}
			if line["trace_id"] != sp.SpanContext.TraceID().String() || line["span_id"] != sp.SpanContext.SpanID().String() {
				t.Errorf("access log trace_id %v span_id %v, want %s %s", line["trace_id"], line["span_id"], sp.SpanContext.TraceID(), sp.SpanContext.SpanID())
			}
		})
	}
}

// TestNoTelemetry: with Options.NoTelemetry (SHOP_TELEMETRY=false) a
// request records no span and does not count in http_requests_total;
// without it, it does both. Not parallel: it swaps the global tracer
// provider and reads the process-wide counter.
func TestNoTelemetry(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	counted := func() float64 {
		return testutil.ToFloat64(httpMetrics().requests.WithLabelValues(http.MethodGet, "/healthz", "200"))
	}
	for _, tt := range []struct {
		name        string
		noTelemetry bool
		want        int
	}{
		{name: "On", want: 1},
		{name: "Off", noTelemetry: true, want: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, time.Second, func(o *Options) { o.NoTelemetry = tt.noTelemetry })
			exp.Reset()
			before := counted()
			rec := httptest.NewRecorder()
			env.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("GET /healthz = %d", rec.Code)
			}
			if got := len(exp.GetSpans()); got != tt.want {
				t.Errorf("spans recorded: %d, want %d", got, tt.want)
			}
			if got := counted() - before; got != float64(tt.want) {
				t.Errorf("http_requests_total grew by %v, want %d", got, tt.want)
			}
		})
	}
}
