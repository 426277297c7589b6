package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"shop/gateway/sse"
	ordersv1 "shop/proto/orders/v1"
)

// The defaults of StreamOptions.
const (
	DefaultStreamHeartbeat    = 15 * time.Second
	DefaultStreamRetry        = 2 * time.Second
	DefaultStreamMaxPerUser   = 5
	DefaultStreamMax          = 10000
	DefaultStreamWriteTimeout = 10 * time.Second
	// StreamUserTimeout is the TCP_USER_TIMEOUT of a stream's connection
	// (sse.SetUserTimeout): a client that vanished without closing is
	// noticed within it, by the next heartbeat's unacknowledged data.
	StreamUserTimeout = 30 * time.Second
	// streamFullRetryAfter is the Retry-After of a stream refused because
	// the process holds Max.
	streamFullRetryAfter = 5 * time.Second
)

// StreamOptions configure GET /api/v1/orders/stream. Zero values mean the
// defaults.
type StreamOptions struct {
	// Heartbeat is the interval of the comment line that keeps proxies
	// from closing an idle stream.
	Heartbeat time.Duration
	// Retry is the reconnection delay the stream advises (retry:).
	Retry time.Duration
	// MaxPerUser is how many streams one identity may hold open on this
	// gateway; one more ends the identity's oldest.
	MaxPerUser int
	// Max is how many streams this gateway holds open; one more is 503
	// UNAVAILABLE with Retry-After.
	Max int
	// WriteTimeout bounds the write of one event or comment: a client that
	// does not read for that long is dropped.
	WriteTimeout time.Duration
	// Stop, when closed, ends every stream (at the gateway's shutdown, so
	// that the drain does not wait for them). Nil means never.
	Stop <-chan struct{}
	// Running, when set, counts the streams open: a stream on a hijacked
	// connection is no request of the HTTP server, whose Shutdown does not
	// wait for it; wait for Running after closing Stop.
	Running *sync.WaitGroup
}

func (o StreamOptions) withDefaults() (StreamOptions, error) {
	if o.Heartbeat < 0 || o.Retry < 0 || o.MaxPerUser < 0 || o.Max < 0 || o.WriteTimeout < 0 {
		return o, errors.New("httpapi: stream options must not be negative")
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultStreamHeartbeat
	}
	if o.Retry == 0 {
		o.Retry = DefaultStreamRetry
	}
	if o.MaxPerUser == 0 {
		o.MaxPerUser = DefaultStreamMaxPerUser
	}
	if o.Max == 0 {
		o.Max = DefaultStreamMax
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultStreamWriteTimeout
	}
	return o, nil
}

// streamMetrics are the stream gauges of the gateway, registered with
// prometheus.DefaultRegisterer on first use.
var streamMetrics = sync.OnceValue(func() *streamCounters {
	m := &streamCounters{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shop_gateway_streams_open",
			Help: "Order status streams (GET /api/v1/orders/stream) open on the gateway.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shop_gateway_streams_dropped_total",
			Help: "Order status streams ended by the gateway because the client did not read within the write timeout.",
		}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shop_gateway_streams_evicted_total",
			Help: "Order status streams ended because their identity opened one more than GATEWAY_STREAM_MAX_PER_USER (the oldest goes).",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shop_gateway_streams_refused_total",
			Help: "Order status streams refused with 503 because the gateway held GATEWAY_STREAM_MAX.",
		}),
	}
	prometheus.MustRegister(m.open, m.dropped, m.evicted, m.refused)
	return m
})

// streamCounters are the stream metrics of the gateway.
type streamCounters struct {
	open    prometheus.Gauge
	dropped prometheus.Counter
	evicted prometheus.Counter
	refused prometheus.Counter
}

// stopContext returns a context that is done once stop is closed (never
// when stop is nil), so that each stream can end with it without a
// goroutine of its own (context.AfterFunc).
func stopContext(stop <-chan struct{}) context.Context {
	if stop == nil {
		return context.Background()
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-stop
		cancel()
	}()
	return ctx
}

