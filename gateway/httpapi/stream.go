package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ordersv1 "shop/proto/orders/v1"
)

// The defaults of StreamOptions.
const (
	DefaultStreamHeartbeat    = 15 * time.Second
	DefaultStreamRetry        = 2 * time.Second
	DefaultStreamMaxPerUser   = 5
	DefaultStreamWriteTimeout = 10 * time.Second
)

// HeaderLastEventID is the header with which an EventSource resumes.
const HeaderLastEventID = "Last-Event-ID"

// StreamOptions configure GET /api/v1/orders/stream. Zero values mean the
// defaults.
type StreamOptions struct {
	// Heartbeat is the interval of the comment line that keeps proxies
	// from closing an idle stream.
	Heartbeat time.Duration
	// Retry is the reconnection delay the stream advises (retry:).
	Retry time.Duration
	// MaxPerUser is how many streams one identity may hold open on this
	// gateway; one more is 429 RESOURCE_EXHAUSTED.
	MaxPerUser int
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
	if o.Heartbeat < 0 || o.Retry < 0 || o.MaxPerUser < 0 || o.WriteTimeout < 0 {
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
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultStreamWriteTimeout
	}
	return o, nil
}

// streamMetrics are the stream gauges of the gateway, registered with
// prometheus.DefaultRegisterer on first use.
var streamMetrics = sync.OnceValue(func() *struct {
	open    prometheus.Gauge
	dropped prometheus.Counter
} {
	m := &struct {
		open    prometheus.Gauge
		dropped prometheus.Counter
	}{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shop_gateway_streams_open",
			Help: "Order status streams (GET /api/v1/orders/stream) open on the gateway.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shop_gateway_streams_dropped_total",
			Help: "Order status streams ended by the gateway because the client did not read within the write timeout.",
		}),
	}
	prometheus.MustRegister(m.open, m.dropped)
	return m
})

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

// streamSlots counts the open streams of each identity.
type streamSlots struct {
	max  int
	mu   sync.Mutex
	open map[string]int
}

// acquire takes a slot of user, if one is free, and returns its release.
func (s *streamSlots) acquire(user string) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[user] >= s.max {
		return nil, false
	}
	s.open[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.open[user]--; s.open[user] == 0 {
				delete(s.open, user)
			}
		})
	}, true
}

