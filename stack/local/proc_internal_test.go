package local

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A child started with a timer slack has it (and its threads inherit it);
// without one it has this process's default.
func TestStartWithTimerSlack(t *testing.T) {
	def, err := os.ReadFile("/proc/self/timerslack_ns")
	if err != nil {
		t.Skipf("no /proc/self/timerslack_ns: %v", err)
	}
	tests := []struct {
		name  string
		slack time.Duration
		want  string
	}{
		{name: "Default", slack: 0, want: strings.TrimSpace(string(def))},
		{name: "OneMillisecond", slack: time.Millisecond, want: "1000000"},
		{name: "TenMicroseconds", slack: 10 * time.Microsecond, want: "10000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sleep", "30")
			if err := startWithTimerSlack(cmd, tt.slack); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}()
			got, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/timerslack_ns")
			if err != nil {
				t.Fatal(err)
			}
			if s := strings.TrimSpace(string(got)); s != tt.want {
				t.Errorf("child's timer slack %s ns, want %s", s, tt.want)
			}
		})
	}
	if after, _ := os.ReadFile("/proc/self/timerslack_ns"); string(after) != string(def) {
		t.Errorf("this process's timer slack changed from %s to %s", def, after)
	}
}