// streamOrders streams the changes of the caller's orders.
//
//	@Summary		Stream the caller's order changes (Server-Sent Events)
//	@Description	A text/event-stream. Each change of one of the caller's orders (its creation, its payment, its cancellation) is one event "order" whose data is the Order JSON and whose id is the caller's change number, strictly increasing. The stream opens with "retry:" (the advised reconnection delay) and an "id:" line without data (the number it starts after, so that an EventSource resumes from there), then sends a comment line (": keep-alive") every 15 s while idle.
//	@Description	Resume: Last-Event-ID (the header an EventSource sends when it reconnects, or the query parameter last_event_id; the header wins) sends every change after that number first, then the live ones: none twice, none missed. Without one the stream starts with the next change. A number above the caller's latest change counts as the latest.
//	@Description	Reset: a resume from 0, or from a change older than the change log keeps (7 days), does not replay the history. The stream sends one event "reset" instead, whose id is the caller's latest change and whose data is the current state: the first page of the caller's orders, newest first, as GET /api/v1/orders?limit=100 returns it (an OrderList; next_page_token fetches the rest). Order events follow from there. A client replaces what it shows with the reset's orders.
//	@Description	At most 5 streams per caller on one gateway (GATEWAY_STREAM_MAX_PER_USER): one more ends the caller's oldest stream (it ends like a finished response; its client reconnects with Last-Event-ID). At most 10000 streams on one gateway (GATEWAY_STREAM_MAX): one more is 503 with Retry-After. A client that does not read its stream for 10 s (GATEWAY_STREAM_WRITE_TIMEOUT), or whose connection does not acknowledge data for 30 s (TCP_USER_TIMEOUT, Linux), is disconnected; it reconnects with Last-Event-ID and misses nothing. Streams end when the gateway shuts down; the client reconnects the same way.
//	@Tags			orders
//	@ID				streamOrders
//	@Produce		text/event-stream
//	@Produce		json
//	@Security		UserID
//	@Security		BearerAuth
//	@Param			Last-Event-ID	header		int				false	"Resume after this change number"	minimum(0)	maximum(9007199254740991)
//	@Param			last_event_id	query		int				false	"Resume after this change number (for clients that cannot set headers)"	minimum(0)	maximum(9007199254740991)
//	@Param			X-Request-ID	header		string			false	"Correlation id: echoed back when it is 1 to 128 visible ASCII characters, else replaced by a new one"
//	@Success		200				{array}		OrderEvent		"The events as an EventSource reads them: event order (id the change number, data the order as the change left it, JSON) or reset (id the latest change number, data an OrderList, JSON)"
//	@Header			all				{string}	X-Request-ID	"The request's correlation id"
//	@Failure		400				{object}	ErrorResponse	"INVALID_ARGUMENT: Last-Event-ID is not a non-negative integer"
//	@Failure		401				{object}	ErrorResponse	"UNAUTHENTICATED: no valid identity (see the security schemes)"
//	@Failure		413				{object}	ErrorResponse	"PAYLOAD_TOO_LARGE: body over 64 KiB"
//	@Failure		429				{object}	ErrorResponse	"RESOURCE_EXHAUSTED: over the caller's rate limit"
//	@Header			429				{integer}	Retry-After		"Seconds to wait before a retry"
//	@Failure		500				{object}	ErrorResponse	"INTERNAL"
//	@Failure		503				{object}	ErrorResponse	"UNAVAILABLE: the orders service did not answer, or the gateway holds its maximum of streams (then with Retry-After)"
//	@Header			503				{integer}	Retry-After		"Seconds to wait before a retry, when the gateway holds its maximum of streams"
//	@Router			/api/v1/orders/stream [get]
func (h *handlers) streamOrders(c *gin.Context) {
	user, err := caller(c)
	if err != nil {
		h.errs.fail(c, err)
		return
	}
	after, err := lastEventID(c.Request)
	if err != nil {
		h.errs.fail(c, invalidArgument(err.Error()))
		return
	}
	// The stream outlives this handler when it takes the connection over
	// (hijack): its context keeps the request's values (span, logger
	// fields) but not its cancellation, and ends with the gateway's Stop,
	// or when a newer stream of the user evicts it.
	ctx, cancel := context.WithCancel(context.WithoutCancel(c.Request.Context()))
	release, evicted, ok := h.streamSlots.acquire(user, cancel)
	if !ok {
		cancel()
		streamMetrics().refused.Inc()
		c.Header("Retry-After", strconv.Itoa(int(streamFullRetryAfter.Seconds())))
		h.errs.fail(c, &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable,
			message: fmt.Sprintf("this gateway holds its maximum of %d streams; retry after the time in Retry-After", h.stream.Max)})
		return
	}
	if evicted {
		streamMetrics().evicted.Inc()
	}
	unstop := context.AfterFunc(h.stopped, cancel)
	r := &relay{orders: h.orders, user: user}
	first, err := r.open(ctx, after, h.timeout)
	if err != nil {
		unstop()
		cancel()
		release()
		h.errs.fail(c, fromBackend(err))
		return
	}
	// Counted before the connection is hijacked, which is when the
	// server's Shutdown stops waiting for it.
	h.streams.Add(1)
	st := &orderStream{h: h, relay: r, user: user, requestID: requestIDOf(c), cancel: cancel,
		done: func() { unstop(); cancel(); release(); h.streams.Done() }}

	var hello []byte
	hello = sse.AppendRetry(hello, h.stream.Retry)
	hello = sse.AppendID(hello, strconv.FormatInt(r.last, 10))
	hdr := c.Writer.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")

	// HTTP/1.1: the stream takes the connection over and this handler
	// returns, so that net/http's buffers and goroutines for the request
	// are freed while the stream lasts; one goroutine relays, one notices
	// the client leaving. Otherwise (HTTP/2) it is served in this handler.
	// What the client sent after its request (the hijack's buffered
	// reader) is not read.
	if conn, _, err := http.NewResponseController(c.Writer).Hijack(); err == nil {
		if err := sse.SetUserTimeout(conn, StreamUserTimeout); err != nil {
			h.errs.logger.WarnContext(ctx, "stream: TCP_USER_TIMEOUT not set", "error", err)
		}
		out := sse.NewConnWriter(conn, h.stream.WriteTimeout)
		st.out = out
		if err := out.Start(hdr, hello); err != nil {
			out.Finish()
			st.done() // also ends the watch
			return
		}
		go st.serve(ctx, first)
		go out.WatchClient(cancel)
		return
	}
	// Flushed through the server's own writer (gin's Flush drops the
	// error of a flush that timed out), without the server's read
	// deadline.
	out := sse.NewFlushWriter(c.Writer, h.stream.WriteTimeout)
	c.Status(http.StatusOK)
	if err := out.Send(hello); err != nil {
		st.done()
		return
	}
	st.out = out
	// This request's own cancellation (the client gone) ends the stream.
	stopOnClose := context.AfterFunc(c.Request.Context(), cancel)
	defer stopOnClose()
	st.serve(ctx, first)
}

