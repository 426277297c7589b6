package main

import (
	"sync"
	"time"
)

// read is one event "order" as an SSE client read it.
type read struct {
	Order   string
	Status  string
	Updated time.Time // the order's updated_at in the event: the change's time
	At      time.Time // when the client had read the whole frame
}

// recorder keeps every event the streams read. It is safe for concurrent
// use.
type recorder struct {
	mu       sync.Mutex
	reads    []read
	terminal map[string]int // order id: reads of its PAID or CANCELLED event
}

func newRecorder() *recorder { return &recorder{terminal: map[string]int{}} }

func (r *recorder) add(rd read) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads = append(r.reads, rd)
	if terminal(rd.Status) {
		r.terminal[rd.Order]++
	}
}

// terminalReads is how many reads of a terminal event of the orders ids
// there have been.
func (r *recorder) terminalReads(ids []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, id := range ids {
		n += r.terminal[id]
	}
	return n
}

func (r *recorder) snapshot() []read {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]read(nil), r.reads...)
}

func terminal(status string) bool { return status == "PAID" || status == "CANCELLED" }

// changeKey names one change of an order: the order and the status it
// moved to.
type changeKey struct{ Order, Status string }

// latencies returns, for the reads of the orders in want, the time from
// each status change (PAID or CANCELLED) to its read, and from each
// creation (PENDING) to its read. The change's time is its commit time
// when commits has it, else the updated_at the event carries. missing
// counts the orders of want with fewer than perOrder terminal reads;
// fromCommit how many change samples used a commit time.
func latencies(reads []read, want map[string]bool, commits map[changeKey]time.Time, perOrder int) (change, created []time.Duration, missing, fromCommit int) {
	got := map[string]int{}
	for _, rd := range reads {
		if !want[rd.Order] {
			continue
		}
		from := rd.Updated
		if t, ok := commits[changeKey{rd.Order, rd.Status}]; ok {
			from = t
			if terminal(rd.Status) {
				fromCommit++
			}
		}
		d := rd.At.Sub(from)
		if terminal(rd.Status) {
			change = append(change, d)
			got[rd.Order]++
		} else {
			created = append(created, d)
		}
	}
	for id := range want {
		if got[id] < perOrder {
			missing++
		}
	}
	return change, created, missing, fromCommit
}

// commitGaps returns commit - updated_at of each terminal change of the
// reads that commits has: how long before its commit the change's
// timestamp was taken.
func commitGaps(reads []read, want map[string]bool, commits map[changeKey]time.Time) []time.Duration {
	seen := map[changeKey]bool{}
	var out []time.Duration
	for _, rd := range reads {
		k := changeKey{rd.Order, rd.Status}
		t, ok := commits[k]
		if !want[rd.Order] || !terminal(rd.Status) || !ok || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, t.Sub(rd.Updated))
	}
	return out
}
