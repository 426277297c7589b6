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

// niceOf returns the nice value of process pid (field 19 of its stat).
func niceOf(t *testing.T, pid string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return fields[16]
}

// A child started niced has that nice value, twice in a row (the second
// from the same launcher), with its timer slack too; this process's own
// threads keep theirs.
func TestStartNiced(t *testing.T) {
	self := niceOf(t, "self")
	if self != "0" {
		t.Skipf("this process runs at nice %s; the test needs 0", self)
	}
	tests := []struct {
		name  string
		nice  int
		slack time.Duration
		want  string
	}{
		{name: "Five", nice: 5, want: "5"},
		{name: "FiveAgain", nice: 5, want: "5"},
		{name: "TenWithSlack", nice: 10, slack: time.Millisecond, want: "10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sleep", "30")
			if err := startNiced(tt.nice, func() error { return startWithTimerSlack(cmd, tt.slack) }); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}()
			pid := strconv.Itoa(cmd.Process.Pid)
			if got := niceOf(t, pid); got != tt.want {
				t.Errorf("child's nice value %s, want %s", got, tt.want)
			}
			if tt.slack > 0 {
				got, err := os.ReadFile("/proc/" + pid + "/timerslack_ns")
				if err != nil {
					t.Fatal(err)
				}
				if s := strings.TrimSpace(string(got)); s != strconv.FormatInt(tt.slack.Nanoseconds(), 10) {
					t.Errorf("child's timer slack %s ns, want %d", s, tt.slack.Nanoseconds())
				}
			}
		})
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	niced := 0
	for _, task := range tasks {
		if niceOf(t, "self/task/"+task.Name()) != self {
			niced++
		}
	}
	// The two launchers' threads, and no other.
	if niced != 2 {
		t.Errorf("%d threads of this process have a nice value other than %s, want the 2 launchers'", niced, self)
	}
}
