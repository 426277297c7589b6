package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"

	"shop/stack/local"
	"shop/stack/stacktest"
)

// testEnv starts a throwaway stack (temporary directory, free ports, no
// fsync), runs cmd with the stack's addresses in STACK_TEST_* variables
// (read by package stacktest, so every test package shares this one stack),
// and stops the stack. It returns cmd's exit code.
func testEnv(ctx context.Context, cfg config, cmd []string, log *slog.Logger) (int, error) {
	dir, err := local.TempDataDir("shop-test-stack-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	// The configured passwords and telemetry, on free ports, without fsync.
	sc := cfg.infra()
	sc.DataDir = dir
	sc.Durable = false
	sc.PostgresPort, sc.KafkaPort, sc.ControllerPort, sc.ConnectPort, sc.KafkaMetricsPort, sc.ConnectMetricsPort = 0, 0, 0, 0, 0, 0
	// A PLAINTEXT listener beside the SASL one, for the clients that
	// predate SASL (systemtest/upgrade): ANONYMOUS may do nothing there
	// unless a test grants it.
	sc.KafkaPlaintext, sc.KafkaPlaintextPort = true, 0
	s, err := local.StartInfra(ctx, sc, log)
	if err != nil {
		return 1, err
	}
	defer s.Stop()
	env := stacktest.Attach(s)
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.Stdout, c.Stderr, c.Stdin = os.Stdout, os.Stderr, os.Stdin
	c.Env = append(os.Environ(), env.Environ()...)
	log.Info("stack ready; running", "cmd", strings.Join(cmd, " "))
	err = c.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}
