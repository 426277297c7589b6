package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := newRateLimiter(RateLimit{PerSecond: 2, Burst: 3, MaxIdentities: 2}, func() time.Time { return now })
	steps := []struct {
		name      string
		advance   time.Duration
		id        string
		want      bool
		wantAfter time.Duration
	}{
		{name: "Burst1", id: "alice", want: true},
		{name: "Burst2", id: "alice", want: true},
		{name: "Burst3", id: "alice", want: true},
		{name: "ErrEmpty", id: "alice", want: false, wantAfter: 500 * time.Millisecond},
		{name: "ErrStillEmpty", advance: 250 * time.Millisecond, id: "alice", want: false, wantAfter: 250 * time.Millisecond},
		{name: "OtherIdentityUnaffected", id: "bob", want: true},
		{name: "Refilled", advance: 250 * time.Millisecond, id: "alice", want: true},
		{name: "ErrEmptyAgain", id: "alice", want: false, wantAfter: 500 * time.Millisecond},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		ok, after := l.allow(s.id)
		if ok != s.want || after != s.wantAfter {
			t.Errorf("%s: allow(%s) = %v, %s; want %v, %s", s.name, s.id, ok, after, s.want, s.wantAfter)
		}
	}
	// A third identity evicts the least recently seen (bob), never more
	// than MaxIdentities buckets.
	if ok, _ := l.allow("carol"); !ok {
		t.Error("carol refused")
	}
	if n := l.size(); n != 2 {
		t.Errorf("%d buckets, want 2", n)
	}
	if ok, _ := l.allow("alice"); ok {
		t.Error("alice's empty bucket was evicted instead of bob's")
	}
}

// Memory is bounded however many identities call.
func TestRateLimiterBounded(t *testing.T) {
	l := newRateLimiter(RateLimit{PerSecond: 1, Burst: 1, MaxIdentities: 100}, time.Now)
	for i := range 10_000 {
		l.allow("u" + strconv.Itoa(i))
	}
	if n := l.size(); n != 100 {
		t.Errorf("%d buckets after 10000 identities, want 100", n)
	}
}

func TestRateLimitThroughRouter(t *testing.T) {
	env := newTestEnv(t, time.Second, func(o *Options) { o.RateLimit = RateLimit{PerSecond: 0.5, Burst: 2} })
	get := func(user string) int {
		rec := env.do(t, req{method: "GET", path: "/api/v1/orders", user: user})
		if rec.Code == http.StatusTooManyRequests {
			wantError(t, rec, http.StatusTooManyRequests, CodeResourceExhausted)
			if got := rec.Header().Get("Retry-After"); got != "2" {
				t.Errorf("Retry-After %q, want 2 (a token every 2 s)", got)
			}
		}
		return rec.Code
	}
	var codes []int
	for range 3 {
		codes = append(codes, get("alice"))
	}
	if fmt.Sprint(codes) != "[200 200 429]" {
		t.Errorf("alice's statuses %v, want [200 200 429]", codes)
	}
	if code := get("bob"); code != http.StatusOK {
		t.Errorf("bob %d, want 200: the limit is per identity", code)
	}
	if n := env.orders.count("ListOrders"); n != 3 {
		t.Errorf("ListOrders called %d times, want 3: a limited request never reaches the backend", n)
	}
	// Unauthenticated requests are 401, not counted against anyone.
	if rec := env.do(t, req{method: "GET", path: "/api/v1/orders"}); rec.Code != http.StatusUnauthorized {
		t.Errorf("no identity: %d, want 401", rec.Code)
	}
}

// No limit by default.
func TestNoRateLimitByDefault(t *testing.T) {
	env := newTestEnv(t, time.Second)
	for i := range 200 {
		if rec := env.do(t, req{method: "GET", path: "/api/v1/orders", user: "alice"}); rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d, want 200", i, rec.Code)
		}
	}
}
