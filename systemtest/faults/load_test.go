package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"shop/gateway/httpapi"
)

// client calls the gateway as a careful real client does: every request
// that changes something carries an Idempotency-Key and is repeated with it
// on a transport error, a 5xx or 409 IDEMPOTENCY_KEY_IN_USE, with growing
// pauses, until it gets its success or a final 4xx. Safe for concurrent use.
type client struct {
	base string
	http *http.Client
}

func newClient(base string) *client {
	return &client{base: base, http: &http.Client{
		// Longer than any wait of the gateway (its backend deadline), so a
		// timeout here means a hung gateway.
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second},
	}}
}

// statusError is an answer other than the awaited success; the request is
// repeated unless retryable says no.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("status %d: %s", e.status, e.body) }

// retryable reports whether a client repeats a request that got status and
// body: 5xx, and 409 only for a concurrent request with the same key.
func retryable(status int, body []byte) bool {
	if status >= 500 {
		return true
	}
	if status != http.StatusConflict {
		return false
	}
	var e httpapi.ErrorResponse
	return json.Unmarshal(body, &e) == nil && e.Error.Code == httpapi.CodeIdempotencyKeyInUse
}

// post sends body to path as user with the idempotency key (none when
// empty) until the answer is want (decoded into out) or final, or ctx ends.
// attempts counts the requests sent.
func (c *client) post(ctx context.Context, path, user, key, body string, want int, out any, attempts *int) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = time.Second
	b.MaxElapsedTime = 0 // ctx bounds it
	return backoff.Retry(func() error {
		*attempts++
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader([]byte(body)))
		if err != nil {
			return backoff.Permanent(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(httpapi.HeaderUserID, user)
		if key != "" {
			req.Header.Set(httpapi.HeaderIdempotencyKey, key)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return err // transport: repeat
		}
		defer resp.Body.Close()
		rb, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		switch {
		case resp.StatusCode == want:
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(rb, out); err != nil {
				return backoff.Permanent(fmt.Errorf("%s: body %s: %w", path, rb, err))
			}
			return nil
		case retryable(resp.StatusCode, rb):
			return &statusError{resp.StatusCode, string(rb)}
		default:
			return backoff.Permanent(&statusError{resp.StatusCode, string(rb)})
		}
	}, backoff.WithContext(b, ctx))
}

// openAccount opens user's account (an existing one is fine: a repeat after
// a lost answer) and tops it up with funds once, under one idempotency key.
func (c *client) openAccount(ctx context.Context, user string, funds int64) error {
	var attempts int
	err := c.post(ctx, "/api/v1/account", user, "", "", http.StatusCreated, nil, &attempts)
	var fe *statusError
	if errors.As(err, &fe) && fe.status == http.StatusConflict {
		err = nil // ACCOUNT_EXISTS: our earlier attempt got through
	}
	if err != nil {
		return fmt.Errorf("open account %s: %w", user, err)
	}
	var acc httpapi.Account
	body := fmt.Sprintf(`{"amount":%d}`, funds)
	if err := c.post(ctx, "/api/v1/account/top-up", user, "topup-"+user, body, http.StatusOK, &acc, &attempts); err != nil {
		return fmt.Errorf("top up %s: %w", user, err)
	}
	if acc.Balance != funds {
		return fmt.Errorf("top up %s with %d: balance %d", user, funds, acc.Balance)
	}
	return nil
}

// order is one order as the client sees it: what it asked for and what it
// was answered. Its description is its key, so the database can be searched
// for every order a key made.
type order struct {
	Key    string
	User   string
	Amount int64
	Step   int // index of the step during which it was first sent
	Sent   time.Time

	// Set when the request ends.
	Acked    time.Time // when the 201 came; zero without one
	ID       string    // the 201's order id
	Attempts int
	Err      string // the final non-201 answer, or why the client gave up
}

// load sends orders at a steady rate, each in its own goroutine that repeats
// it until it is answered; its methods are for one goroutine (the test's),
// the orders it records are read only once their goroutines ended (wait).
type load struct {
	client  *client
	users   []string
	rate    float64
	prefix  string
	nextKey atomic.Int64

	mu     sync.Mutex
	orders []*order
	active sync.WaitGroup
}

// newLoad returns a load of rate orders per second spread over users, whose
// idempotency keys start with prefix.
func newLoad(c *client, users []string, rate float64, prefix string) *load {
	return &load{client: c, users: users, rate: rate, prefix: prefix}
}

// run sends orders for step until stop is closed. Each order is repeated
// until answered or ctx ends; wait waits for them.
func (l *load) run(ctx context.Context, step int, stop <-chan struct{}) {
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			// As many as the rate asks for since start: a late tick sends
			// more, so the average holds on a busy machine.
			due := int(now.Sub(start).Seconds() * l.rate)
			for ; sent < due; sent++ {
				l.send(ctx, step)
			}
		}
	}
}

// send starts one order.
func (l *load) send(ctx context.Context, step int) {
	n := l.nextKey.Add(1)
	o := &order{
		Key:    l.prefix + strconv.FormatInt(n, 10),
		User:   l.users[rand.IntN(len(l.users))],
		Amount: 1 + rand.Int64N(1000),
		Step:   step,
		Sent:   time.Now(),
	}
	l.mu.Lock()
	l.orders = append(l.orders, o)
	l.mu.Unlock()
	l.active.Go(func() {
		var got httpapi.Order
		body := fmt.Sprintf(`{"amount":%d,"description":%q}`, o.Amount, o.Key)
		err := l.client.post(ctx, "/api/v1/orders", o.User, o.Key, body, http.StatusCreated, &got, &o.Attempts)
		if err != nil {
			o.Err = err.Error()
			return
		}
		if got.Status != "PENDING" || got.Amount != o.Amount || got.UserID != o.User || got.Description != o.Key {
			o.Err = fmt.Sprintf("201 with %+v, want a PENDING order of %d for %s", got, o.Amount, o.User)
			return
		}
		o.ID, o.Acked = got.ID, time.Now()
	})
}

// wait waits until every order sent so far is answered or given up, and
// returns them all.
func (l *load) wait() []*order {
	l.active.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*order(nil), l.orders...)
}
