package sse

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A hijacked stream is a well-formed HTTP/1.1 chunked response: the
// handler's headers, each frame intact, a clean end at finish; a client
// that closes its side is noticed.
func TestConnWriter(t *testing.T) {
	tests := []struct {
		name   string
		frames []string
	}{
		{name: "HelloOnly"},
		{name: "Events", frames: []string{"id: 1\nevent: order\ndata: {}\n\n", ": keep-alive\n\n"}},
		{name: "LargeEvent", frames: []string{"data: " + strings.Repeat("x", 10_000) + "\n\n", "id: 3\n\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, client := net.Pipe()
			defer client.Close()
			s := NewConnWriter(server, 5*time.Second)
			hdr := http.Header{"Content-Type": {"text/event-stream"}, "X-Request-Id": {"r-1"}}
			const hello = "retry: 2000\n\nid: 0\n\n"
			go func() {
				if err := s.Start(hdr, []byte(hello)); err != nil {
					t.Errorf("start: %v", err)
				}
				for _, f := range tt.frames {
					if err := s.Send([]byte(f)); err != nil {
						t.Errorf("send: %v", err)
					}
				}
				s.Finish()
			}()
			resp, err := http.ReadResponse(bufio.NewReader(client), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("body: %v (want a clean end)", err)
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" ||
				resp.Header.Get("X-Request-Id") != "r-1" || !resp.Close || resp.Header.Get("Date") == "" {
				t.Errorf("response %d, header %v, close %v", resp.StatusCode, resp.Header, resp.Close)
			}
			if want := hello + strings.Join(tt.frames, ""); string(body) != want {
				t.Errorf("body %.80q..., want %.80q...", body, want)
			}
		})
	}
	t.Run("ClientGone", func(t *testing.T) {
		server, client := net.Pipe()
		defer server.Close()
		gone := make(chan struct{})
		go NewConnWriter(server, time.Second).WatchClient(func() { close(gone) })
		if _, err := client.Write([]byte("ignored")); err != nil {
			t.Fatal(err)
		}
		client.Close()
		select {
		case <-gone:
		case <-time.After(5 * time.Second):
			t.Fatal("the client's close was not noticed")
		}
	})
	t.Run("SlowClient", func(t *testing.T) {
		server, client := net.Pipe() // unbuffered: nobody reads, every write blocks
		defer client.Close()
		defer server.Close()
		err := NewConnWriter(server, 50*time.Millisecond).Send([]byte("data: x\n\n"))
		if !errors.Is(err, ErrSlowClient) {
			t.Errorf("send to a client that does not read: %v, want ErrSlowClient", err)
		}
	})
	// A client that stops reading within a frame is cut off there: the
	// connection closes with no last chunk after the part of the frame it
	// read, so that no reader takes that part for a whole frame.
	t.Run("CutOffWithinAFrame", func(t *testing.T) {
		server, client := net.Pipe()
		defer client.Close()
		w := NewConnWriter(server, 50*time.Millisecond)
		const frame = "id: 1\nevent: order\ndata: {\"id\":\"a\"}\n\n"
		sent := make(chan error, 1)
		go func() { sent <- w.Send([]byte(frame)) }()
		head := make([]byte, 12)
		if _, err := io.ReadFull(client, head); err != nil {
			t.Fatal(err)
		}
		if err := <-sent; !errors.Is(err, ErrSlowClient) {
			t.Fatalf("send cut off: %v, want ErrSlowClient", err)
		}
		go w.Finish()
		rest, err := io.ReadAll(client)
		if err != nil {
			t.Fatal(err)
		}
		if len(rest) != 0 {
			t.Errorf("after the cut, the client read %q, want nothing (the connection closed)", rest)
		}
	})
}

// wrapped is a ResponseWriter that wraps another, as a router's does.
type wrapped struct{ http.ResponseWriter }

func (w wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Over HTTP/2 each frame reaches the client when it is sent, not when the
// response ends, and the client reads back what was framed.
func TestFlushWriter(t *testing.T) {
	frames := [][]byte{
		AppendRetry(nil, 2*time.Second),
		AppendID(nil, "0"),
		AppendEvent(nil, "1", "order", []byte(`{"id":"a"}`)),
		AppendComment(nil, "keep-alive"),
	}
	want := []Frame{
		{Retry: 2 * time.Second, HasRetry: true},
		{ID: "0", HasID: true},
		{ID: "1", HasID: true, Event: "order", Data: `{"id":"a"}`, HasData: true},
		{Comments: []string{"keep-alive"}},
	}
	for _, wrap := range []bool{false, true} {
		name := map[bool]string{false: "Direct", true: "Wrapped"}[wrap]
		t.Run(name, func(t *testing.T) {
			read := make(chan struct{})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if wrap {
					w = wrapped{w}
				}
				out := NewFlushWriter(w, 5*time.Second)
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(http.StatusOK)
				for _, f := range frames {
					if err := out.Send(f); err != nil {
						t.Errorf("send: %v", err)
						return
					}
					select {
					case <-read: // the client read the frame before the next is sent
					case <-time.After(5 * time.Second):
						t.Error("the client did not read a frame that was sent")
						return
					}
				}
				out.Finish()
			}))
			srv.EnableHTTP2 = true
			srv.StartTLS()
			defer srv.Close()
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
			}
			r := NewReader(resp.Body)
			var got []Frame
			for range frames {
				f, err := r.Next()
				if err != nil {
					t.Fatalf("after %d frames: %v", len(got), err)
				}
				got = append(got, f)
				read <- struct{}{}
			}
			if _, err := r.Next(); !errors.Is(err, io.EOF) {
				t.Errorf("after the last frame: %v, want io.EOF", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("frames (-want +got):\n%s", diff)
			}
		})
	}
}
