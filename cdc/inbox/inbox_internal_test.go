package inbox

import (
	"fmt"
	"testing"
	"time"
)

// TestBackOff pins the consumer's retry pauses: 100 ms doubling up to 5 s,
// without jitter.
func TestBackOff(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1, 200 * time.Millisecond},
		{3, 800 * time.Millisecond},
		{5, 3200 * time.Millisecond},
		{6, 5 * time.Second},
		{1000, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.attempt), func(t *testing.T) {
			b := newBackOff()
			var got time.Duration
			for range tt.attempt + 1 {
				got = b.NextBackOff()
			}
			if got != tt.want {
				t.Errorf("pause before retry %d = %s, want %s", tt.attempt, got, tt.want)
			}
			b.Reset()
			if got := b.NextBackOff(); got != 100*time.Millisecond {
				t.Errorf("after Reset: %s, want 100ms", got)
			}
		})
	}
}
