package local_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"shop/stack/local"
	"shop/stack/stacktest"
)

// fast restarts quickly, so that the tests do not wait for the default
// backoff.
var fast = local.RestartPolicy{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, MaxFailures: 5, Window: time.Minute}

func ready(context.Context) error { return nil }

// logSays is ready once the log at path holds want.
func logSays(path, want string) func(context.Context) error {
	return func(context.Context) error {
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(b, []byte(want)) {
			return errors.New("not started")
		}
		return nil
	}
}

// script writes an executable shell script with body and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// logBuffer is a slog destination the test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newSupervisor(t *testing.T, policy local.RestartPolicy) (*local.Supervisor, *logBuffer) {
	t.Helper()
	var logs logBuffer
	s := local.NewSupervisor(slog.New(slog.NewTextHandler(&logs, nil)), policy)
	t.Cleanup(s.Stop)
	return s, &logs
}

func within(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestSupervisorRestartsWhatExits(t *testing.T) {
	s, logs := newSupervisor(t, fast)
	ctx := within(t, time.Minute)
	logDir := t.TempDir()
	c := local.ServiceComponent("sleeper", script(t, "echo sleeper started; exec sleep 600"), logDir, nil, logSays(filepath.Join(logDir, "sleeper.log"), "started"))
	if err := s.Start(ctx, c); err != nil {
		t.Fatal(err)
	}
	first := s.Process("sleeper")
	if err := first.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second, err := s.Restarted(ctx, "sleeper", first)
	if err != nil {
		t.Fatal(err)
	}
	if second == first || second.Pid() == first.Pid() {
		t.Fatalf("restarted process is the killed one (pid %d)", first.Pid())
	}
	if exited, _ := second.Exited(); exited {
		t.Fatal("restarted process has exited")
	}
	if got := s.Restarts("sleeper"); got != 1 {
		t.Errorf("restarts = %d, want 1", got)
	}
	log := logs.String()
	for _, want := range []string{"sleeper exited; restarting", "signal: killed", "sleeper started", "sleeper restarted"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}

	// A hang is no exit: SIGSTOP and SIGCONT leave the process in place.
	if err := second.SignalGroup(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := second.SignalGroup(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}

	s.Stop()
	if exited, _ := second.Exited(); !exited {
		t.Error("process still runs after Stop")
	}
	if _, err := s.Restarted(ctx, "sleeper", second); err == nil {
		t.Error("Restarted after Stop = nil error, want one")
	}
}

func TestSupervisorGivesUp(t *testing.T) {
	s, _ := newSupervisor(t, fast)
	ctx := within(t, time.Minute)
	c := local.ServiceComponent("crasher", script(t, "sleep 0.2; echo boom; exit 3"), t.TempDir(), nil, ready)
	if err := s.Start(ctx, c); err != nil {
		t.Fatal(err)
	}
	err := s.Wait(ctx)
	if err == nil {
		t.Fatal("Wait = nil, want the crasher's error")
	}
	for _, want := range []string{"crasher stopped unexpectedly", "5 failures", "exit status 3", "boom"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if got := s.Restarts("crasher"); got != fast.MaxFailures-1 {
		t.Errorf("restarts = %d, want %d", got, fast.MaxFailures-1)
	}
	if _, err := s.Ready(ctx, "crasher"); err == nil {
		t.Error("Ready after giving up = nil error, want one")
	}
}

// A component that fails while one it depends on is down is not counted as
// failing, and waits for it before it restarts.
func TestSupervisorWaitsForDependencies(t *testing.T) {
	policy := fast
	policy.MaxFailures = 2
	s, _ := newSupervisor(t, policy)
	ctx := within(t, time.Minute)
	var blocked atomic.Bool
	dep := local.ServiceComponent("dep", script(t, "exec sleep 600"), t.TempDir(), nil, func(context.Context) error {
		if blocked.Load() {
			return errors.New("blocked")
		}
		return nil
	})
	dep.ReadyTimeout = time.Minute
	user := local.ServiceComponent("user", script(t, "sleep 0.3; exit 1"), t.TempDir(), nil, ready, "dep")
	if err := s.Start(ctx, dep); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, user); err != nil {
		t.Fatal(err)
	}
	blocked.Store(true)
	s.Process("dep").Kill()
	// user exits every 0.3 s; with dep down none of it counts, and it is not
	// restarted.
	stacktest.WaitFor(t, 10*time.Second, "user exited", func() bool {
		exited, _ := s.Process("user").Exited()
		return exited
	})
	restarts := s.Restarts("user")
	time.Sleep(time.Second) // nothing may happen meanwhile
	if got := s.Restarts("user"); got != restarts {
		t.Errorf("user restarted %d times while its dependency was down", got-restarts)
	}
	if err := s.Wait(within(t, 10*time.Millisecond)); err != nil {
		t.Fatalf("gave up while a dependency was down: %v", err)
	}
	blocked.Store(false)
	if _, err := s.Restarted(ctx, "user", nil); err != nil {
		t.Fatal(err)
	}
	// With dep back, user's failures count: it is given up on.
	if err := s.Wait(ctx); err == nil || !strings.Contains(err.Error(), "user stopped unexpectedly") {
		t.Errorf("Wait = %v, want user given up on", err)
	}
}
