// Package benchcmd is what the benchmark commands (bench/cmd/...) share
// around their own work: main's frame, the environment's defaults and the
// repository root.
package benchcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// Main is a command's main: it parses os.Args[1:] with parse and calls run
// with a context that SIGINT and SIGTERM cancel and a text logger on
// stderr. It exits 2 after -h (the flag package has printed the usage), 1
// after an error (logged), else returns.
func Main[C any](parse func(args []string) (C, error), run func(context.Context, C, *slog.Logger) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := parse(os.Args[1:])
	if err == nil {
		err = run(ctx, cfg, log)
	}
	stop()
	if code := exitCode(err); code != 0 {
		if code == 1 {
			log.Error(err.Error())
		}
		os.Exit(code)
	}
}

// exitCode is 0 for no error, 2 for flag.ErrHelp, else 1.
func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 2
	default:
		return 1
	}
}

// Env is the environment variable name, or def when it is unset or empty.
func Env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// FindRoot walks up from the working directory to the one holding go.work.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return findRoot(dir)
}

func findRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work above %s: run from the repository or pass -root", dir)
		}
	}
}
