package system

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"shop/stack/local"
	"shop/stack/stacktest"
)

// BuildPayments builds the payments command into a temporary directory of
// the test, as `make run` builds it, and returns the binary's path.
func BuildPayments(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := local.Build(ctx, "", t.TempDir(), stacktest.Logger(), local.Payments)
	if err != nil {
		t.Fatal(err)
	}
	return bins[local.Payments]
}

// Process is a service binary run as a child process of the test, as
// `make run` runs it (local.ServiceComponent) but not supervised: the test
// kills and restarts it. Its output goes to a log file whose last lines are
// shown when the test fails. Its methods are for the test's goroutine.
type Process struct {
	t    *testing.T
	name string
	c    local.Component
	p    *local.Process
}

// StartProcess starts binary with the test's environment plus environ
// (NAME=value), and stops it (SIGTERM, then SIGKILL) when the test ends.
func StartProcess(t *testing.T, name, binary string, environ ...string) *Process {
	t.Helper()
	p := &Process{t: t, name: name, c: local.ServiceComponent(name, binary, t.TempDir(), environ, nil)}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() && p.p != nil {
			t.Logf("last lines of the %s log:\n%s", name, p.p.Tail(40))
		}
	})
	p.Start()
	return p
}

// Start (re)starts the process; the previous run must have ended. The log
// file is appended to.
func (p *Process) Start() {
	p.t.Helper()
	proc, err := p.c.Start(context.Background())
	if err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	p.p = proc
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	exited, _ := p.p.Exited()
	return exited
}

// Err is how the process ended (as exec.Cmd.Wait reports it); nil while it
// runs.
func (p *Process) Err() error {
	_, err := p.p.Exited()
	return err
}

// Kill sends SIGKILL and waits for the process to be gone. It fails the
// test unless the process died of that signal (it was running until then).
func (p *Process) Kill() {
	p.t.Helper()
	if err := p.p.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.p.Done()
	err := p.Err()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		p.t.Fatalf("%s after SIGKILL: %v, want killed by signal", p.name, err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		p.t.Fatalf("%s after SIGKILL: %v, want killed by SIGKILL (it exited before)", p.name, err)
	}
}

// Stop ends the process gracefully with SIGTERM, or kills it (and fails
// the test) when it is still running 15 s later.
func (p *Process) Stop() {
	if p.p == nil || p.Exited() {
		return
	}
	_ = p.p.Signal(syscall.SIGTERM)
	select {
	case <-p.p.Done():
	case <-time.After(15 * time.Second):
		p.t.Errorf("%s not stopped 15s after SIGTERM; killing it", p.name)
		p.p.Kill()
	}
}
