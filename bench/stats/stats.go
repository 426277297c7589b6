// Package stats summarizes latency samples: exact percentiles over every
// recorded sample (a run holds at most a few hundred thousand, so sorting is
// cheaper and simpler than a histogram with buckets).
package stats

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Sample collects durations. The zero value is ready; it is safe for
// concurrent use.
type Sample struct {
	mu sync.Mutex
	ds []time.Duration
}

// Add records d.
func (s *Sample) Add(d time.Duration) {
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
}

// Len is the number of samples recorded.
func (s *Sample) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ds)
}

// Summary returns the percentiles of everything recorded so far.
func (s *Sample) Summary() Summary {
	s.mu.Lock()
	ds := slices.Clone(s.ds)
	s.mu.Unlock()
	return Summarize(ds)
}

// Summary is the distribution of a sample in milliseconds. Count 0 means
// no sample; the percentiles are then 0.
type Summary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

// Summarize sorts ds in place and returns its summary.
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Summary{
		Count: len(ds),
		P50:   ms(Percentile(ds, 50)),
		P90:   ms(Percentile(ds, 90)),
		P99:   ms(Percentile(ds, 99)),
		Max:   ms(ds[len(ds)-1]),
		Mean:  ms(sum / time.Duration(len(ds))),
	}
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest sample such that at least p percent of
// the samples are less than or equal to it. It returns 0 for an empty
// slice. sorted must be in ascending order.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }
