package system

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BuildPayments builds the payments command into a temporary directory of
// the test and returns the binary's path.
func BuildPayments(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the payments binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "payments")
	out, err := exec.Command(goTool, "build", "-o", bin, "shop/payments/cmd/payments").CombinedOutput()
	if err != nil {
		t.Fatalf("go build shop/payments/cmd/payments: %v\n%s", err, out)
	}
	return bin
}

// Process is a service binary run as a child process of the test. Its
// output goes to a log file whose last lines are shown when the test fails.
// Its methods are for the test's goroutine.
type Process struct {
	t       *testing.T
	name    string
	binary  string
	environ []string
	logPath string

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// StartProcess starts binary with the test's environment plus environ
// (NAME=value), and stops it (SIGTERM, then SIGKILL) when the test ends.
func StartProcess(t *testing.T, name, binary string, environ ...string) *Process {
	t.Helper()
	p := &Process{t: t, name: name, binary: binary, environ: environ,
		logPath: filepath.Join(t.TempDir(), name+".log")}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("last lines of the %s log:\n%s", name, tail(p.logPath, 40))
		}
	})
	p.Start()
	return p
}

// Start (re)starts the process; the previous run must have ended.
func (p *Process) Start() {
	p.t.Helper()
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(log, "--- start %s ---\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.binary)
	cmd.Env = append(os.Environ(), p.environ...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	p.cmd, p.done, p.waitErr = cmd, make(chan struct{}), nil
	go func() {
		err := cmd.Wait()
		log.Close()
		p.waitErr = err
		close(p.done)
	}()
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the process ended (as exec.Cmd.Wait reports it); nil while it
// runs.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.waitErr
}

// Kill sends SIGKILL and waits for the process to be gone. It fails the
// test unless the process died of that signal (it was running until then).
func (p *Process) Kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.done
	var exit *exec.ExitError
	if !errors.As(p.waitErr, &exit) {
		p.t.Fatalf("%s after SIGKILL: %v, want killed by signal", p.name, p.waitErr)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		p.t.Fatalf("%s after SIGKILL: %v, want killed by SIGKILL (it exited before)", p.name, p.waitErr)
	}
}

// Stop ends the process gracefully with SIGTERM, or kills it (and fails
// the test) when it is still running 15 s later.
func (p *Process) Stop() {
	if p.cmd == nil || p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.t.Errorf("%s not stopped 15s after SIGTERM; killing it", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
