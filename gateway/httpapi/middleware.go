package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// HeaderRequestID is the request correlation header: echoed when the
// client sends a sane one, generated otherwise, present on every response.
const HeaderRequestID = "X-Request-ID"

const ctxKeyRequestID = "shop.request_id"

// requestID puts X-Request-ID on the response before anything else runs,
// so that every response, including errors and panics, carries it.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(HeaderRequestID)
		if len(c.Request.Header.Values(HeaderRequestID)) != 1 || !validRequestID(id) {
			id = uuid.NewString()
		}
		c.Set(ctxKeyRequestID, id)
		c.Header(HeaderRequestID, id)
		c.Next()
	}
}

// validRequestID accepts 1 to 128 visible ASCII characters (0x21 to 0x7E):
// enough for UUIDs and trace ids, nothing that could forge a log line or a
// header.
func validRequestID(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func requestIDOf(c *gin.Context) string { return c.GetString(ctxKeyRequestID) }

// routeUnmatched is the route label of a request that matched no route
// (404, 405): the raw path would let any client create series.
const routeUnmatched = "unmatched"

// httpMetrics are the gateway's request metrics, registered with
// prometheus.DefaultRegisterer on first use (one set per process, however
// many routers it builds): http_requests_total and the
// http_request_duration_seconds histogram, each by method, route (the
// route template such as /api/v1/orders/:id, never the raw path) and code.
var httpMetrics = sync.OnceValue(func() *struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
} {
	labels := []string{"method", "route", "code"}
	m := &struct {
		requests *prometheus.CounterVec
		duration *prometheus.HistogramVec
	}{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served by the gateway, by method, route template and status code.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request of the gateway, by method, route template and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, labels),
	}
	prometheus.MustRegister(m.requests, m.duration)
	return m
})

// requestMetrics counts each request and observes its duration once it is
// served, by method, route template and status code.
func requestMetrics() gin.HandlerFunc {
	m := httpMetrics()
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = routeUnmatched
		}
		values := []string{methodLabel(c.Request.Method), route, strconv.Itoa(c.Writer.Status())}
		m.requests.WithLabelValues(values...).Inc()
		m.duration.WithLabelValues(values...).Observe(time.Since(start).Seconds())
	}
}

// methodLabel is the method label of a request: a standard method as it
// is, anything a client invents as "other".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// accessLog logs one line per request, after it is served.
func accessLog(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		status := c.Writer.Status()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		logger.LogAttrs(c.Request.Context(), level, "http request",
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", requestIDOf(c)),
		)
	}
}

// recoverPanic turns a panic in a handler into 500 INTERNAL, logged once
// with its value; the client sees only the generic message.
func recoverPanic(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			logger.ErrorContext(c.Request.Context(), "panic serving request",
				slog.Any("panic", v),
				slog.String("method", c.Request.Method),
				slog.String("path", c.Request.URL.Path),
				slog.String("request_id", requestIDOf(c)),
			)
			if c.Writer.Written() {
				c.Abort()
				return
			}
			c.AbortWithStatusJSON(http.StatusInternalServerError, ErrorResponse{Error: ErrorBody{Code: CodeInternal, Message: msgInternal}})
		}()
		c.Next()
	}
}

// limitBody caps every request body at limit bytes: a declared
// Content-Length over it is refused at once with 413, and a body that turns
// out longer fails while it is read (decodeJSON turns that into 413).
func limitBody(limit int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > limit {
			abortWith(c, payloadTooLarge(limit))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		c.Next()
	}
}

// authenticate establishes the caller with auth and stores the identity in
// the request context for the handlers; without one it answers 401, with
// the WWW-Authenticate challenge of a *ChallengeError.
func authenticate(auth Authenticator) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := auth.Authenticate(c.Request)
		if err != nil {
			if ce, ok := errors.AsType[*ChallengeError](err); ok {
				c.Header(headerWWWAuthenticate, ce.Challenge)
			}
			abortWith(c, &apiError{status: http.StatusUnauthorized, code: CodeUnauthenticated, message: err.Error()})
			return
		}
		c.Request = c.Request.WithContext(WithIdentity(c.Request.Context(), id))
		c.Next()
	}
}

// abortWith writes e as the error body and stops the handler chain.
func abortWith(c *gin.Context, e *apiError) {
	c.AbortWithStatusJSON(e.status, ErrorResponse{Error: ErrorBody{Code: e.code, Message: e.message}})
}

// errorResponder writes errors, logging those whose cause must stay inside.
type errorResponder struct {
	logger *slog.Logger
}

// fail answers with err: an *apiError as it is, anything else as 500. The
// cause of a 5xx is logged here, once, and never sent.
func (r errorResponder) fail(c *gin.Context, err error) {
	e, ok := errors.AsType[*apiError](err)
	if !ok {
		e = internalError(err)
	}
	if e.status >= 500 {
		level := slog.LevelError
		if e.status == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		r.logger.LogAttrs(c.Request.Context(), level, "request failed",
			slog.String("code", e.code),
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.String("request_id", requestIDOf(c)),
			slog.Any("error", e.cause),
		)
	}
	abortWith(c, e)
}
