package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"shop/bench/load"
)

// startedStack is `go run ./stack/cmd/stack run`, in its own process
// group so that a signal reaches the stack binary (go run does not forward
// signals).
type startedStack struct {
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	log     *slog.Logger
}

// startStack starts the stack from root with env added to this process's
// environment, its output in logPath, and waits until the gateway's /readyz
// answers, the stack exits or timeout passes.
func startStack(ctx context.Context, root string, env []string, logPath string, c *load.Client, timeout time.Duration, log *slog.Logger) (*startedStack, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "run", "./stack/cmd/stack", "run")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log.Info("starting the stack", "cmd", "go run ./stack/cmd/stack run", "env", env, "log", logPath)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start stack: %w", err)
	}
	s := &startedStack{cmd: cmd, done: make(chan struct{}), logPath: logPath, log: log}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(s.done)
	}()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	begun := time.Now()
	for n := 0; ; n++ {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		err := c.Ready(rctx)
		cancel()
		if err == nil {
			log.Info("stack ready", "took", time.Since(begun).Round(time.Second))
			return s, nil
		}
		if n%30 == 29 {
			log.Info("waiting for the stack", "elapsed", time.Since(begun).Round(time.Second), "log", logPath)
		}
		select {
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-s.done:
			return nil, fmt.Errorf("the stack exited before the gateway was ready; last lines of %s:\n%s", logPath, tail(logPath, 15))
		case <-deadline.C:
			s.stop()
			return nil, fmt.Errorf("the gateway was not ready after %s; see %s", timeout, logPath)
		case <-tick.C:
		}
	}
}

// stop sends SIGINT to the stack's process group and waits up to two
// minutes (then SIGKILL).
func (s *startedStack) stop() {
	s.log.Info("stopping the stack")
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(2 * time.Minute):
		s.log.Warn("the stack did not stop in 2m: killing it")
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
	}
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
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
