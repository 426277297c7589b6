// Command stack runs the shop on this machine without Docker.
//
//	stack run                 Postgres, Kafka, Kafka Connect + Debezium, the connectors, the services
//	stack infra               the same without the services
//	stack fetch               only fetch the jars (with mvn, into the cache)
//	stack test-env -- CMD...  start a throwaway stack, run CMD with STACK_TEST_* set, stop it
//	stack token [-ttl D] USER a development bearer token for USER (AUTH_MODE=jwt, the default of `stack run`)
//	stack pki [NAME...]       the local CA and the programs' gRPC certificates under STACK_DATA_DIR/pki
//	stack kafka-auth          the shop's Kafka users and ACLs on a running broker (compose)
//
// Configuration comes from the environment; see docs/configuration.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	code, err := run(ctx, os.Args[1:], log)
	stop()
	if err != nil {
		// Plain text, not a log record: the error may quote many lines of
		// a component's log.
		fmt.Fprintf(os.Stderr, "\nstack: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string, log *slog.Logger) (int, error) {
	if len(args) == 0 {
		return 2, errors.New("usage: stack run | infra | fetch | test-env -- CMD | token [-ttl D] USER | pki [NAME...] | kafka-auth")
	}
	if args[0] == "kafka-auth" {
		return 0, kafkaAuth(ctx, os.LookupEnv, log)
	}
	cfg, err := loadConfig(ctx, os.LookupEnv)
	if err != nil {
		return 2, err
	}
	switch args[0] {
	case "run":
		return 0, runStack(ctx, cfg, true, log)
	case "infra":
		return 0, runStack(ctx, cfg, false, log)
	case "fetch":
		return 0, fetchOnly(ctx, cfg, log)
	case "token":
		return token(cfg, args[1:], os.Stdout)
	case "pki":
		return pkiCommand(cfg, args[1:], os.Stdout)
	case "test-env":
		rest := args[1:]
		if len(rest) > 0 && rest[0] == "--" {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			return 2, errors.New("usage: stack test-env -- CMD")
		}
		return testEnv(ctx, cfg, rest, log)
	}
	return 2, fmt.Errorf("unknown command %q", args[0])
}
