package sse

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// ErrSlowClient is a write that did not complete within the write
// timeout: the client does not read its stream.
var ErrSlowClient = errors.New("client did not read within the write timeout")

// ConnWriter writes a stream as an HTTP/1.1 chunked response on a
// hijacked connection, each write within a timeout, and closes the
// connection at the end ("Connection: close": the stream is the
// connection's last response). It is not safe for concurrent use.
type ConnWriter struct {
	conn    net.Conn
	timeout time.Duration
	frame   []byte
	// broken is set once a write failed: part of a chunk may be on the
	// wire, and the response cannot be ended well.
	broken bool
}

// NewConnWriter returns a ConnWriter on conn whose writes each complete
// within timeout.
func NewConnWriter(conn net.Conn, timeout time.Duration) *ConnWriter {
	return &ConnWriter{conn: conn, timeout: timeout}
}

// Start writes the status line (200), hdr and the first frames.
func (w *ConnWriter) Start(hdr http.Header, first []byte) error {
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
	w.frame = b.Bytes()
	return w.Send(first)
}

// Send writes b, one or more whole frames, as one chunk. A write that
// times out is ErrSlowClient.
func (w *ConnWriter) Send(b []byte) error {
	w.frame = strconv.AppendInt(w.frame, int64(len(b)), 16)
	w.frame = append(w.frame, "\r\n"...)
	w.frame = append(w.frame, b...)
	w.frame = append(w.frame, "\r\n"...)
	_ = w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
	_, err := w.conn.Write(w.frame)
	w.broken = w.broken || err != nil
	w.frame = w.frame[:0]
	if cap(w.frame) > 4<<10 {
		w.frame = nil // a large event's buffer is not kept for the stream's life
	}
	return classifyWrite(err)
}

// Finish writes the last chunk, so that the client sees the stream end
// rather than break, and closes the connection. After a failed write it
// only closes the connection: the last chunk would land inside the chunk
// cut off, where the client would read it as part of a frame (and its
// "\r\n\r\n" as the end of that frame).
func (w *ConnWriter) Finish() {
	if !w.broken {
		_ = w.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = w.conn.Write([]byte("0\r\n\r\n"))
	}
	_ = w.conn.Close()
}

// WatchClient reads the connection until the client closes it (or Finish
// does), then calls gone. Anything the client sends is ignored. It may
// run beside the other methods.
func (w *ConnWriter) WatchClient(gone func()) {
	defer gone()
	var b [64]byte
	for {
		if _, err := w.conn.Read(b[:]); err != nil {
			return
		}
	}
}

// FlushWriter writes a stream to an http.ResponseWriter (an HTTP/2
// stream's, where a connection cannot be hijacked), flushing each write
// within a timeout. It is not safe for concurrent use.
type FlushWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

// NewFlushWriter returns a FlushWriter on w whose writes each complete
// within timeout. Deadlines and flushes go to the writer that w wraps
// (Unwrap), if any, whose flush reports a timeout that a wrapper's Flush
// may drop. It clears the server's read deadline, which would otherwise
// end the request while it streams.
func NewFlushWriter(w http.ResponseWriter, timeout time.Duration) *FlushWriter {
	under := w
	if u, ok := under.(interface{ Unwrap() http.ResponseWriter }); ok {
		under = u.Unwrap()
	}
	fw := &FlushWriter{w: w, rc: http.NewResponseController(under), timeout: timeout}
	_ = fw.rc.SetReadDeadline(time.Time{})
	return fw
}

// Send writes and flushes b, one or more whole frames. A write that
// times out is ErrSlowClient.
func (w *FlushWriter) Send(b []byte) error {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	if _, err := w.w.Write(b); err != nil {
		return classifyWrite(err)
	}
	return classifyWrite(w.rc.Flush())
}

// Finish does nothing: the response ends when its handler returns.
func (w *FlushWriter) Finish() {}

func classifyWrite(err error) error {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", ErrSlowClient, err)
	}
	return err
}
