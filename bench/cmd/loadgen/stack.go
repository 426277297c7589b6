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

// startedStack is `go run ./stack/cmd/stack run`, started by loadgen in its
// own process group so that a signal reaches the stack binary (go run does
// not forward signals) and not the terminal's Ctrl-C directly.
type startedStack struct {
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	dataDir string
	keep    bool
	log     *slog.Logger
}

// startStack starts the stack from root with STACK_DATA_DIR=dataDir, its
// output in logPath, and waits until the gateway's /readyz answers or the
// stack exits or timeout passes.
func startStack(ctx context.Context, root, dataDir, logPath string, keep bool, c *load.Client, timeout time.Duration, log *slog.Logger) (*startedStack, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "run", "./stack/cmd/stack", "run")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "STACK_DATA_DIR="+dataDir)
	if os.Getenv("AUTH_MODE") == "" {
		// loadgen names its users by X-User-ID; the development issuer's
		// tokens (AUTH_MODE=jwt, the default of `stack run`) are not used.
		cmd.Env = append(cmd.Env, "AUTH_MODE=header")
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log.Info("no gateway answers: starting the stack", "cmd", "go run ./stack/cmd/stack run", "STACK_DATA_DIR", dataDir, "log", logPath)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start stack: %w", err)
	}
	s := &startedStack{cmd: cmd, done: make(chan struct{}), logPath: logPath, dataDir: dataDir, keep: keep, log: log}
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
			s.Stop()
			return nil, ctx.Err()
		case <-s.done:
			return nil, fmt.Errorf("the stack exited before the gateway was ready; last lines of %s:\n%s", logPath, tail(logPath, 30))
		case <-deadline.C:
			s.Stop()
			return nil, fmt.Errorf("the gateway was not ready after %s; last lines of %s:\n%s", timeout, logPath, tail(logPath, 30))
		case <-tick.C:
		}
	}
}

// Stop sends SIGINT to the stack's process group, waits up to two minutes
// (then SIGKILL), and removes the data directory unless it is kept.
func (s *startedStack) Stop() {
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
	if s.keep {
		s.log.Info("stack data kept", "dir", s.dataDir)
		return
	}
	if err := os.RemoveAll(s.dataDir); err != nil {
		s.log.Warn("remove stack data", "dir", s.dataDir, "err", err)
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