// streamOrders streams the changes of the caller's orders.
//
//	@Summary		Stream the caller's order changes (Server-Sent Events)
//	@Description	A text/event-stream. Each change of one of the caller's orders (its creation, its payment, its cancellation) is one event "order" whose data is the Order JSON and whose id is the caller's change number, strictly increasing. The stream opens with "retry:" (the advised reconnection delay) and an "id:" line without data (the number it starts after, so that an EventSource resumes from there), then sends a comment line (": keep-alive") every 15 s while idle.
//	@Description	Resume: Last-Event-ID (the header an EventSource sends when it reconnects, or the query parameter last_event_id; the header wins) sends every change after that number first, then the live ones: none twice, none missed. 0 replays every change; without one the stream starts with the next change. A number above the caller's latest change counts as the latest.
//	@Description	At most 5 streams per caller on one gateway (GATEWAY_STREAM_MAX_PER_USER; 429 beyond). A client that does not read its stream for 10 s (GATEWAY_STREAM_WRITE_TIMEOUT) is disconnected; it reconnects with Last-Event-ID and misses nothing. Streams end when the gateway shuts down; the client reconnects the same way.
//	@Tags			orders
//	@ID				streamOrders
//	@Produce		text/event-stream
//	@Produce		json
//	@Security		UserID
//	@Security		BearerAuth
//	@Param			Last-Event-ID	header		int				false	"Resume after this change number"	minimum(0)	maximum(9007199254740991)
//	@Param			last_event_id	query		int				false	"Resume after this change number (for clients that cannot set headers)"	minimum(0)	maximum(9007199254740991)
//	@Param			X-Request-ID	header		string			false	"Correlation id: echoed back when it is 1 to 128 visible ASCII characters, else replaced by a new one"
//	@Success		200				{array}		OrderEvent		"The events as an EventSource reads them: event order, id the change number, data the order as the change left it (JSON)"
//	@Header			all				{string}	X-Request-ID	"The request's correlation id"
//	@Failure		400				{object}	ErrorResponse	"INVALID_ARGUMENT: Last-Event-ID is not a non-negative integer"
//	@Failure		401				{object}	ErrorResponse	"UNAUTHENTICATED: no valid identity (see the security schemes)"
//	@Failure		413				{object}	ErrorResponse	"PAYLOAD_TOO_LARGE: body over 64 KiB"
//	@Failure		429				{object}	ErrorResponse	"RESOURCE_EXHAUSTED: the caller has too many open streams, or is over its rate limit"
//	@Header			429				{integer}	Retry-After		"Seconds to wait before a retry"
//	@Failure		500				{object}	ErrorResponse	"INTERNAL"
//	@Failure		503				{object}	ErrorResponse	"UNAVAILABLE: the orders service did not answer"
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
	release, ok := h.streamSlots.acquire(user)
	if !ok {
		h.errs.fail(c, &apiError{status: http.StatusTooManyRequests, code: CodeResourceExhausted,
			message: fmt.Sprintf("at most %d open streams per user; close one first", h.stream.MaxPerUser)})
		return
	}
	// The stream outlives this handler when it takes the connection over
	// (hijack): its context keeps the request's values (span, logger
	// fields) but not its cancellation, and ends with the gateway's Stop.
	ctx, cancel := context.WithCancel(context.WithoutCancel(c.Request.Context()))
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
	hello = appendRetry(hello, h.stream.Retry)
	hello = appendID(hello, r.last)
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
		out := newConnSink(conn, h.stream.WriteTimeout)
		st.out = out
		if err := out.start(hdr, hello); err != nil {
			out.finish()
			st.done() // also ends the watch
			return
		}
		go st.serve(ctx, first)
		go out.watchClient(cancel)
		return
	}
	// Flushed through the server's own writer: gin's Flush drops the
	// error of a flush that timed out.
	var under http.ResponseWriter = c.Writer
	if u, ok := under.(interface{ Unwrap() http.ResponseWriter }); ok {
		under = u.Unwrap()
	}
	out := &sseWriter{w: c.Writer, rc: http.NewResponseController(under), timeout: h.stream.WriteTimeout}
	// The server's read deadline would end the request while it streams.
	_ = out.rc.SetReadDeadline(time.Time{})
	c.Status(http.StatusOK)
	if err := out.send(hello); err != nil {
		st.done()
		return
	}
	st.out = out
	// This request's own cancellation (the client gone) ends the stream.
	stopOnClose := context.AfterFunc(c.Request.Context(), cancel)
	defer stopOnClose()
	st.serve(ctx, first)
}

