// Package httpapi is the REST gateway of the shop: a gin router that
// authenticates the caller, decodes and checks the HTTP shape of a request,
// calls the orders or payments service over gRPC, and maps the result or
// error to JSON (DESIGN.md section 3). It owns no data and no business rule.
//
//	@title						Shop API
//	@version					1.0
//	@description				Orders and payments. Money is an integer number of minor units (kopecks) of RUB.
//	@description				Every /api/v1 call identifies its caller, as the gateway's AUTH_MODE says: a bearer token (jwt) or the X-User-ID header (header).
//	@description				A user id is 1 to 64 characters of [A-Za-z0-9._-].
//	@BasePath					/
//	@securityDefinitions.apikey	BearerAuth
//	@in							header
//	@name						Authorization
//	@description				AUTH_MODE=jwt: "Bearer " followed by a JWT whose sub is the user id (1 to 64 characters of [A-Za-z0-9._-]), signed by a key of the configured JWKS, with the configured issuer and audience. make run prints how to get a development token.
//	@securityDefinitions.apikey	UserID
//	@in							header
//	@name						X-User-ID
//	@description				AUTH_MODE=header, behind an authenticating proxy: the caller's user id, 1 to 64 characters of [A-Za-z0-9._-] (pattern ^[A-Za-z0-9._-]{1,64}$), given once.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
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
	// RateLimit limits each identity's requests to /api/v1; the zero
	// value is no limit.
	RateLimit RateLimit
	// DevTokens, when set, mounts POST /dev/token, the development issuer.
	DevTokens *DevTokens
	// Page, when set, is the shopper's web page, mounted at its Paths.
	Page Page
	// Stream configures GET /api/v1/orders/stream (stream.go).
	Stream StreamOptions
	// NoTelemetry leaves out the request metrics and spans
	// (service.Process.Telemetry false).
	NoTelemetry bool
}

// Page is a web page served beside the API: the handler of a fixed set of
// paths (shop/gateway/web.Page is one). Any other path stays the API's 404.
type Page interface {
	http.Handler
	// Paths are the URL paths the handler serves (GET and HEAD).
	Paths() []string
}

// handlers serves the routes; each entity's handlers are in the file named
// after it (account.go, order.go, health.go).
type handlers struct {
	orders   ordersv1.OrderServiceClient
	payments paymentsv1.PaymentServiceClient
	probes   []Probe
	timeout  time.Duration
	errs     errorResponder
	// stream and streamSlots serve the order status stream (stream.go).
	stream      StreamOptions
	streamSlots *streamSlots
	// stopped is done once stream.Stop is closed; streams counts the
	// open streams (stream.Running, or a group of its own).
	stopped context.Context
	streams *sync.WaitGroup
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
	case opts.RateLimit.PerSecond < 0:
		return nil, errors.New("httpapi: rate limit must not be negative")
	case opts.DevTokens != nil && opts.DevTokens.Key == nil:
		return nil, errors.New("httpapi: the development issuer needs a key")
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
	stream, err := opts.Stream.withDefaults()
	if err != nil {
		return nil, err
	}
	h.stream, h.streamSlots = stream, newStreamSlots(stream.Max, stream.MaxPerUser)
	h.stopped, h.streams = stopContext(stream.Stop), stream.Running
	if h.streams == nil {
		h.streams = new(sync.WaitGroup)
	}

	if !opts.NoTelemetry {
		r.Use(traceRequest(), requestMetrics())
	}
	r.Use(requestID(), accessLog(opts.Logger), recoverPanic(opts.Logger), limitBody(MaxBodyBytes))
	r.NoRoute(func(c *gin.Context) {
		abortWith(c, &apiError{status: http.StatusNotFound, code: CodeNotFound, message: "no route for " + c.Request.Method + " " + c.Request.URL.Path})
	})
	r.NoMethod(func(c *gin.Context) {
		abortWith(c, &apiError{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed, message: "method " + c.Request.Method + " is not allowed on " + c.Request.URL.Path})
	})

	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	r.GET("/swagger/*any", ginSwagger.WrapHandler(swaggerFiles.Handler))

	if opts.DevTokens != nil {
		r.POST(DevTokenPath, opts.DevTokens.devToken)
	}
	if opts.Page != nil {
		page := gin.WrapH(opts.Page)
		for _, p := range opts.Page.Paths() {
			r.GET(p, page)
			r.HEAD(p, page)
		}
	}

	apiMiddleware := []gin.HandlerFunc{authenticate(opts.Authenticator)}
	if opts.RateLimit.PerSecond > 0 {
		apiMiddleware = append(apiMiddleware, rateLimit(newRateLimiter(opts.RateLimit, time.Now)))
	}
	api := r.Group("/api/v1", apiMiddleware...)
	api.POST("/account", h.createAccount)
	api.GET("/account", h.getAccount)
	api.POST("/account/top-up", h.topUp)
	api.POST("/orders", h.createOrder)
	api.GET("/orders", h.listOrders)
	api.GET("/orders/stream", h.streamOrders)
	api.GET("/orders/:id", h.getOrder)
	return r, nil
}
