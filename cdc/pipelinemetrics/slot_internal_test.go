package pipelinemetrics

import (
	"testing"
	"time"
)

// The connector streams while its slot is active and confirms the WAL it
// holds within the stall window; a slot that is missing, inactive, or
// active but confirming nothing of the WAL it holds for longer than the
// window is not streamed.
func TestProgressStreaming(t *testing.T) {
	const window = time.Minute
	lag := func(n int64) *int64 { return &n }
	active := func(lsn string, held *int64) slotState {
		return slotState{exists: true, active: true, confirmed: lsn, lag: held}
	}
	type step struct {
		at   time.Duration // since the first refresh
		st   slotState
		want bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"Missing", []step{{0, slotState{}, false}}},
		{"Inactive", []step{{0, slotState{exists: true, confirmed: "0/10", lag: lag(0)}, false}}},
		{"ActiveNothingConfirmedYet", []step{{0, active("", nil), true}, {2 * window, active("", nil), true}}},
		{"ActiveNothingHeld", []step{{0, active("0/10", lag(0)), true}, {2 * window, active("0/10", lag(0)), true}}},
		{"Confirming", []step{
			{0, active("0/10", lag(100)), true},
			{50 * time.Second, active("0/20", lag(100)), true},
			{100 * time.Second, active("0/30", lag(100)), true},
		}},
		{"StalledWithWALHeld", []step{
			{0, active("0/10", lag(100)), true},
			{window - time.Second, active("0/10", lag(200)), true},
			{window, active("0/10", lag(300)), false},
		}},
		{"StalledThenConfirming", []step{
			{0, active("0/10", lag(100)), true},
			{window, active("0/10", lag(100)), false},
			{window + time.Second, active("0/20", lag(100)), true},
		}},
		{"BackAfterInactiveGetsAFullWindow", []step{
			{0, active("0/10", lag(100)), true},
			{10 * time.Second, slotState{exists: true, confirmed: "0/10", lag: lag(100)}, false},
			{window + 5*time.Second, active("0/10", lag(100)), true},
			{2*window + 4*time.Second, active("0/10", lag(100)), true},
			{2*window + 5*time.Second, active("0/10", lag(100)), false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := progress{stallAfter: window}
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, s := range tc.steps {
				if got := p.streaming(start.Add(s.at), s.st); got != s.want {
					t.Errorf("step %d (at %v): streaming = %v, want %v", i, s.at, got, s.want)
				}
			}
		})
	}
}
