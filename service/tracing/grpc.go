package tracing

import (
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"google.golang.org/grpc"
)

// grpcOptions are the options of both sides: W3C trace context in the
// metadata, no spans for the health checks (the gateway's balancer watches
// each backend's health all the time).
func grpcOptions() []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithPropagators(Propagator),
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
	}
}

// GRPCServerOption is the server option that starts a server span per
// call, continuing the caller's trace (traceparent in the metadata).
func GRPCServerOption() grpc.ServerOption {
	return grpc.StatsHandler(otelgrpc.NewServerHandler(grpcOptions()...))
}

// GRPCDialOption is the client option that starts a client span per call
// and sends its trace context to the server.
func GRPCDialOption() grpc.DialOption {
	return grpc.WithStatsHandler(otelgrpc.NewClientHandler(grpcOptions()...))
}