// sink is where a stream's frames go: the hijacked connection
// (sse.ConnWriter) or the response of an HTTP/2 request (sse.FlushWriter).
type sink interface {
	// Send writes one or more whole frames within the write timeout; a
	// write that times out is sse.ErrSlowClient.
	Send(b []byte) error
	// Finish ends the response and frees the connection.
	Finish()
}

// orderStream is one open stream: its relay, its sink and its heartbeat.
type orderStream struct {
	h         *handlers
	relay     *relay
	out       sink
	user      string
	requestID string
	cancel    context.CancelFunc
	// done releases the stream's slot and context.
	done func()

	mu  sync.Mutex // serializes the frames of events and heartbeats
	buf []byte
}

// serve relays the changes until the stream ends: the client gone or too
// slow, the gateway stopping, or the watch failing for good. The
// heartbeat is a timer, not a goroutine.
func (st *orderStream) serve(ctx context.Context, first watchStream) {
	m := streamMetrics()
	m.open.Inc()
	every := st.h.stream.Heartbeat
	var beat *time.Timer
	defer func() {
		// On a hijacked connection this runs outside the request and its
		// panic recovery: a bug ends this stream, not the gateway.
		if v := recover(); v != nil {
			st.h.errs.logger.ErrorContext(ctx, "panic serving an order stream", slog.Any("panic", v),
				slog.String("stack", string(debug.Stack())), slog.String("request_id", st.requestID))
		}
		beat.Stop()
		st.cancel() // a heartbeat waiting for mu then sends nothing
		st.mu.Lock()
		st.out.Finish()
		st.mu.Unlock()
		st.relay.close()
		st.done()
		m.open.Dec()
	}()
	st.mu.Lock() // beat is set before its function reads it
	beat = time.AfterFunc(every, func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		st.buf = sse.AppendComment(st.buf[:0], "keep-alive")
		if err := st.out.Send(st.buf); err != nil {
			st.writeFailed(ctx, err)
			return
		}
		beat.Reset(every)
	})
	st.mu.Unlock()

	reset := func() error { return st.sendReset(ctx) }
	var err error
	if st.relay.reset {
		err = reset()
	}
	if err == nil {
		err = st.relay.run(ctx, first, func(ch *ordersv1.OrderChange) error {
			o, err := orderFromProto(ch.GetOrder())
			if err != nil {
				st.h.errs.logger.ErrorContext(ctx, "stream: bad order from the orders service", "error", err)
				return errStreamEnded
			}
			return st.send(ctx, ch.GetSeq(), "order", o)
		}, reset)
	}
	if err != nil && !errors.Is(err, errStreamEnded) && ctx.Err() == nil {
		st.h.errs.logger.WarnContext(ctx, "stream: orders service ended the watch", "user", st.user, "error", err)
	}
}

