// Package httpapi is the REST gateway of the shop: a gin router that
// authenticates the caller, decodes and checks the HTTP shape of a request,
// calls the orders or payments service over gRPC, and maps the result or
// error to JSON (DESIGN.md section 3). It owns no data and no business rule.
//
//	@title						Shop API
//	@version					1.0
//	@description				Orders and payments. Money is an integer number of minor units (kopecks) of RUB.
//	@description				Every /api/v1 call needs the X-User-ID header (1 to 64 characters of [A-Za-z0-9._-]).
//	@BasePath					/
//	@securityDefinitions.apikey	UserID
//	@in							header
//	@name						X-User-ID
//	@description				Caller identity, 1 to 64 characters of [A-Za-z0-9._-].
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	swaggerFiles "github.com/swaggo/files"
	ginSwagger "github.com/swaggo/gin-swagger"

	// The generated OpenAPI document, registered with swag for the UI.
	_ "shop/gateway/docs"
	ordersv1 "shop/proto/orders/v1"
	paymentsv1 "shop/proto/payments/v1"
)

// DefaultBackendTimeout bounds a backend call when Options leaves it zero.
const DefaultBackendTimeout = 3 * time.Second

// Options are the dependencies of the router.
type Options struct {
	// Orders and Payments are the backend clients. Required.
	Orders   ordersv1.OrderServiceClient
	Payments paymentsv1.PaymentServiceClient
	// Probes decide /readyz: it is 200 when every probe passes. Required,
	// may be empty.
	Probes []Probe
	// Logger receives the access log and the causes of 5xx. Required.
	Logger *slog.Logger
	// BackendTimeout is the deadline of each backend call; zero means
	// DefaultBackendTimeout.
	BackendTimeout time.Duration
	// Authenticator establishes the caller; nil means HeaderAuthenticator.
	Authenticator Authenticator
}

// handlers serves the routes; each entity's handlers are in the file named
// after it (account.go, order.go, health.go).
type handlers struct {
	orders   ordersv1.OrderServiceClient
	payments paymentsv1.PaymentServiceClient
	probes   []Probe
	timeout  time.Duration
	errs     errorResponder
}

// backendContext bounds one backend call by the configured timeout.
func (h *handlers) backendContext(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), h.timeout)
}

// NewRouter returns the gateway's HTTP handler. It returns an error when a
// required dependency is missing. The handler is safe for concurrent use.
func NewRouter(opts Options) (http.Handler, error) {
	switch {
	case opts.Orders == nil:
		return nil, errors.New("httpapi: orders client is required")
	case opts.Payments == nil:
		return nil, errors.New("httpapi: payments client is required")
	case opts.Logger == nil:
		return nil, errors.New("httpapi: logger is required")
	case opts.BackendTimeout < 0:
		return nil, errors.New("httpapi: backend timeout must not be negative")
	}
	if opts.BackendTimeout == 0 {
		opts.BackendTimeout = DefaultBackendTimeout
	}
	if opts.Authenticator == nil {
		opts.Authenticator = HeaderAuthenticator{}
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	if err := r.SetTrustedProxies(nil); err != nil {
		return nil, err
	}

	h := &handlers{
		orders:   opts.Orders,
		payments: opts.Payments,
		probes:   opts.Probes,
		timeout:  opts.BackendTimeout,
		errs:     errorResponder{logger: opts.Logger},
	}

	r.Use(traceRequest(), requestMetrics(), requestID(), accessLog(opts.Logger), recoverPanic(opts.Logger), limitBody(MaxBodyBytes))
	r.NoRoute(func(c *gin.Context) {
		abortWith(c, &apiError{status: http.StatusNotFound, code: CodeNotFound, message: "no route for " + c.Request.Method + " " + c.Request.URL.Path})
	})
	r.NoMethod(func(c *gin.Context) {
		abortWith(c, &apiError{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed, message: "method " + c.Request.Method + " is not allowed on " + c.Request.URL.Path})
	})

	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	r.GET("/swagger/*any", ginSwagger.WrapHandler(swaggerFiles.Handler))

	api := r.Group("/api/v1", authenticate(opts.Authenticator))
	api.POST("/account", h.createAccount)
	api.GET("/account", h.getAccount)
	api.POST("/account/top-up", h.topUp)
	api.POST("/orders", h.createOrder)
	api.GET("/orders", h.listOrders)
	api.GET("/orders/:id", h.getOrder)
	return r, nil
}
