// Package load drives the shop's REST API at a fixed arrival rate (open
// loop) and observes each order until its payment is decided.
package load

import (
	"context"
	"math"
	"time"
)

// Timeline is an open-loop arrival schedule: send i (0 <= i < Count) is due
// at Start + i/Rate, whatever happened to the sends before it. Latency is
// measured from At(i), so a slow server that delays the sender cannot hide
// its slowness by lowering the offered load (no coordinated omission).
type Timeline struct {
	Start time.Time
	Rate  float64 // sends per second, > 0
	Count int
}

// NewTimeline returns the schedule of rate sends per second for d from start:
// floor(rate × d) sends.
func NewTimeline(start time.Time, rate float64, d time.Duration) Timeline {
	if rate <= 0 || d <= 0 {
		return Timeline{Start: start, Rate: 1}
	}
	return Timeline{Start: start, Rate: rate, Count: int(math.Floor(rate * d.Seconds()))}
}

// At is when send i is due.
func (t Timeline) At(i int) time.Time {
	return t.Start.Add(time.Duration(float64(i) * float64(time.Second) / t.Rate))
}

// DueBy is how many sends are due at or before now (0 to Count).
func (t Timeline) DueBy(now time.Time) int {
	if now.Before(t.Start) || t.Count == 0 {
		return 0
	}
	n := int(now.Sub(t.Start).Seconds()*t.Rate) + 1
	n = min(max(n, 0), t.Count)
	// Float rounding may put the estimate one off At's view; At decides.
	for n > 0 && t.At(n-1).After(now) {
		n--
	}
	for n < t.Count && !t.At(n).After(now) {
		n++
	}
	return n
}

// Run calls fire(i, At(i)) for every send in order, each as soon as it is
// due, and returns when all have been fired or ctx is done. When fire or the
// scheduler falls behind, the overdue sends fire at once with their original
// due times. fire must not block (start a goroutine for the request). Run
// returns the largest delay between a due time and its fire.
func (t Timeline) Run(ctx context.Context, fire func(i int, at time.Time)) (maxLag time.Duration) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	next := 0
	for next < t.Count {
		now := time.Now()
		for due := t.DueBy(now); next < due; next++ {
			at := t.At(next)
			maxLag = max(maxLag, now.Sub(at))
			fire(next, at)
		}
		if next >= t.Count {
			break
		}
		timer.Reset(time.Until(t.At(next)))
		select {
		case <-ctx.Done():
			return maxLag
		case <-timer.C:
		}
	}
	return maxLag
}

// Sampler picks an evenly spread fraction of the sends: exactly
// floor(n × Fraction) of the first n sends are picked.
type Sampler struct{ Fraction float64 }

// Picks reports whether send i is picked.
func (s Sampler) Picks(i int) bool {
	if s.Fraction >= 1 {
		return true
	}
	if s.Fraction <= 0 {
		return false
	}
	return math.Floor(float64(i+1)*s.Fraction) > math.Floor(float64(i)*s.Fraction)
}

// ObserveFraction is the fraction of orders to observe so that at most
// maxPerSecond orders per second are polled at rate; maxPerSecond <= 0 means
// every order.
func ObserveFraction(rate, maxPerSecond float64) float64 {
	if maxPerSecond <= 0 || rate <= maxPerSecond {
		return 1
	}
	return maxPerSecond / rate
}
