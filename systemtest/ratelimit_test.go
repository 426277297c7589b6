package systemtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gateway "shop/gateway/app"
	"shop/gateway/httpapi"
	"shop/stack/stacktest"
	"shop/systemtest/system"
)

// TestOneUserFloodThrottled floods order creation as one user through a
// gateway with its default configuration: the flood is answered 429
// RESOURCE_EXHAUSTED with Retry-After past the default per-identity rate
// and burst, and only what the bucket allows becomes an order, while
// another user's orders, placed during the flood, are created and paid.
func TestOneUserFloodThrottled(t *testing.T) {
	t.Parallel()
	const (
		floodRequests = 300
		floodSenders  = 16
		shopperOrders = 3
		amount        = 100
	)
	defaults := gateway.DefaultConfig()
	if defaults.RateLimit <= 0 {
		t.Fatalf("GATEWAY_RATE_LIMIT defaults to %v: the per-identity rate limit is off by default", defaults.RateLimit)
	}
	s := startShop(t, system.Options{})
	shopper, flooder := stacktest.Unique("shopper"), stacktest.Unique("flood")
	s.openAccount(t, shopper, shopperOrders*amount)

	type tally struct {
		created, throttled int
		problems           []string
	}
	var (
		mu  sync.Mutex
		got tally
		wg  sync.WaitGroup
	)
	requests := make(chan int)
	start := time.Now()
	for range floodSenders {
		wg.Go(func() {
			for range requests {
				status, retryAfter, code, err := s.postOrder(flooder, amount)
				mu.Lock()
				switch {
				case err != nil:
					got.problems = append(got.problems, err.Error())
				case status == http.StatusCreated:
					got.created++
				case status == http.StatusTooManyRequests:
					got.throttled++
					if n, err := strconv.Atoi(retryAfter); err != nil || n < 1 || code != httpapi.CodeResourceExhausted {
						got.problems = append(got.problems, fmt.Sprintf("429 with Retry-After %q and code %q, want whole seconds >= 1 and %s", retryAfter, code, httpapi.CodeResourceExhausted))
					}
				default:
					got.problems = append(got.problems, fmt.Sprintf("status %d", status))
				}
				mu.Unlock()
			}
		})
	}
	// The shopper's orders go in while the flood is on.
	shopperDone := make(chan []httpapi.Order, 1)
	go func() {
		var placed []httpapi.Order
		for i := range shopperOrders {
			if i > 0 {
				time.Sleep(200 * time.Millisecond)
			}
			o, err := s.createOrder(context.Background(), shopper, amount)
			if err != nil {
				t.Errorf("shopper's order %d during the flood: %v", i, err)
				continue
			}
			placed = append(placed, o)
		}
		shopperDone <- placed
	}()
	for i := range floodRequests {
		requests <- i
	}
	close(requests)
	wg.Wait()
	elapsed := time.Since(start)
	placed := <-shopperDone

	if len(got.problems) > 0 {
		t.Errorf("flood: %d unexpected answers, first: %s", len(got.problems), got.problems[0])
	}
	allowed := defaults.RateBurst + int(defaults.RateLimit*elapsed.Seconds()) + 1
	t.Logf("flood of %d in %s: %d created, %d throttled (at most %d allowed)", floodRequests, elapsed.Round(time.Millisecond), got.created, got.throttled, allowed)
	if got.throttled == 0 {
		t.Errorf("flood of %d orders by one user: none throttled, want 429 past %v/s with a burst of %d", floodRequests, defaults.RateLimit, defaults.RateBurst)
	}
	if got.created > allowed {
		t.Errorf("flood: %d orders created in %s, want at most %d (burst %d + %v/s)", got.created, elapsed, allowed, defaults.RateBurst, defaults.RateLimit)
	}
	if len(placed) != shopperOrders {
		t.Fatalf("shopper placed %d of %d orders during the flood", len(placed), shopperOrders)
	}
	for _, o := range placed {
		if r := s.waitOrder(t, o); r.Status != "PAID" {
			t.Errorf("shopper's order %s: %s %s, want PAID", o.ID, r.Status, r.Reason)
		}
	}
}

// postOrder creates an order as user and returns the status, the
// Retry-After header and the error code of the answer.
func (s *shop) postOrder(user string, amount int64) (status int, retryAfter, code string, err error) {
	req, err := http.NewRequest(http.MethodPost, s.URL+"/api/v1/orders", strings.NewReader(fmt.Sprintf(`{"amount":%d,"description":"flood"}`, amount)))
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(httpapi.HeaderUserID, user)
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", "", err
	}
	if resp.StatusCode != http.StatusCreated {
		if err := json.Unmarshal(b, &body); err != nil {
			return 0, "", "", fmt.Errorf("status %d, body %s: %w", resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), body.Error.Code, nil
}
