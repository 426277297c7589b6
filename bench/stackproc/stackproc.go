// Package stackproc runs the development stack (`go run ./stack/cmd/stack
// run`, the one way the system starts) as a child of a benchmark command,
// in a process of its own so that the benchmark's CPU figures tell the
// stack's processes from the load generator. The child runs as the stack
// runs its own components (local.StartCommand): in its own process group,
// so that a signal reaches the stack binary (go run does not forward
// signals) and not the terminal's Ctrl-C directly. stackproc waits until
// it is ready, and stops it with SIGINT (then SIGKILL).
package stackproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"shop/stack/local"
)

// DefaultCommand starts the stack from the repository root.
var DefaultCommand = []string{"go", "run", "./stack/cmd/stack", "run"}

// tailLines is how many lines of the log an error of Start quotes.
const tailLines = 30

// stopGrace is how long Stop waits after SIGINT before SIGKILL.
const stopGrace = 2 * time.Minute

// Options say how a stack is started.
type Options struct {
	// Root is the repository root: the stack's working directory.
	Root string
	// DataDir is the stack's STACK_DATA_DIR (not set when empty), relative
	// to Root unless absolute. Stop removes it unless Keep.
	DataDir string
	Keep    bool
	// Env is added to this process's environment, after STACK_DATA_DIR.
	Env []string
	// LogPath receives the stack's stdout and stderr, appended: a restart
	// adds to the same file. Its directory is created.
	LogPath string
	// Ready reports nil when the stack is ready (the gateway's /readyz); it
	// is called every second with a one-second deadline.
	Ready func(context.Context) error
	// Timeout is how long Start waits for Ready.
	Timeout time.Duration
	Log     *slog.Logger
	// Command is the child's argv; DefaultCommand when empty.
	Command []string
}

// Stack is a started stack.
type Stack struct {
	o Options
	p *local.Process
}

// Start starts the stack and waits until Ready answers nil, the stack exits,
// ctx ends or Timeout passes. When it does not become ready, Start stops it,
// removes the data directory unless Keep, and the error quotes the end of
// the log.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.Ready == nil || o.Log == nil || o.LogPath == "" {
		return nil, errors.New("stackproc: Ready, Log and LogPath are required")
	}
	if len(o.Command) == 0 {
		o.Command = DefaultCommand
	}
	if o.DataDir != "" && !filepath.IsAbs(o.DataDir) {
		o.DataDir = filepath.Join(o.Root, o.DataDir)
	}
	s := &Stack{o: o}
	if err := s.start(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Restart stops the stack (keeping its data) and starts it again as Start
// does. When it does not become ready, the stack is stopped; Stop still
// removes the data directory.
func (s *Stack) Restart(ctx context.Context) error {
	s.stop()
	if err := s.start(ctx); err != nil {
		s.stop()
		return err
	}
	return nil
}

// Stop stops the stack if it runs and removes the data directory unless
// Keep. It may be called again.
func (s *Stack) Stop() {
	s.stop()
	if s.o.DataDir == "" {
		return
	}
	if s.o.Keep {
		s.o.Log.Info("stack data kept", "dir", s.o.DataDir)
		return
	}
	if err := os.RemoveAll(s.o.DataDir); err != nil {
		s.o.Log.Warn("remove stack data", "dir", s.o.DataDir, "err", err)
	}
}

// env is what the stack gets on top of this process's environment.
func (o Options) env() []string {
	var env []string
	if o.DataDir != "" {
		env = append(env, "STACK_DATA_DIR="+o.DataDir)
	}
	return append(env, o.Env...)
}

func (s *Stack) start(ctx context.Context) error {
	o := s.o
	if err := os.MkdirAll(filepath.Dir(o.LogPath), 0o755); err != nil {
		return err
	}
	env := o.env()
	o.Log.Info("starting the stack", "cmd", strings.Join(o.Command, " "), "env", env, "log", o.LogPath)
	p, err := local.StartCommand("stack", o.LogPath, o.Root, env, o.Command...)
	if err != nil {
		return err
	}
	s.p = p

	deadline := time.NewTimer(o.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	begun := time.Now()
	for n := 0; ; n++ {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		err := o.Ready(rctx)
		cancel()
		if err == nil {
			o.Log.Info("stack ready", "took", time.Since(begun).Round(time.Second))
			return nil
		}
		if n%30 == 29 {
			o.Log.Info("waiting for the stack", "elapsed", time.Since(begun).Round(time.Second), "log", o.LogPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.Done():
			return fmt.Errorf("the stack exited before the gateway was ready; last lines of %s:\n%s", o.LogPath, Tail(o.LogPath, tailLines))
		case <-deadline.C:
			return fmt.Errorf("the gateway was not ready after %s; last lines of %s:\n%s", o.Timeout, o.LogPath, Tail(o.LogPath, tailLines))
		case <-tick.C:
		}
	}
}

// stop sends SIGINT to the stack's process group and waits up to
// stopGrace (then SIGKILL); nothing when the stack is not running.
func (s *Stack) stop() {
	if s.p == nil {
		return
	}
	if exited, _ := s.p.Exited(); exited {
		return
	}
	s.o.Log.Info("stopping the stack")
	begun := time.Now()
	s.p.Stop(syscall.SIGINT, stopGrace)
	if time.Since(begun) >= stopGrace {
		s.o.Log.Warn("the stack did not stop in 2m: it was killed")
	}
}

// Tail returns the last n lines of the file at path (the error's text when
// it cannot be read).
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' && i != len(b)-1 {
			if lines++; lines == n {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}
