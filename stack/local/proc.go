// Package local runs the infrastructure of the shop (Postgres 15, one Kafka
// node in KRaft mode, Kafka Connect with the Debezium PostgreSQL plugin) as
// plain processes on this machine, for `make run` and for the tests.
package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a child process with its output in a log file.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	mu      sync.Mutex
	err     error
}

// startProcess starts name with its output appended to logPath. The child
// gets its own process group (Ctrl-C reaches the stack, which stops children
// in order) and SIGKILL when the stack dies, so none is left behind.
func startProcess(name, logPath string, cred *syscall.Credential, env []string, dir string, argv ...string) (*Process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends sig to the process group, waits up to grace, then kills it.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) {
	if ok, _ := p.Exited(); ok {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Kill ends the process group at once (kill -9), as a crash would.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Tail returns the last n lines of the process log.
func (p *Process) Tail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// StartError is a component that did not come up: its name, the cause and the
// tail of its log.
type StartError struct {
	Component string
	Err       error
	LogPath   string
	Tail      string
}

func (e *StartError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s did not start: %v", e.Component, e.Err)
	if e.Tail != "" {
		fmt.Fprintf(&b, "\n--- last lines of %s ---\n%s", e.LogPath, e.Tail)
	}
	return b.String()
}

func (e *StartError) Unwrap() error { return e.Err }

// waitReady polls check until it succeeds, the process exits or the timeout
// passes; the error names the component and carries its log tail.
func waitReady(ctx context.Context, p *Process, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if exited, err := p.Exited(); exited {
			if err == nil {
				err = errors.New("exited")
			}
			return &StartError{Component: p.Name, Err: fmt.Errorf("process ended: %w", err), LogPath: p.LogPath, Tail: p.Tail(30)}
		}
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return &StartError{Component: p.Name, Err: fmt.Errorf("not ready after %s: %w", timeout, last), LogPath: p.LogPath, Tail: p.Tail(30)}
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// PortInUseError names the component whose port is taken.
type PortInUseError struct {
	Component string
	Port      int
	EnvVar    string
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d for %s is already in use; free it or choose another with %s", e.Port, e.Component, e.EnvVar)
}

// CheckAddr reports a taken listen address (host:port) by the component's name.
func CheckAddr(component, addr, envVar string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("address %s for %s is already in use or not available; free it or choose another with %s", addr, component, envVar)
	}
	return l.Close()
}

// checkPort reports a taken port by the component's name.
func checkPort(component string, port int, envVar string) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return &PortInUseError{Component: component, Port: port, EnvVar: envVar}
	}
	return l.Close()
}

// FreePort returns a TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func logStart(log *slog.Logger, component string, attrs ...any) time.Time {
	log.Info("starting "+component, attrs...)
	return time.Now()
}
