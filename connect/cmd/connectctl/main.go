// Command connectctl operates the project's Debezium connectors through the
// Kafka Connect REST API.
//
//	connectctl [-url URL] [-timeout D] apply   [config.json ...]
//	connectctl [-url URL] status|restart|pause|resume|delete|wait [name ...]
//	connectctl [-url URL] [-interval D] watch [name ...]
//
// Without files, apply uses the configs bundled from connect/*.json; without
// names, the other commands act on the connectors those configs name.
// Placeholders ${VAR} and ${VAR:-default} in a config come from the
// environment; ${ORDERS_TOPIC} and ${PAYMENTS_TOPIC} default to the topics
// of service.Topics, ${ORDERS_SLOT} and ${PAYMENTS_SLOT} to the services'
// slot names; the password is never in a config: Kafka Connect reads it from
// ${CONNECT_SECRETS_DIR}/${CONNECT_DB_PASSWORD_SECRET} (default
// /run/secrets/debezium_db_password) through its directory config
// provider. Every request carries CONNECT_USERNAME and the password of
// CONNECT_PASSWORD_FILE (or CONNECT_PASSWORD). status exits 1 unless every
// connector and task is RUNNING. watch runs until interrupted, restarting
// failed connectors and tasks with backoff (connect.Watch): the supervisor
// of connectors where no other one runs (Compose).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"shop/connect"
	"shop/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "connectctl:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("connectctl", flag.ContinueOnError)
	var settings service.Connect
	if err := service.Load(ctx, os.LookupEnv, &settings); err != nil {
		return err
	}
	baseURL := fs.String("url", settings.URL, "Kafka Connect REST URL (env CONNECT_URL)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long wait (and apply) wait for RUNNING")
	interval := fs.Duration("interval", 10*time.Second, "how often watch checks the connectors")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("usage: connectctl [-url URL] apply|status|restart|pause|resume|delete|wait|watch [args]")
	}
	settings.URL = *baseURL
	c, err := connect.FromSettings(settings)
	if err != nil {
		return err
	}
	var topics service.Topics
	if err := service.Load(ctx, os.LookupEnv, &topics); err != nil {
		return err
	}
	vars := placeholders(topics)
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	if cmd == "watch" {
		names, err := connectorNames(rest, vars)
		if err != nil {
			return err
		}
		logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
		logger.Info("watching connectors", slog.Any("names", names), slog.String("interval", interval.String()))
		return connect.Watch(ctx, c, names, *interval, logger)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	if cmd == "apply" {
		conns, err := load(rest, vars)
		if err != nil {
			return err
		}
		for _, conn := range conns {
			if err := c.Apply(ctx, conn); err != nil {
				return fmt.Errorf("apply %s: %w", conn.Name, err)
			}
			fmt.Printf("applied %s\n", conn.Name)
		}
		return nil
	}

	names, err := connectorNames(rest, vars)
	if err != nil {
		return err
	}
	switch cmd {
	case "status":
		return c.Report(ctx, os.Stdout, names...)
	case "wait":
		if err := c.Wait(ctx, names...); err != nil {
			return err
		}
		fmt.Printf("running: %s\n", strings.Join(names, ", "))
		return nil
	}
	op := map[string]func(context.Context, string) error{
		"restart": c.RestartFailed,
		"pause":   c.Pause,
		"resume":  c.Resume,
		"delete":  c.Delete,
	}[cmd]
	if op == nil {
		return fmt.Errorf("unknown command %q", cmd)
	}
	for _, n := range names {
		if err := op(ctx, n); err != nil {
			return fmt.Errorf("%s %s: %w", cmd, n, err)
		}
		fmt.Printf("%s %s: done\n", cmd, n)
	}
	return nil
}

// placeholders looks a placeholder up: the topics, then the environment.
func placeholders(t service.Topics) func(string) (string, bool) {
	topics := connect.TopicVars(t)
	return func(name string) (string, bool) {
		if v, ok := topics[name]; ok {
			return v, true
		}
		return os.LookupEnv(name)
	}
}

// connectorNames returns names, or when there are none the names of the
// bundled connectors.
func connectorNames(names []string, vars func(string) (string, bool)) ([]string, error) {
	if len(names) > 0 {
		return names, nil
	}
	conns, err := load(nil, vars)
	if err != nil {
		return nil, err
	}
	for _, conn := range conns {
		names = append(names, conn.Name)
	}
	return names, nil
}

// load renders the given config files, or the bundled ones when none is
// given, with vars.
func load(files []string, vars func(string) (string, bool)) ([]connect.Connector, error) {
	var conns []connect.Connector
	if len(files) == 0 {
		for _, f := range connect.Files() {
			c, err := connect.Bundled(f, vars)
			if err != nil {
				return nil, err
			}
			conns = append(conns, c)
		}
		return conns, nil
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		c, err := connect.Render(b, vars)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		conns = append(conns, c)
	}
	return conns, nil
}
