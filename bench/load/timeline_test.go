package load

import (
	"context"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func TestNewTimeline(t *testing.T) {
	tests := []struct {
		name      string
		rate      float64
		d         time.Duration
		wantCount int
	}{
		{"OK", 200, 60 * time.Second, 12000},
		{"Fractional", 2.5, time.Second, 2},
		{"ZeroRate", 0, time.Second, 0},
		{"ZeroDuration", 100, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewTimeline(t0, tt.rate, tt.d).Count; got != tt.wantCount {
				t.Errorf("Count = %d, want %d", got, tt.wantCount)
			}
		})
	}
}

func TestTimelineAt(t *testing.T) {
	tl := NewTimeline(t0, 400, 10*time.Second)
	tests := []struct {
		i    int
		want time.Duration
	}{
		{0, 0}, {1, 2500 * time.Microsecond}, {400, time.Second}, {3999, 9997500 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := tl.At(tt.i).Sub(t0); got != tt.want {
			t.Errorf("At(%d) = start+%v, want start+%v", tt.i, got, tt.want)
		}
	}
}

func TestTimelineDueBy(t *testing.T) {
	tl := NewTimeline(t0, 1000, time.Second) // one every millisecond, 1000 sends
	tests := []struct {
		name  string
		after time.Duration
		want  int
	}{
		{"BeforeStart", -time.Millisecond, 0},
		{"AtStart", 0, 1},
		{"JustBeforeSecond", 999 * time.Microsecond, 1},
		{"AtSecond", time.Millisecond, 2},
		{"Middle", 500*time.Millisecond + 300*time.Microsecond, 501},
		{"LastDue", 999 * time.Millisecond, 1000},
		{"PastEndIsCapped", time.Hour, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tl.DueBy(t0.Add(tt.after)); got != tt.want {
				t.Errorf("DueBy(start%+v) = %d, want %d", tt.after, got, tt.want)
			}
		})
	}
}

// TestTimelineDueByAgreesWithAt checks the float shortcut of DueBy against
// the definition at every due time and just before it, for awkward rates.
func TestTimelineDueByAgreesWithAt(t *testing.T) {
	for _, rate := range []float64{3, 7, 333, 1200, 1e6 / 3} {
		tl := NewTimeline(t0, rate, time.Second)
		for i := range tl.Count {
			if got := tl.DueBy(tl.At(i)); got != i+1 {
				t.Fatalf("rate %v: DueBy(At(%d)) = %d, want %d", rate, i, got, i+1)
			}
			if got := tl.DueBy(tl.At(i).Add(-time.Nanosecond)); got != i {
				t.Fatalf("rate %v: DueBy(At(%d)-1ns) = %d, want %d", rate, i, got, i)
			}
		}
	}
}

func TestTimelineRunFiresEverySendOnSchedule(t *testing.T) {
	tl := NewTimeline(time.Now(), 1000, 50*time.Millisecond)
	var got []int
	tl.Run(context.Background(), func(i int, at time.Time) {
		if now := time.Now(); now.Before(at) {
			t.Errorf("send %d fired %v before it was due", i, at.Sub(now))
		}
		if at != tl.At(i) {
			t.Errorf("send %d: at = %v, want %v", i, at, tl.At(i))
		}
		got = append(got, i)
	})
	if len(got) != tl.Count {
		t.Fatalf("fired %d sends, want %d", len(got), tl.Count)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("send %d fired as #%d: out of order", v, i)
		}
	}
}

// TestTimelineRunKeepsScheduleWhenBehind: a stall does not shift later sends;
// the overdue ones fire at once with their original due times, and the lag
// is reported.
func TestTimelineRunKeepsScheduleWhenBehind(t *testing.T) {
	tl := NewTimeline(time.Now(), 1000, 40*time.Millisecond)
	fired := 0
	lag := tl.Run(context.Background(), func(i int, at time.Time) {
		if at != tl.At(i) {
			t.Errorf("send %d: at = %v, want the scheduled %v", i, at, tl.At(i))
		}
		if i == 0 {
			// A send that stalls (not a wait for a condition).
			time.Sleep(20 * time.Millisecond)
		}
		fired++
	})
	if fired != tl.Count {
		t.Errorf("fired %d, want %d", fired, tl.Count)
	}
	if lag < 15*time.Millisecond {
		t.Errorf("max lag %v, want at least the 15ms stall", lag)
	}
}

func TestTimelineRunStopsOnCancel(t *testing.T) {
	tl := NewTimeline(time.Now(), 10, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	fired := 0
	start := time.Now()
	tl.Run(ctx, func(int, time.Time) { fired++ })
	if time.Since(start) > 5*time.Second {
		t.Errorf("Run kept going %v after cancel", time.Since(start))
	}
	if fired != 1 {
		t.Errorf("fired %d in 50ms at 10/s, want 1", fired)
	}
}

func TestSampler(t *testing.T) {
	tests := []struct {
		name     string
		fraction float64
		n        int
		want     int
	}{
		{"All", 1, 100, 100},
		{"None", 0, 100, 0},
		{"Half", 0.5, 100, 50},
		{"Third", 1.0 / 3, 100, 33},
		{"Small", 0.01, 1000, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, gap := 0, 0
			for i := range tt.n {
				if (Sampler{tt.fraction}).Picks(i) {
					got++
					gap = 0
				} else if gap++; tt.fraction > 0 && float64(gap) > 1/tt.fraction {
					t.Fatalf("gap of %d sends at fraction %v: not evenly spread", gap, tt.fraction)
				}
			}
			if got != tt.want {
				t.Errorf("picked %d of %d, want %d", got, tt.n, tt.want)
			}
		})
	}
}

func TestObserveFraction(t *testing.T) {
	tests := []struct {
		name       string
		rate, max  float64
		wantFactor float64
	}{
		{"Unlimited", 1000, 0, 1},
		{"BelowCap", 100, 200, 1},
		{"AtCap", 200, 200, 1},
		{"AboveCap", 800, 200, 0.25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ObserveFraction(tt.rate, tt.max); got != tt.wantFactor {
				t.Errorf("ObserveFraction(%v, %v) = %v, want %v", tt.rate, tt.max, got, tt.wantFactor)
			}
		})
	}
}
