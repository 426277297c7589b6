package local

import (
	"testing"
	"time"
)

// The restart backoff doubles from MinBackoff up to MaxBackoff, by the
// failures within the window.
func TestRestartPolicyBackoff(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		want     time.Duration
	}{
		{"NoFailureYet", 0, 500 * time.Millisecond},
		{"First", 1, 500 * time.Millisecond},
		{"Second", 2, time.Second},
		{"Third", 3, 2 * time.Second},
		{"Fifth", 5, 8 * time.Second},
		{"Capped", 6, 10 * time.Second},
		{"StillCapped", 40, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DefaultRestartPolicy.backoff(tt.failures); got != tt.want {
				t.Errorf("backoff(%d) = %s, want %s", tt.failures, got, tt.want)
			}
		})
	}
}
