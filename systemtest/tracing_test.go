package systemtest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"shop/gateway/httpapi"
	"shop/stack/stacktest"
	"shop/systemtest/system"
)

// TestTraceFollowsOrder: one order is one trace, from the client's
// traceparent through the gateway's HTTP span, the gRPC call to orders, the
// outbox row and Kafka header to the payments consumer's span, and through
// the payments outbox back to the orders consumer's span, each span the
// child of the one before. The spans are recorded by an in-memory exporter
// installed as the global tracer provider before the system starts.
func TestTraceFollowsOrder(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })

	s := startShop(t, system.Options{})
	const user = "trace-user"
	s.openAccount(t, user, 1000)

	// The client's own trace: the gateway continues it.
	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, err := http.NewRequestWithContext(t.Context(), "POST", s.URL+"/api/v1/orders", strings.NewReader(`{"amount":300,"description":"traced"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(httpapi.HeaderUserID, user)
	req.Header.Set("traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/orders: status %d, body %s", resp.StatusCode, body)
	}
	tp0 := resp.Header.Get("traceparent")
	if !strings.HasPrefix(tp0, "00-"+clientTrace+"-") || strings.Contains(tp0, clientSpan) {
		t.Fatalf("response traceparent %q, want the client's trace %s with the gateway's span", tp0, clientTrace)
	}

	var orderID string
	if err := s.OrdersDB.Pool.QueryRow(t.Context(), `SELECT id::text FROM orders WHERE user_id = $1`, user).Scan(&orderID); err != nil {
		t.Fatal(err)
	}
	if o := s.waitOrder(t, httpapi.Order{ID: orderID}); o.Status != "PAID" {
		t.Fatalf("order %s is %s, want PAID", orderID, o.Status)
	}

	// The chain, each span the parent of the next; the orders consumer's
	// span ends right after its commit, which made the order PAID.
	type link struct {
		what string
		kind trace.SpanKind
		name string
	}
	chain := []link{
		{"gateway HTTP", trace.SpanKindServer, "POST /api/v1/orders"},
		{"gateway gRPC client", trace.SpanKindClient, "orders.v1.OrderService/CreateOrder"},
		{"orders gRPC server", trace.SpanKindServer, "orders.v1.OrderService/CreateOrder"},
		{"payments consumer", trace.SpanKindConsumer, "process " + s.OrdersTopic},
		{"orders consumer", trace.SpanKindConsumer, "process " + s.PaymentsTopic},
	}
	var found []tracetest.SpanStub
	stacktest.WaitForNil(t, 30*time.Second, "the spans of the order's trace", func() error {
		var inTrace []tracetest.SpanStub
		for _, sp := range exp.GetSpans() {
			if sp.SpanContext.TraceID().String() == clientTrace {
				inTrace = append(inTrace, sp)
			}
		}
		found = found[:0]
		parent, err := trace.SpanIDFromHex(clientSpan)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range chain {
			sp, ok := childOf(inTrace, parent, l.kind, l.name)
			if !ok {
				return fmt.Errorf("no %s span %q (kind %s) child of %s among the %d spans of trace %s: %s",
					l.what, l.name, l.kind, parent, len(inTrace), clientTrace, describe(inTrace))
			}
			found = append(found, sp)
			parent = sp.SpanContext.SpanID()
		}
		return nil
	})
	for i, sp := range found {
		if sp.Status.Code.String() == "Error" {
			t.Errorf("%s span %q ended with error %q", chain[i].what, sp.Name, sp.Status.Description)
		}
	}
	if got := attr(found[0].Attributes, "http.response.status_code"); got != "201" {
		t.Errorf("gateway span status code %q, want 201", got)
	}
	for _, sp := range found[3:] {
		if got := attr(sp.Attributes, "messaging.system"); got != "kafka" {
			t.Errorf("span %q messaging.system = %q, want kafka", sp.Name, got)
		}
	}
}

// childOf returns the span among spans with the given parent, kind and name.
func childOf(spans []tracetest.SpanStub, parent trace.SpanID, kind trace.SpanKind, name string) (tracetest.SpanStub, bool) {
	for _, sp := range spans {
		if sp.Parent.SpanID() == parent && sp.SpanKind == kind && sp.Name == name {
			return sp, true
		}
	}
	return tracetest.SpanStub{}, false
}

func describe(spans []tracetest.SpanStub) string {
	var b strings.Builder
	for _, sp := range spans {
		fmt.Fprintf(&b, "[%s %q %s parent %s] ", sp.SpanKind, sp.Name, sp.SpanContext.SpanID(), sp.Parent.SpanID())
	}
	return b.String()
}

func attr(kvs []attribute.KeyValue, key string) string {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}
