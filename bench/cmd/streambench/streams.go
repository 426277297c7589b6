package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"shop/bench/load"
	"shop/gateway/sse"

	"golang.org/x/sync/errgroup"
)

// streamPool holds open order streams (GET /api/v1/orders/stream), each on
// its own connection, and records what they read.
type streamPool struct {
	base string
	hc   *http.Client
	rec  *recorder
	log  *slog.Logger

	wg      sync.WaitGroup
	mu      sync.Mutex
	cancels []context.CancelFunc
	// ended counts streams that ended before they were closed; bad
	// frames that did not decode.
	ended, bad atomic.Int64
}

func newStreamPool(base string, rec *recorder, log *slog.Logger) *streamPool {
	tr := &http.Transport{
		Proxy:              nil,
		DialContext:        (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		DisableCompression: true,
		MaxIdleConns:       -1,
	}
	return &streamPool{base: base, hc: &http.Client{Transport: tr}, rec: rec, log: log}
}

// open opens n streams, perUser for each user in turn from users, conc at
// a time, and returns once each has read its opening id frame (the
// gateway's watch is then established).
func (p *streamPool) open(ctx context.Context, users []string, n, perUser, conc int) error {
	if len(users)*perUser < n {
		return fmt.Errorf("%d streams need %d users at %d per user, have %d", n, (n+perUser-1)/perUser, perUser, len(users))
	}
	// The streams outlive open: each job gets ctx, not the group's
	// context, which ends when open returns.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for i := 0; i < n && gctx.Err() == nil; i++ {
		g.Go(func() error { return p.openOne(ctx, users[i/perUser]) })
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// openOne opens one stream of user and waits for its opening frame.
func (p *streamPool) openOne(ctx context.Context, user string) error {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, p.base+"/api/v1/orders/stream", nil)
	if err != nil {
		cancel()
		return err
	}
	req.Header.Set("X-User-ID", user)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := p.hc.Do(req)
	if err != nil {
		cancel()
		return fmt.Errorf("stream of %s: %w", user, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		cancel()
		return fmt.Errorf("stream of %s: %w", user, &load.StatusError{Code: resp.StatusCode, Body: string(b)})
	}
	fr := sse.NewReader(resp.Body)
	first, err := nextFrame(fr)
	if err != nil || !first.HasID || first.Event != "" {
		resp.Body.Close()
		cancel()
		return fmt.Errorf("stream of %s: want an opening id frame, got %+v (%v)", user, first, err)
	}
	p.mu.Lock()
	p.cancels = append(p.cancels, cancel)
	p.mu.Unlock()
	p.wg.Go(func() {
		defer resp.Body.Close()
		for {
			f, err := nextFrame(fr)
			at := time.Now()
			if err != nil {
				if sctx.Err() == nil {
					p.ended.Add(1)
					p.log.Warn("stream ended", "user", user, "err", err)
				}
				return
			}
			if f.Event == "" {
				continue
			}
			o, err := parseOrderEvent(f)
			if err != nil {
				p.bad.Add(1)
				continue
			}
			p.rec.add(read{Order: o.ID, Status: o.Status, Updated: o.UpdatedAt, At: at})
		}
	})
	return nil
}

// closeAll closes every stream and waits for their readers.
func (p *streamPool) closeAll() {
	p.mu.Lock()
	cs := p.cancels
	p.cancels = nil
	p.mu.Unlock()
	for _, c := range cs {
		c()
	}
	p.wg.Wait()
	p.hc.CloseIdleConnections()
}

// driveResult is what one run of orders at a fixed rate did.
type driveResult struct {
	IDs      []string
	Sent     int
	Errors   map[string]int
	Achieved float64 // created orders per second over the sending window
}

// drive creates orders at rate per second for d, for users in turn, at
// most maxInFlight POSTs at a time (a send due beyond that is an error
// "skipped"). It returns the ids of the created orders.
func drive(ctx context.Context, c *load.Client, users []string, rate float64, d time.Duration, amount int64, desc string, maxInFlight int) driveResult {
	n := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	var (
		mu  sync.Mutex
		res = driveResult{Errors: map[string]int{}}
		wg  sync.WaitGroup
	)
	slots := make(chan struct{}, maxInFlight)
	start := time.Now()
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		res.Sent++
		select {
		case slots <- struct{}{}:
		default:
			mu.Lock()
			res.Errors["skipped"]++
			mu.Unlock()
			continue
		}
		user := users[i%len(users)]
		wg.Go(func() {
			defer func() { <-slots }()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			o, err := c.CreateOrder(cctx, user, amount, desc)
			cancel()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors[load.ErrorClass(err)]++
				return
			}
			res.IDs = append(res.IDs, o.ID)
		})
	}
	sending := time.Since(start)
	wg.Wait()
	if sending > 0 {
		res.Achieved = float64(len(res.IDs)) / sending.Seconds()
	}
	return res
}

// awaitReads waits until the streams have read want terminal events of
// ids, or timeout passes; it returns how long it waited.
func awaitReads(ctx context.Context, rec *recorder, ids []string, want int, timeout time.Duration) time.Duration {
	start := time.Now()
	deadline := start.Add(timeout)
	for rec.terminalReads(ids) < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}
