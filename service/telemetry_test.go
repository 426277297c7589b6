package service_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/emptypb"

	"shop/service"
)

// handledPanics is grpc_server_handled_total of the unary method Panic in
// the default registry (0 while the metrics are not registered).
func handledPanics(t *testing.T) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "grpc_server_handled_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["grpc_service"] == panicker.ServiceName && labels["grpc_method"] == "Panic" {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// A call counts in grpc_server_handled_total, unless the service runs with
// NoTelemetry (SHOP_TELEMETRY=false). Not parallel: both cases read the
// same process-wide counter.
func TestRunTelemetrySwitch(t *testing.T) {
	tests := []struct {
		name        string
		noTelemetry bool
		wantCounted float64
	}{
		{name: "Off", noTelemetry: true, wantCounted: 0},
		{name: "On", noTelemetry: false, wantCounted: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			conn, done := runPanicker(ctx, t, service.Spec{
				Logger:      slog.New(slog.NewJSONHandler(io.Discard, nil)),
				NoTelemetry: tt.noTelemetry,
			})
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run() = %v", err)
				}
			}()
			before := handledPanics(t)
			if err := conn.Invoke(ctx, "/test.Panicker/Panic", &emptypb.Empty{}, &emptypb.Empty{}); err == nil {
				t.Fatal("Panic succeeded, want Internal")
			}
			if got := handledPanics(t) - before; got != tt.wantCounted {
				t.Errorf("grpc_server_handled_total grew by %v, want %v", got, tt.wantCounted)
			}
		})
	}
}
