package httpapi

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A relay pauses 0.25 s before it opens a watch again, doubling up to 5 s
// and never giving up; a change relayed starts again from 0.25 s.
func TestRelayPauses(t *testing.T) {
	ms := time.Millisecond
	p := relayPauses()
	var got []time.Duration
	for range 8 {
		got = append(got, p.NextBackOff())
	}
	p.Reset()
	got = append(got, p.NextBackOff(), p.NextBackOff())
	want := []time.Duration{250 * ms, 500 * ms, 1000 * ms, 2000 * ms, 4000 * ms, 5000 * ms, 5000 * ms, 5000 * ms, 250 * ms, 500 * ms}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pauses (-want +got):\n%s", diff)
	}
}
