package load

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"shop/bench/stats"
)

// Step is one fixed-rate phase of the load.
type Step struct {
	Rate     float64       // orders per second offered
	Duration time.Duration // how long the rate is held
	// Drain is how long observation goes on after the last scheduled send;
	// observed orders still PENDING then are the backlog.
	Drain time.Duration
	// PollInterval is the period of the GETs that watch an observed order,
	// the first one PollInterval after its POST returned.
	PollInterval time.Duration
	// Observe is the fraction of orders watched until they are decided
	// (1 = every order), spread evenly over the step.
	Observe     float64
	Users       []string // the X-User-ID of send i is Users[i % len(Users)]
	Amount      int64    // of each order, in minor units
	Description string   // of each order; identifies the step's orders
	// MaxInFlight bounds the concurrent POSTs; a send due while the bound
	// is reached is not sent and counted as the error "skipped".
	MaxInFlight int
}

// Result is what a step measured.
type Result struct {
	Rate        float64        `json:"rate"`
	DurationS   float64        `json:"duration_s"`
	Scheduled   int            `json:"scheduled"`
	Created     int            `json:"created"`
	Errors      map[string]int `json:"errors"`
	ErrorCount  int            `json:"error_count"`
	Achieved    float64        `json:"achieved_per_s"`
	MaxSendLag  float64        `json:"max_send_lag_ms"`
	Create      stats.Summary  `json:"create"`
	E2E         stats.Summary  `json:"e2e"`
	Observed    int            `json:"observed"`
	ObserveFrac float64        `json:"observe_fraction"`
	Paid        int            `json:"paid"`
	Cancelled   int            `json:"cancelled"`
	// Backlog is the number of observed orders still PENDING after the drain.
	Backlog      int     `json:"backlog_observed"`
	GETs         int     `json:"gets"`
	GETErrors    int     `json:"get_errors"`
	GETsPerS     float64 `json:"gets_per_s"`
	PollInterval float64 `json:"poll_interval_ms"`
}

