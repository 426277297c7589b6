package httpapi

import (
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestHealth(t *testing.T) {
	env := newTestEnv(t, 500*time.Millisecond)
	wantJSON(t, env.do(t, req{method: "GET", path: "/healthz"}), 200, `{"status":"ok"}`)
	wantJSON(t, env.do(t, req{method: "GET", path: "/readyz"}), 200, `{"status":"ok"}`)

	env.paymentsHealth.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	wantError(t, env.do(t, req{method: "GET", path: "/readyz"}), 503, CodeUnavailable)
	env.paymentsHealth.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	wantJSON(t, env.do(t, req{method: "GET", path: "/readyz"}), 200, `{"status":"ok"}`)

	env.ordersServer.Stop()
	start := time.Now()
	wantError(t, env.do(t, req{method: "GET", path: "/readyz"}), 503, CodeUnavailable)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("readyz took %s with a backend down", d)
	}
	wantJSON(t, env.do(t, req{method: "GET", path: "/healthz"}), 200, `{"status":"ok"}`)
}
