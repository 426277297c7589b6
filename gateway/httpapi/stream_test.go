package httpapi

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
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name      string
		id, event string
		data      string
		want      string
	}{
		{"OneLine", "7", "order", `{"id":"x"}`, "id: 7\nevent: order\ndata: {\"id\":\"x\"}\n\n"},
		{"Empty", "1", "order", "", "id: 1\nevent: order\ndata: \n\n"},
		{"LineFeeds", "2", "order", "a\nb\n", "id: 2\nevent: order\ndata: a\ndata: b\ndata: \n\n"},
		{"CRLF", "3", "order", "a\r\nb", "id: 3\nevent: order\ndata: a\ndata: b\n\n"},
		{"CR", "4", "order", "a\rb", "id: 4\nevent: order\ndata: a\ndata: b\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendEvent([]byte("prefix|"), tt.id, tt.event, []byte(tt.data)))
			if want := "prefix|" + tt.want; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestAppendControlFrames(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"Comment", appendComment(nil, "keep-alive"), ": keep-alive\n\n"},
		{"Retry", appendRetry(nil, 2500*time.Millisecond), "retry: 2500\n\n"},
		{"ID", appendID(nil, 42), "id: 42\n\n"},
		{"IDZero", appendID(nil, 0), "id: 0\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestLastEventID(t *testing.T) {
	tests := []struct {
		name    string
		header  string
		query   string
		want    int64 // -1: none
		wantErr bool
	}{
		{name: "None", want: -1},
		{name: "Header", header: "17", want: 17},
		{name: "Zero", header: "0", want: 0},
		{name: "Query", query: "?last_event_id=5", want: 5},
		{name: "HeaderWinsOverQuery", header: "9", query: "?last_event_id=5", want: 9},
		{name: "ErrEmptyQuery", query: "?last_event_id=", wantErr: true},
		{name: "Max", header: "9007199254740991", want: 9007199254740991},
		{name: "ErrOverMax", header: "9007199254740992", wantErr: true},
		{name: "ErrBadQueryUnderHeader", header: "9", query: "?last_event_id=x", wantErr: true},
		{name: "ErrNegative", header: "-1", wantErr: true},
		{name: "ErrPlus", header: "+1", wantErr: true},
		{name: "ErrText", header: "abc", wantErr: true},
		{name: "ErrFraction", query: "?last_event_id=1.5", wantErr: true},
		{name: "ErrOverflow", header: "9223372036854775808", wantErr: true},
		{name: "ErrQueryTwice", query: "?last_event_id=1&last_event_id=2", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/orders/stream"+tt.query, nil)
			if tt.header != "" {
				r.Header.Set(HeaderLastEventID, tt.header)
			}
			got, err := lastEventID(r)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %v, want an error", *got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want < 0 && got != nil:
				t.Errorf("got %d, want none", *got)
			case tt.want >= 0 && (got == nil || *got != tt.want):
				t.Errorf("got %v, want %d", got, tt.want)
			}
		})
	}
}

func TestStreamSlots(t *testing.T) {
	s := &streamSlots{max: 2, open: map[string]int{}}
	r1, ok1 := s.acquire("alice")
	_, ok2 := s.acquire("alice")
	_, ok3 := s.acquire("alice")
	_, okBob := s.acquire("bob")
	if !ok1 || !ok2 || ok3 || !okBob {
		t.Fatalf("acquire: got %v %v %v (bob %v), want true true false (bob true)", ok1, ok2, ok3, okBob)
	}
	r1()
	r1() // a second release frees nothing more
	if _, ok := s.acquire("alice"); !ok {
		t.Error("no slot after a release")
	}
	if _, ok := s.acquire("alice"); ok {
		t.Error("a double release freed two slots")
	}
}

func TestStreamOptionsDefaults(t *testing.T) {
	got, err := StreamOptions{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := StreamOptions{Heartbeat: DefaultStreamHeartbeat, Retry: DefaultStreamRetry, MaxPerUser: DefaultStreamMaxPerUser, WriteTimeout: DefaultStreamWriteTimeout}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := (StreamOptions{Heartbeat: -1}).withDefaults(); err == nil {
		t.Error("negative heartbeat accepted")
	}
}

// A hijacked stream is a well-formed HTTP/1.1 chunked response: the
// handler's headers, each frame intact, a clean end at finish; a client
// that closes its side is noticed.
func TestConnSink(t *testing.T) {
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
			s := newConnSink(server, 5*time.Second)
			hdr := http.Header{"Content-Type": {"text/event-stream"}, "X-Request-Id": {"r-1"}}
			const hello = "retry: 2000\n\nid: 0\n\n"
			go func() {
				if err := s.start(hdr, []byte(hello)); err != nil {
					t.Errorf("start: %v", err)
				}
				for _, f := range tt.frames {
					if err := s.send([]byte(f)); err != nil {
						t.Errorf("send: %v", err)
					}
				}
				s.finish()
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
		go newConnSink(server, time.Second).watchClient(func() { close(gone) })
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
		err := newConnSink(server, 50*time.Millisecond).send([]byte("data: x\n\n"))
		if !errors.Is(err, errSlowClient) {
			t.Errorf("send to a client that does not read: %v, want errSlowClient", err)
		}
	})
}
