package stats

import (
	"sync"
	"testing"
	"time"
)

func msList(vs ...int) []time.Duration {
	ds := make([]time.Duration, len(vs))
	for i, v := range vs {
		ds[i] = time.Duration(v) * time.Millisecond
	}
	return ds
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"Empty", nil, 50, 0},
		{"OneSample", msList(7), 99, 7 * time.Millisecond},
		{"MedianOdd", msList(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"MedianEven", msList(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"P99Of100", hundred, 99, 99 * time.Millisecond},
		{"P90Of100", hundred, 90, 90 * time.Millisecond},
		{"P100IsMax", hundred, 100, 100 * time.Millisecond},
		{"TinyPIsMin", hundred, 0.001, 1 * time.Millisecond},
		{"P99Of10IsMax", msList(1, 2, 3, 4, 5, 6, 7, 8, 9, 1000), 99, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		in   []time.Duration
		want Summary
	}{
		{"Empty", nil, Summary{}},
		{"Unsorted", msList(5, 1, 4, 2, 3), Summary{Count: 5, P50: 3, P90: 5, P99: 5, Max: 5, Mean: 3}},
		{"Submillisecond", []time.Duration{1500 * time.Microsecond, 500 * time.Microsecond},
			Summary{Count: 2, P50: 0.5, P90: 1.5, P99: 1.5, Max: 1.5, Mean: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.in); got != tt.want {
				t.Errorf("Summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSampleConcurrentAdd(t *testing.T) {
	var s Sample
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				s.Add(time.Duration(g*100+i+1) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	got := s.Summary()
	if got.Count != 800 || got.Max != 800 || got.P50 != 400 {
		t.Errorf("Summary = %+v, want count 800, p50 400, max 800", got)
	}
}
