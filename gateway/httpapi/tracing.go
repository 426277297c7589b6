package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"shop/service/tracing"
)

// traceRequest starts a server span per request, named "<method> <route>"
// ("POST /api/v1/orders"; "<method>" alone for a request that matches no
// route), as a child of the caller's W3C traceparent when it sends a valid
// one. The span's traceparent is on every response, so that a client can
// find the request's trace, and the span is in the request's context for
// the backend calls (gRPC carries it on) and the log lines. It runs first,
// so that the access log and the panic handler log within the span; a 5xx
// marks the span as failed.
func traceRequest() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := tracing.Propagator.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
		ctx, span := tracing.Tracer().Start(ctx, c.Request.Method,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", c.Request.Method),
				attribute.String("url.path", c.Request.URL.Path),
			))
		defer span.End()
		tracing.Propagator.Inject(ctx, propagation.HeaderCarrier(c.Writer.Header()))
		c.Request = c.Request.WithContext(ctx)

		c.Next()

		if route := c.FullPath(); route != "" {
			span.SetName(c.Request.Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
		}
		status := c.Writer.Status()
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= http.StatusInternalServerError {
			span.SetStatus(codes.Error, strconv.Itoa(status))
		}
	}
}