// sink is where a stream's frames go: the hijacked connection (connSink)
// or the response of an HTTP/2 request (sseWriter).
type sink interface {
	// send writes one or more whole frames within the write timeout; a
	// write that times out is errSlowClient.
	send(b []byte) error
	// finish ends the response and frees the connection.
	finish()
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
		st.out.finish()
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
		st.buf = appendComment(st.buf[:0], "keep-alive")
		if err := st.out.send(st.buf); err != nil {
			st.writeFailed(ctx, err)
			return
		}
		beat.Reset(every)
	})
	st.mu.Unlock()

	err := st.relay.run(ctx, first, func(ch *ordersv1.OrderChange) error {
		o, err := orderFromProto(ch.GetOrder())
		if err != nil {
			st.h.errs.logger.ErrorContext(ctx, "stream: bad order from the orders service", "error", err)
			return errStreamEnded
		}
		data, err := json.Marshal(o)
		if err != nil {
			st.h.errs.logger.ErrorContext(ctx, "stream: encode order", "error", err)
			return errStreamEnded
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		st.buf = appendEvent(st.buf[:0], strconv.FormatInt(ch.GetSeq(), 10), "order", data)
		if err := st.out.send(st.buf); err != nil {
			st.writeFailed(ctx, err)
			return errStreamEnded
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStreamEnded) && ctx.Err() == nil {
		st.h.errs.logger.WarnContext(ctx, "stream: orders service ended the watch", "user", st.user, "error", err)
	}
}

// errStreamEnded stops the relay after a failure already handled.
var errStreamEnded = errors.New("stream ended")

// writeFailed ends the stream after a failed write; a client too slow to
// read is counted and logged.
func (st *orderStream) writeFailed(ctx context.Context, err error) {
	st.cancel()
	if errors.Is(err, errSlowClient) {
		streamMetrics().dropped.Inc()
		st.h.errs.logger.WarnContext(ctx, "stream: client too slow, dropped", "user", st.user,
			"request_id", st.requestID)
	}
}

// MaxChangeNumber is the largest Last-Event-ID accepted: 2^53-1, the
// largest integer a JavaScript client holds exactly.
const MaxChangeNumber = 1<<53 - 1

// errBadLastEventID answers a malformed Last-Event-ID or last_event_id.
var errBadLastEventID = errors.New("Last-Event-ID must be a change number: an integer from 0 to 9007199254740991")

// lastEventID returns the change number to resume after: the
// Last-Event-ID header, else the last_event_id query parameter, else nil
// (no resume). Each one given must be well formed, even when the header
// wins.
func lastEventID(r *http.Request) (*int64, error) {
	var fromQuery *int64
	if _, ok := r.URL.Query()["last_event_id"]; ok {
		q, err := singleQuery(r, "last_event_id")
		if err != nil {
			return nil, err
		}
		if fromQuery, err = changeNumber(q); err != nil {
			return nil, err
		}
	}
	switch vals := r.Header.Values(HeaderLastEventID); len(vals) {
	case 0:
		return fromQuery, nil
	case 1:
		return changeNumber(vals[0])
	default:
		return nil, errors.New("Last-Event-ID must be given once")
	}
}

// changeNumber parses decimal digits (no sign, no spaces) of an integer
// from 0 to MaxChangeNumber.
func changeNumber(s string) (*int64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return nil, errBadLastEventID
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > MaxChangeNumber {
		return nil, errBadLastEventID
	}
	return &n, nil
}

// errSlowClient is a write that did not complete within the write timeout.
var errSlowClient = errors.New("client did not read within the write timeout")

// connSink writes a stream as an HTTP/1.1 chunked response on a hijacked
// connection, each write within a deadline, and closes the connection at
// the end ("Connection: close": the stream is the connection's last
// response).
type connSink struct {
	conn    net.Conn
	timeout time.Duration
	frame   []byte
}

func newConnSink(conn net.Conn, timeout time.Duration) *connSink {
	return &connSink{conn: conn, timeout: timeout}
}

// start writes the status line, hdr and the first frames.
func (s *connSink) start(hdr http.Header, first []byte) error {
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\n")
	h := hdr.Clone()
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Set("Connection", "close")
	h.Set("Transfer-Encoding", "chunked")
	if err := h.Write(&b); err != nil {
		return err
	}
	b.WriteString("\r\n")
	s.frame = b.Bytes()
	return s.send(first)
}

// send writes b as one chunk.
func (s *connSink) send(b []byte) error {
	s.frame = strconv.AppendInt(s.frame, int64(len(b)), 16)
	s.frame = append(s.frame, "\r\n"...)
	s.frame = append(s.frame, b...)
	s.frame = append(s.frame, "\r\n"...)
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	_, err := s.conn.Write(s.frame)
	s.frame = s.frame[:0]
	if cap(s.frame) > 4<<10 {
		s.frame = nil // a large event's buffer is not kept for the stream's life
	}
	return classifyWrite(err)
}

// finish writes the last chunk, so that the client sees the stream end
// rather than break, and closes the connection.
func (s *connSink) finish() {
	_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = s.conn.Write([]byte("0\r\n\r\n"))
	_ = s.conn.Close()
}

// watchClient reads the connection until the client closes it (or
// finish does), then calls gone. Anything the client sends is ignored.
func (s *connSink) watchClient(gone func()) {
	defer gone()
	var b [64]byte
	for {
		if _, err := s.conn.Read(b[:]); err != nil {
			return
		}
	}
}

// sseWriter writes whole frames to the client, each within a deadline.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

// finish does nothing: the response ends when the handler returns.
func (s *sseWriter) finish() {}

// send writes and flushes b. A write that times out is errSlowClient.
func (s *sseWriter) send(b []byte) error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := s.w.Write(b); err != nil {
		return classifyWrite(err)
	}
	return classifyWrite(s.rc.Flush())
}

func classifyWrite(err error) error {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", errSlowClient, err)
	}
	return err
}

// relay holds one client's watch of the orders service, opened again after
// the orders service ends it (an instance stopping), from the last change
// relayed: the client sees one stream.
type relay struct {
	orders ordersv1.OrderServiceClient
	user   string
	// last is the number of the last change relayed, or the one the first
	// watch started after.
	last int64
	// stop ends the current watch.
	stop context.CancelFunc
}

type watchStream = grpc.ServerStreamingClient[ordersv1.OrderChange]

