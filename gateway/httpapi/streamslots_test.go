package httpapi

import (
	"fmt"
	"testing"
)

// slotsRun is a sequence of acquisitions and releases on streamSlots, with
// the stream each eviction ended.
type slotsRun struct {
	t       *testing.T
	s       *streamSlots
	release map[string]func()
	evicted []string
}

func newSlotsRun(t *testing.T, max, perUser int) *slotsRun {
	return &slotsRun{t: t, s: newStreamSlots(max, perUser), release: map[string]func(){}}
}

// open acquires a slot of user for the stream named name.
func (r *slotsRun) open(user, name string) bool {
	release, _, ok := r.s.acquire(user, func() { r.evicted = append(r.evicted, name) })
	if ok {
		r.release[name] = release
	}
	return ok
}

func TestStreamSlots(t *testing.T) {
	tests := []struct {
		name        string
		max, per    int
		steps       func(r *slotsRun) []bool
		wantOK      []bool
		wantEvicted []string
		wantTotal   int
	}{
		{name: "PerUserEvictsOldest", max: 10, per: 2, steps: func(r *slotsRun) []bool {
			return []bool{r.open("alice", "a1"), r.open("alice", "a2"), r.open("bob", "b1"), r.open("alice", "a3"), r.open("alice", "a4")}
		}, wantOK: []bool{true, true, true, true, true}, wantEvicted: []string{"a1", "a2"}, wantTotal: 3},
		{name: "ProcessCapRefuses", max: 2, per: 5, steps: func(r *slotsRun) []bool {
			return []bool{r.open("alice", "a1"), r.open("bob", "b1"), r.open("carol", "c1")}
		}, wantOK: []bool{true, true, false}, wantTotal: 2},
		{name: "AtTheCapAUserStillEvictsItsOwn", max: 2, per: 2, steps: func(r *slotsRun) []bool {
			return []bool{r.open("alice", "a1"), r.open("alice", "a2"), r.open("alice", "a3"), r.open("bob", "b1")}
		}, wantOK: []bool{true, true, true, false}, wantEvicted: []string{"a1"}, wantTotal: 2},
		{name: "ReleaseFreesOnce", max: 2, per: 2, steps: func(r *slotsRun) []bool {
			ok := []bool{r.open("alice", "a1"), r.open("bob", "b1")}
			r.release["a1"]()
			r.release["a1"]()
			return append(ok, r.open("carol", "c1"), r.open("dave", "d1"))
		}, wantOK: []bool{true, true, true, false}, wantTotal: 2},
		{name: "ReleaseAfterEvictionFreesNothing", max: 2, per: 1, steps: func(r *slotsRun) []bool {
			ok := []bool{r.open("alice", "a1"), r.open("alice", "a2")}
			r.release["a1"]() // the evicted stream ends
			return append(ok, r.open("bob", "b1"), r.open("carol", "c1"))
		}, wantOK: []bool{true, true, true, false}, wantEvicted: []string{"a1"}, wantTotal: 2},
		{name: "ReleaseOfTheNewestKeepsTheOlder", max: 5, per: 2, steps: func(r *slotsRun) []bool {
			ok := []bool{r.open("alice", "a1"), r.open("alice", "a2")}
			r.release["a2"]()
			return append(ok, r.open("alice", "a3"), r.open("alice", "a4"))
		}, wantOK: []bool{true, true, true, true}, wantEvicted: []string{"a1"}, wantTotal: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newSlotsRun(t, tt.max, tt.per)
			got := tt.steps(r)
			if fmt.Sprint(got) != fmt.Sprint(tt.wantOK) {
				t.Errorf("acquired %v, want %v", got, tt.wantOK)
			}
			if fmt.Sprint(r.evicted) != fmt.Sprint(tt.wantEvicted) {
				t.Errorf("evicted %v, want %v", r.evicted, tt.wantEvicted)
			}
			if r.s.total != tt.wantTotal {
				t.Errorf("total %d, want %d", r.s.total, tt.wantTotal)
			}
		})
	}
}
