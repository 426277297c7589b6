package stackproc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestTail(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		n             int
		want          string
	}{
		{"fewer lines", "a\nb\n", 5, "a\nb\n"},
		{"last two", "a\nb\nc\nd\n", 2, "c\nd\n"},
		{"no final newline", "a\nb\nc", 2, "b\nc"},
		{"empty", "", 3, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strconv.Itoa(i))
			if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := Tail(p, tt.n); got != tt.want {
				t.Errorf("Tail = %q, want %q", got, tt.want)
			}
		})
	}
	if got := Tail(filepath.Join(dir, "missing"), 3); !strings.Contains(got, "no such file") {
		t.Errorf("Tail of a missing file = %q, want the error", got)
	}
}

// options runs script with sh in a fresh directory; the stack is ready
// once the script has created $STACK_DATA_DIR/ready (each Ready consumes
// it).
func options(t *testing.T, script string) Options {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	return Options{
		Root: dir, DataDir: data, Env: []string{"X=42"}, LogPath: filepath.Join(dir, "logs", "stack.log"),
		Ready:   func(context.Context) error { return os.Remove(filepath.Join(data, "ready")) },
		Timeout: time.Minute, Log: quiet, Command: []string{"sh", "-c", script},
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestStartStopRestart(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run("keep="+strconv.FormatBool(keep), func(t *testing.T) {
			o := options(t, `mkdir -p "$STACK_DATA_DIR" && echo "up $STACK_DATA_DIR $X in $(pwd)" && touch "$STACK_DATA_DIR/ready" && exec sleep 60`)
			o.Keep = keep
			s, err := Start(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Restart(context.Background()); err != nil {
				t.Fatal(err)
			}
			first := s.p.Done()
			s.Stop()
			select {
			case <-first:
			default:
				t.Fatal("Stop returned with the stack running")
			}
			want := "up " + o.DataDir + " 42 in " + o.Root + "\n"
			if b, err := os.ReadFile(o.LogPath); err != nil || string(b) != want+want {
				t.Errorf("log %q (%v), want %q twice: the restart appends", b, err, want)
			}
			if exists(o.DataDir) != keep {
				t.Errorf("data dir exists %v after Stop, want %v", exists(o.DataDir), keep)
			}
			s.Stop() // again: nothing to stop
		})
	}
}

func TestStartFails(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		script  string
		ctx     context.Context
		timeout time.Duration
		keep    bool
		want    string
	}{
		{"exits", `mkdir -p "$STACK_DATA_DIR"; for i in $(seq 40); do echo "line $i"; done; exit 1`, context.Background(), time.Minute, false,
			"the stack exited before the gateway was ready; last lines of "},
		{"exits, kept", `mkdir -p "$STACK_DATA_DIR"; echo "line 40"; exit 1`, context.Background(), time.Minute, true,
			"the stack exited before the gateway was ready; last lines of "},
		{"never ready", `mkdir -p "$STACK_DATA_DIR"; echo "line 40"; exec sleep 60`, context.Background(), 100 * time.Millisecond, false,
			"the gateway was not ready after 100ms; last lines of "},
		{"cancelled", `mkdir -p "$STACK_DATA_DIR"; exec sleep 60`, cancelled, time.Minute, true, context.Canceled.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options(t, tt.script)
			o.Timeout, o.Keep = tt.timeout, tt.keep
			s, err := Start(tt.ctx, o)
			if err == nil {
				s.Stop()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			if tt.want != context.Canceled.Error() {
				if !strings.HasSuffix(err.Error(), "line 40\n") || strings.Contains(err.Error(), "line 10\n") {
					t.Errorf("error %q, want the log's last %d lines", err, tailLines)
				}
			} else if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
			if exists(o.DataDir) != tt.keep && tt.name != "cancelled" {
				t.Errorf("data dir exists %v, want %v", exists(o.DataDir), tt.keep)
			}
		})
	}
}

func TestStartNeedsOptions(t *testing.T) {
	for _, o := range []Options{{}, {Ready: func(context.Context) error { return nil }, Log: quiet}} {
		if _, err := Start(context.Background(), o); err == nil {
			t.Errorf("Start(%+v) succeeded, want an error", o)
		}
	}
}