// RunStep offers s.Rate orders per second for s.Duration, each POST in its
// own goroutine at its scheduled time, and watches the observed orders with
// a GET every s.PollInterval until they are PAID or CANCELLED or the drain
// ends. Latencies count from the scheduled send time. It returns when every
// request it started has finished (at most the drain, or the client timeout
// after the last send, past the step's end).
func (c *Client) RunStep(ctx context.Context, s Step, log *slog.Logger) Result {
	var (
		create, e2e                                stats.Sample
		created, observed, paid, cancelled, backlg atomic.Int64
		gets, getErrs, inFlight                    atomic.Int64
		mu                                         sync.Mutex
		errs                                       = map[string]int{}
		wg                                         sync.WaitGroup
		lastOK                                     atomic.Int64 // unix nanos of the last successful POST
	)
	countErr := func(class string) {
		mu.Lock()
		errs[class]++
		mu.Unlock()
	}
	sampler := Sampler{s.Observe}
	start := time.Now().Add(10 * time.Millisecond)
	tl := NewTimeline(start, s.Rate, s.Duration)
	pollCtx, stopPolls := context.WithDeadline(ctx, start.Add(s.Duration+s.Drain))
	defer stopPolls()

	watch := func(user, id string, at time.Time) {
		t := time.NewTicker(s.PollInterval)
		defer t.Stop()
		for {
			select {
			case <-pollCtx.Done():
				backlg.Add(1)
				return
			case <-t.C:
			}
			o, err := c.GetOrder(pollCtx, user, id)
			if pollCtx.Err() != nil {
				backlg.Add(1)
				return
			}
			gets.Add(1)
			if err != nil {
				getErrs.Add(1)
				continue
			}
			if o.Terminal() {
				e2e.Add(time.Since(at))
				if o.Status == "PAID" {
					paid.Add(1)
				} else {
					cancelled.Add(1)
				}
				return
			}
		}
	}
	fire := func(i int, at time.Time) {
		if s.MaxInFlight > 0 && inFlight.Load() >= int64(s.MaxInFlight) {
			countErr("skipped")
			return
		}
		inFlight.Add(1)
		wg.Go(func() {
			user := s.Users[i%len(s.Users)]
			o, err := c.CreateOrder(ctx, user, s.Amount, s.Description)
			inFlight.Add(-1)
			if err != nil {
				countErr(ErrorClass(err))
				return
			}
			create.Add(time.Since(at))
			created.Add(1)
			lastOK.Store(time.Now().UnixNano())
			if sampler.Picks(i) {
				observed.Add(1)
				watch(user, o.ID, at)
			}
		})
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				log.Info("step running", "rate", s.Rate, "elapsed", time.Since(start).Round(time.Second),
					"created", created.Load(), "in_flight", inFlight.Load(), "gets", gets.Load())
			}
		}
	}()
	lag := tl.Run(ctx, fire)
	wg.Wait()
	close(done)

	r := Result{
		Rate: s.Rate, DurationS: s.Duration.Seconds(), Scheduled: tl.Count, Created: int(created.Load()),
		Errors: errs, MaxSendLag: float64(lag.Microseconds()) / 1000,
		Create: create.Summary(), E2E: e2e.Summary(),
		Observed: int(observed.Load()), ObserveFrac: s.Observe,
		Paid: int(paid.Load()), Cancelled: int(cancelled.Load()), Backlog: int(backlg.Load()),
		GETs: int(gets.Load()), GETErrors: int(getErrs.Load()),
		PollInterval: float64(s.PollInterval.Microseconds()) / 1000,
	}
	for _, n := range errs {
		r.ErrorCount += n
	}
	if last := lastOK.Load(); last > 0 {
		// Throughput over the step, stretched when responses lag behind it.
		window := max(time.Unix(0, last).Sub(start), s.Duration)
		r.Achieved = float64(r.Created) / window.Seconds()
	}
	r.GETsPerS = float64(r.GETs) / (s.Duration + s.Drain).Seconds()
	if ended := time.Since(start); ended < s.Duration+s.Drain {
		r.GETsPerS = float64(r.GETs) / ended.Seconds()
	}
	return r
}

// Limits decide whether a step was sustained.
type Limits struct {
	MaxE2EP99     time.Duration // end-to-end p99 above this fails
	MaxErrorRatio float64       // errors / scheduled above this fails
	MinAchieved   float64       // achieved / rate below this fails
	// MaxBacklogRatio: pending after the drain / created above this fails
	// (the backlog grows).
	MaxBacklogRatio float64
}

// DefaultLimits: p99 1 s, 0.1 % errors, 95 % of the offered rate, backlog
// 0.1 % of the orders.
var DefaultLimits = Limits{MaxE2EP99: time.Second, MaxErrorRatio: 0.001, MinAchieved: 0.95, MaxBacklogRatio: 0.001}

// Verdict says whether r was sustained under l, and if not why. backlog is
// the number of the step's orders still PENDING after the drain (the exact
// count when known, else the observed backlog scaled by the observed
// fraction).
func (l Limits) Verdict(r Result, backlog int) (bool, string) {
	switch {
	case r.Scheduled == 0:
		return false, "nothing scheduled"
	case r.Created == 0:
		return false, "no order created"
	case float64(r.ErrorCount) > l.MaxErrorRatio*float64(r.Scheduled):
		return false, fmt.Sprintf("errors %d of %d", r.ErrorCount, r.Scheduled)
	case r.Achieved < l.MinAchieved*r.Rate:
		return false, fmt.Sprintf("achieved %.0f/s of %.0f/s", r.Achieved, r.Rate)
	case float64(backlog) > l.MaxBacklogRatio*float64(r.Created):
		return false, fmt.Sprintf("backlog %d after drain", backlog)
	case r.E2E.Count == 0:
		return false, "no order observed to completion"
	case r.E2E.P99 > float64(l.MaxE2EP99.Microseconds())/1000:
		return false, fmt.Sprintf("e2e p99 %.0f ms > %d ms", r.E2E.P99, l.MaxE2EP99.Milliseconds())
	}
	return true, "ok"
}
