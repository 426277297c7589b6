// Package tracing is how the shop's processes record OpenTelemetry traces:
// the tracer provider of a process (Setup), the W3C trace context that
// crosses HTTP, gRPC and Kafka (Propagator, Traceparent, StartConsumer), and
// the log handler that puts the current trace and span ids on every log
// line (LogHandler).
//
// A trace follows one order through the pipeline: the gateway's HTTP span,
// the orders service's gRPC span whose traceparent the outbox row stores,
// the Kafka header the Event Router copies it into, the payments consumer's
// span, the payments outbox row, and the orders consumer's span.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The standard OpenTelemetry variables that Setup reads. The OTLP exporter
// reads the others it knows (headers, timeout, insecure, ...) itself.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
)

// ScopeName is the instrumentation scope of the shop's own spans.
const ScopeName = "shop"

// Propagator is the W3C trace-context propagator: the header traceparent
// (and tracestate) on HTTP, gRPC metadata and, through the outbox, Kafka.
// It is used explicitly, so that context crosses process boundaries even
// when no global propagator is set.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Provider is the tracer provider of a process, installed as the global
// one by Setup.
type Provider struct {
	tp       *sdktrace.TracerProvider
	exporter sdktrace.SpanExporter
}

// Setup installs the tracer provider of the process service (its
// service.name unless OTEL_SERVICE_NAME says otherwise) as the global one,
// and the W3C trace-context propagator as the global propagator. lookup
// reads the environment (os.LookupEnv).
//
// Spans are exported by OTLP, batched, only when OTEL_EXPORTER_OTLP_ENDPOINT
// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set: over gRPC when
// OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL is "grpc", over HTTP (protobuf, the
// standard default) otherwise. Without an endpoint nothing is exported, but
// spans still get their ids, so that trace context propagates and log lines
// carry trace_id and span_id. Call Shutdown before the process exits to
// flush the spans still buffered.
func Setup(ctx context.Context, service string, lookup func(string) (string, bool)) (*Provider, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	p := &Provider{}
	if endpoint(lookup) != "" {
		if p.exporter, err = newExporter(ctx, lookup); err != nil {
			return nil, err
		}
		opts = append(opts, sdktrace.WithBatcher(p.exporter))
	} else {
		// Nothing is exported: spans are not recorded (no attributes, no
		// events, no processor), but each still gets its ids, so the trace
		// context propagates and log lines carry trace_id and span_id at a
		// fraction of a recorded span's cost (measured with make bench).
		opts = append(opts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	p.tp = sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(p.tp)
	otel.SetTextMapPropagator(Propagator)
	return p, nil
}

// Off installs a tracer provider that records nothing and gives new spans
// no ids, and the W3C propagator, as the global ones: a process with its
// telemetry off (service.Process.Telemetry) starts no trace; a trace
// context it receives passes through unchanged. Close and Shutdown do
// nothing.
func Off() *Provider {
	otel.SetTracerProvider(noop.NewTracerProvider())
	otel.SetTextMapPropagator(Propagator)
	return &Provider{}
}

// ForProcess is Setup when telemetry is on (service.Process.Telemetry),
// Off otherwise: what each process's main calls.
func ForProcess(ctx context.Context, service string, telemetry bool, lookup func(string) (string, bool)) (*Provider, error) {
	if !telemetry {
		return Off(), nil
	}
	return Setup(ctx, service, lookup)
}

// endpoint returns the OTLP traces endpoint that the environment sets, or
// "" when it sets none.
func endpoint(lookup func(string) (string, bool)) string {
	for _, name := range []string{EnvTracesEndpoint, EnvEndpoint} {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

func newExporter(ctx context.Context, lookup func(string) (string, bool)) (sdktrace.SpanExporter, error) {
	protocol, ok := lookup(EnvTracesProtocol)
	if !ok || protocol == "" {
		protocol, _ = lookup(EnvProtocol)
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch protocol {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, fmt.Errorf("%s: unsupported protocol %q (want grpc or http/protobuf)", EnvProtocol, protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	return exp, nil
}

// Exporting reports whether spans are exported (an OTLP endpoint is set).
func (p *Provider) Exporting() bool { return p.exporter != nil }

// Shutdown flushes the spans still buffered to the exporter, within ctx,
// and stops the provider. It is safe to call once.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.tp == nil {
		return nil
	}
	if err := p.tp.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("tracing shutdown: %w", err)
	}
	return nil
}

// CloseTimeout bounds the final flush of Close.
const CloseTimeout = 5 * time.Second

// Close is Shutdown within CloseTimeout, for a process about to exit; a
// failure is logged to logger, since the process has nothing else to do
// about it.
func (p *Provider) Close(logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		logger.Warn("spans not flushed", slog.Any("error", err))
	}
}

// Tracer returns the shop's tracer from the global provider. It is looked
// up at each call, so that a provider installed later (a test's) is used.
func Tracer() trace.Tracer { return otel.Tracer(ScopeName) }

// Traceparent renders the span in ctx as a W3C traceparent header value
// ("00-<trace id>-<span id>-<flags>"), or "" when ctx holds no valid span
// context.
func Traceparent(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

// FromTraceparent returns ctx with the remote span context that
// traceparent describes; ctx unchanged when traceparent is "" or invalid.
func FromTraceparent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// StartConsumer starts the span of a consumer processing one message
// (kind consumer) as a child of the span that traceparent describes, which
// continues the producer's trace; a new trace when traceparent is "" or
// invalid. The caller ends the span, once the message's effect committed.
func StartConsumer(ctx context.Context, traceparent, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	opts = append([]trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}, opts...)
	return Tracer().Start(FromTraceparent(ctx, traceparent), name, opts...)
}