// open starts a watch after after (nil: from now on) and waits, at most
// timeout, for the orders service to listen; it sets r.last to the number
// the watch starts after.
func (r *relay) open(ctx context.Context, after *int64, timeout time.Duration) (watchStream, error) {
	wctx, cancel := context.WithCancel(ctx)
	stream, err := r.orders.WatchOrders(wctx, &ordersv1.WatchOrdersRequest{UserId: r.user, After: after})
	if err != nil {
		cancel()
		return nil, err
	}
	timer := time.AfterFunc(timeout, cancel)
	md, err := stream.Header()
	if !timer.Stop() || err != nil {
		cancel()
		if err == nil {
			err = status.Error(codes.DeadlineExceeded, "orders service did not start the watch in time")
		}
		return nil, err
	}
	seq := md.Get(ordersv1.HeaderChangeSeq)
	if len(seq) != 1 {
		cancel()
		return nil, status.Error(codes.Internal, "orders service sent no change-seq header")
	}
	n, err := strconv.ParseInt(seq[0], 10, 64)
	if err != nil || n < 0 {
		cancel()
		return nil, status.Errorf(codes.Internal, "orders service sent change-seq %q", seq[0])
	}
	r.last = n
	if r.stop != nil {
		r.stop()
	}
	r.stop = cancel
	return stream, nil
}

// close ends the current watch, if any.
func (r *relay) close() {
	if r.stop != nil {
		r.stop()
	}
}

// run relays the changes of stream to deliver until ctx is done (nil),
// deliver fails (its error) or the watch fails for good. A watch that
// ends while the orders service is unavailable (an instance stopping, its
// database lost) is opened again after r.last, after a pause of 0.25 s
// doubling up to 5 s.
func (r *relay) run(ctx context.Context, stream watchStream, deliver func(*ordersv1.OrderChange) error) error {
	pause := 250 * time.Millisecond
	for {
		err := r.forward(stream, deliver, &pause)
		if ctx.Err() != nil {
			return nil
		}
		switch status.Code(err) {
		case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.DeadlineExceeded, codes.OK:
		default:
			return err
		}
		for {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			pause = min(2*pause, 5*time.Second)
			after := r.last
			stream, err = r.open(ctx, &after, 5*time.Second)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
				return err
			}
		}
	}
}

// forward relays one watch until it ends or deliver fails.
func (r *relay) forward(stream watchStream, deliver func(*ordersv1.OrderChange) error, pause *time.Duration) error {
	for {
		ch, err := stream.Recv()
		if err != nil {
			return err
		}
		if ch.GetSeq() <= r.last {
			continue // never expected: the orders service sends each change once
		}
		if err := deliver(ch); err != nil {
			return err
		}
		r.last = ch.GetSeq()
		*pause = 250 * time.Millisecond
	}
}

// appendEvent appends one event frame: its id, its type and data, one
// data line per line of data (a JSON document has none, but a line break
// in data would otherwise end the frame).
func appendEvent(b []byte, id, event string, data []byte) []byte {
	b = append(b, "id: "...)
	b = append(b, id...)
	b = append(b, "\nevent: "...)
	b = append(b, event...)
	b = append(b, '\n')
	for {
		line := data
		i := indexLineBreak(data)
		if i >= 0 {
			line = data[:i]
		}
		b = append(b, "data: "...)
		b = append(b, line...)
		b = append(b, '\n')
		if i < 0 {
			break
		}
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(b, '\n')
}

func indexLineBreak(b []byte) int {
	for i, c := range b {
		if c == '\n' || c == '\r' {
			return i
		}
	}
	return -1
}

// appendComment appends a comment line, which a client ignores.
func appendComment(b []byte, text string) []byte {
	b = append(b, ": "...)
	b = append(b, text...)
	return append(b, "\n\n"...)
}

// appendRetry appends the reconnection delay a client should use.
func appendRetry(b []byte, d time.Duration) []byte {
	b = append(b, "retry: "...)
	b = strconv.AppendInt(b, d.Milliseconds(), 10)
	return append(b, "\n\n"...)
}

// appendID appends a frame with an id and no data: it sets the client's
// last event id (where an EventSource resumes) without an event.
func appendID(b []byte, seq int64) []byte {
	b = append(b, "id: "...)
	b = strconv.AppendInt(b, seq, 10)
	return append(b, "\n\n"...)
}

// OrderEvent is one event of GET /api/v1/orders/stream as an EventSource
// reads it. The stream is text/event-stream, not JSON: this type only
// documents it (and lets schemathesis check the events it reads).
type OrderEvent struct {
	// Event is always order.
	Event string `json:"event" enums:"order" validate:"required"`
	// ID is the caller's change number, a decimal integer.
	ID string `json:"id" example:"42" extensions:"x-pattern=^[0-9]+$" validate:"required"`
	// Data is the Order, as JSON, as the change left it.
	Data string `json:"data" validate:"required"`
} // @name OrderEvent
