package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// HealthStatus is the body of /healthz and of a successful /readyz.
type HealthStatus struct {
	Status string `json:"status" enums:"ok" example:"ok" validate:"required"`
} // @name HealthStatus

// Probe is one readiness check of /readyz.
type Probe struct {
	// Name identifies the dependency in logs, e.g. "orders".
	Name string
	// Check returns nil when the dependency is ready. It must honour ctx.
	Check func(ctx context.Context) error
}

// GRPCHealthProbe checks a backend with the standard gRPC health service
// (the server as a whole, service ""): ready means SERVING.
func GRPCHealthProbe(name string, conn grpc.ClientConnInterface) Probe {
	client := healthpb.NewHealthClient(conn)
	return Probe{
		Name: name,
		Check: func(ctx context.Context) error {
			resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				return err
			}
			if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
				return fmt.Errorf("health status %v", s)
			}
			return nil
		},
	}
}

// healthz reports that the process is alive.
//
//	@Summary	Liveness
//	@ID			healthz
//	@Tags		health
//	@Produce	json
//	@Param		X-Request-ID	header		string			false	"Correlation id: echoed back when it is 1 to 128 visible ASCII characters, else replaced by a new one"
//	@Success	200				{object}	HealthStatus	"The process is alive"
//	@Header		all				{string}	X-Request-ID	"The request's correlation id"
//	@Failure	413				{object}	ErrorResponse	"PAYLOAD_TOO_LARGE: body over 64 KiB"
//	@Router		/healthz [get]
func (h *handlers) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, HealthStatus{Status: "ok"})
}

// readyz reports whether both backends answer their health check.
//
//	@Summary	Readiness
//	@ID			readyz
//	@Tags		health
//	@Produce	json
//	@Param		X-Request-ID	header		string			false	"Correlation id: echoed back when it is 1 to 128 visible ASCII characters, else replaced by a new one"
//	@Success	200				{object}	HealthStatus	"Both backends answer"
//	@Header		all				{string}	X-Request-ID	"The request's correlation id"
//	@Failure	413				{object}	ErrorResponse	"PAYLOAD_TOO_LARGE: body over 64 KiB"
//	@Failure	503				{object}	ErrorResponse	"UNAVAILABLE: a backend does not answer"
//	@Router		/readyz [get]
func (h *handlers) readyz(c *gin.Context) {
	ctx, cancel := h.backendContext(c)
	defer cancel()
	errs := make([]error, len(h.probes))
	done := make(chan struct{})
	for i, p := range h.probes {
		go func() {
			errs[i] = p.Check(ctx)
			done <- struct{}{}
		}()
	}
	for range h.probes {
		<-done
	}
	for i, err := range errs {
		if err != nil {
			h.errs.logger.WarnContext(c.Request.Context(), "backend not ready",
				"backend", h.probes[i].Name, "error", err, "request_id", requestIDOf(c))
			abortWith(c, &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, message: h.probes[i].Name + " is not ready"})
			return
		}
	}
	c.JSON(http.StatusOK, HealthStatus{Status: "ok"})
}
