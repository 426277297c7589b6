package load

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shop/bench/stats"
)

func TestVerdict(t *testing.T) {
	good := Result{Rate: 100, Scheduled: 1000, Created: 1000, Achieved: 100, E2E: stats.Summary{Count: 1000, P99: 80}}
	with := func(f func(*Result)) Result { r := good; f(&r); return r }
	tests := []struct {
		name    string
		r       Result
		backlog int
		want    bool
		reason  string
	}{
		{"OK", good, 0, true, "ok"},
		{"OKWithTinyBacklog", good, 1, true, "ok"},
		{"ErrBacklogGrows", good, 2, false, "backlog 2 after drain"},
		{"ErrP99", with(func(r *Result) { r.E2E.P99 = 1001 }), 0, false, "e2e p99 1001 ms > 1000 ms"},
		{"P99AtLimitIsOK", with(func(r *Result) { r.E2E.P99 = 1000 }), 0, true, "ok"},
		{"ErrErrors", with(func(r *Result) { r.ErrorCount = 2 }), 0, false, "errors 2 of 1000"},
		{"ErrBehind", with(func(r *Result) { r.Achieved = 90 }), 0, false, "achieved 90/s of 100/s"},
		{"ErrNothingObserved", with(func(r *Result) { r.E2E = stats.Summary{} }), 0, false, "no order observed to completion"},
		{"ErrNothingCreated", with(func(r *Result) { r.Created = 0 }), 0, false, "no order created"},
		{"ErrNothingScheduled", Result{}, 0, false, "nothing scheduled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason := DefaultLimits.Verdict(tt.r, tt.backlog)
			if ok != tt.want || reason != tt.reason {
				t.Errorf("Verdict = %v %q, want %v %q", ok, reason, tt.want, tt.reason)
			}
		})
	}
}

func TestNewClientRejectsNonLoopback(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080", true},
		{"http://[::1]:8080", true},
		{"http://10.0.0.1:8080", false},
		{"http://example.com", false},
		{"127.0.0.1:8080", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := NewClient(tt.url, 10, time.Second)
			if (err == nil) != tt.ok {
				t.Errorf("NewClient(%q) error = %v, want ok=%v", tt.url, err, tt.ok)
			}
		})
	}
}

// fakeGateway creates orders and reports them PAID from the third GET on;
// users whose id starts with "fail" get a 503 on POST.
type fakeGateway struct {
	mu    sync.Mutex
	polls map[string]int
	posts atomic.Int64
}

func (f *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user := r.Header.Get("X-User-ID")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/orders":
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.HasPrefix(user, "fail") {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		id := fmt.Sprintf("o-%d", f.posts.Add(1))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%q,"status":"PENDING"}`, id)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v1/orders/"):
		id := strings.TrimPrefix(r.URL.Path, "/api/v1/orders/")
		f.mu.Lock()
		f.polls[id]++
		n := f.polls[id]
		f.mu.Unlock()
		status := "PENDING"
		if n >= 3 {
			status = "PAID"
		}
		fmt.Fprintf(w, `{"id":%q,"status":%q}`, id, status)
	default:
		http.NotFound(w, r)
	}
}

func TestRunStep(t *testing.T) {
	fg := &fakeGateway{polls: map[string]int{}}
	srv := httptest.NewServer(fg)
	defer srv.Close()
	c, err := NewClient(srv.URL, 100, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := c.RunStep(context.Background(), Step{
		Rate: 200, Duration: 250 * time.Millisecond, Drain: 500 * time.Millisecond, PollInterval: 5 * time.Millisecond,
		Observe: 0.5, Users: []string{"fail1", "u1"}, Amount: 1, Description: "test",
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))

	if r.Scheduled != 50 {
		t.Errorf("scheduled %d, want 50", r.Scheduled)
	}
	// Even sends are from the failing user.
	if r.Created != 25 || r.Errors["http_503"] != 25 || r.ErrorCount != 25 {
		t.Errorf("created %d, errors %v (%d), want 25 created and 25 http_503", r.Created, r.Errors, r.ErrorCount)
	}
	// Observed: sends 1, 3, 5, ... (Sampler 0.5): all from u1, so all created.
	if r.Observed != 25 || r.Paid != 25 || r.Backlog != 0 || r.E2E.Count != 25 {
		t.Errorf("observed %d paid %d backlog %d e2e count %d, want 25 25 0 25", r.Observed, r.Paid, r.Backlog, r.E2E.Count)
	}
	if r.GETs != 75 {
		t.Errorf("GETs %d, want 3 per observed order = 75", r.GETs)
	}
	// Three polls 5 ms apart after the POST: e2e is at least 15 ms.
	if r.E2E.P50 < 15 || r.E2E.P50 < r.Create.P50 {
		t.Errorf("e2e p50 %.2f ms, create p50 %.2f ms: want e2e >= 15 ms and >= create", r.E2E.P50, r.Create.P50)
	}
}

func TestRunStepCountsBacklog(t *testing.T) {
	// Orders never leave PENDING: every observed one is backlog at the drain.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		fmt.Fprint(w, `{"id":"x","status":"PENDING"}`)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, 10, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := c.RunStep(context.Background(), Step{
		Rate: 100, Duration: 100 * time.Millisecond, Drain: 100 * time.Millisecond, PollInterval: 10 * time.Millisecond,
		Observe: 1, Users: []string{"u"}, Amount: 1, Description: "test",
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if r.Created != 10 || r.Backlog != 10 || r.E2E.Count != 0 {
		t.Errorf("created %d backlog %d e2e %d, want 10 10 0", r.Created, r.Backlog, r.E2E.Count)
	}
	if ok, _ := DefaultLimits.Verdict(r, r.Backlog); ok {
		t.Error("Verdict ok with every order pending, want not sustained")
	}
}