// send writes the event named event, with id seq and v as its JSON data.
// A failure is handled here (errStreamEnded).
func (st *orderStream) send(ctx context.Context, seq int64, event string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		st.h.errs.logger.ErrorContext(ctx, "stream: encode "+event, "error", err)
		return errStreamEnded
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.buf = sse.AppendEvent(st.buf[:0], strconv.FormatInt(seq, 10), event, data)
	if err := st.out.Send(st.buf); err != nil {
		st.writeFailed(ctx, err)
		return errStreamEnded
	}
	return nil
}

// errStreamEnded stops the relay after a failure already handled.
var errStreamEnded = errors.New("stream ended")

// writeFailed ends the stream after a failed write; a client too slow to
// read is counted and logged.
func (st *orderStream) writeFailed(ctx context.Context, err error) {
	st.cancel()
	if errors.Is(err, sse.ErrSlowClient) {
		streamMetrics().dropped.Inc()
		st.h.errs.logger.WarnContext(ctx, "stream: client too slow, dropped", "user", st.user,
			"request_id", st.requestID)
	}
}

// OrderEvent is one event of GET /api/v1/orders/stream as an EventSource
// reads it. The stream is text/event-stream, not JSON: this type only
// documents it (and lets schemathesis check the events it reads).
type OrderEvent struct {
	// Event is order (a change of one order) or reset (the current state
	// instead of a history too old to resume from).
	Event string `json:"event" enums:"order,reset" validate:"required"`
	// ID is the caller's change number, a decimal integer: the change's,
	// or for reset the latest.
	ID string `json:"id" example:"42" extensions:"x-pattern=^[0-9]+$" validate:"required"`
	// Data is JSON: for order the Order as the change left it, for reset
	// an OrderList (the first page of the caller's orders as they are).
	Data string `json:"data" validate:"required"`
} // @name OrderEvent
