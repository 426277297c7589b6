// Command shopctl is the operator's command of the shop: the pipeline's
// health on one screen, the dead letters of both consumers, and the money
// audit.
//
//	shopctl status [-timeout D]
//	shopctl dead-letters list    -service orders|payments [-all]
//	shopctl dead-letters show    -service orders|payments ID
//	shopctl dead-letters replay  -service orders|payments [-by NAME] ID...
//	shopctl dead-letters discard -service orders|payments -reason TEXT [-by NAME] ID...
//	shopctl audit [-timeout D]
//	shopctl parked [-timeout D]
//
// status shows the connectors and their tasks (Kafka Connect at
// CONNECT_URL), the replication slots of both databases, the consumer lag
// of both groups, the unhandled dead letters, the oldest PENDING order and
// the parked payment results; it exits 1 when a connector or task is not
// RUNNING, a slot is missing or inactive, a dead letter is unhandled, an
// order has been PENDING for over a minute, or a payment result parked for
// over two minutes. The connector operations (apply, restart, pause, resume,
// delete, watch) stay in connectctl.
//
// The service of a dead letter is the consumer that failed to apply it:
// orders consumes the payments topic, payments the orders topic. replay
// applies the stored message through that service's own handlers and its
// inbox, in one transaction (a second replay, or a message whose event was
// applied already, has no effect); a message that still cannot be applied
// stays a dead letter with the new error. discard marks the letter handled
// with a reason; the row stays. Both record who (-by, default $USER), when
// and what in dead_letter_actions.
//
// parked lists the payment results parked in the orders database because
// their order is not there, oldest first, with their age; it exits 1 when
// one has waited longer than the PaymentResultParked alert's two minutes.
//
// Everything is configured like the services: ORDERS_DATABASE_URL,
// PAYMENTS_DATABASE_URL, KAFKA_BROKERS, ORDERS_TOPIC, PAYMENTS_TOPIC,
// ORDERS_CONSUMER_GROUP, PAYMENTS_CONSUMER_GROUP, ORDERS_SLOT,
// PAYMENTS_SLOT with the services' defaults and the connector names of
// connect/*.json (ORDERS_CONNECTOR, PAYMENTS_CONNECTOR); Kafka Connect as
// connectctl reaches it, at CONNECT_URL (http://127.0.0.1:8083) with
// CONNECT_USERNAME and CONNECT_PASSWORD_FILE (or CONNECT_PASSWORD), which
// are shopctl's own (the services hold no Connect credential); Kafka as the principal of
// KAFKA_SASL_USERNAME (shopctl, which may only describe) with
// KAFKA_SASL_PASSWORD_FILE.
//
// Exit status: 0 when all is well, 1 when status finds a problem, audit a
// violation, parked a result waiting too long, or a replay a message that
// still cannot be applied, 2 on a usage error or when the command could
// not run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// errFound makes shopctl exit 1: the command ran and found something wrong.
var errFound = errors.New("problems found")

const usage = `usage:
  shopctl status [-timeout D]
  shopctl dead-letters list    -service orders|payments [-all]
  shopctl dead-letters show    -service orders|payments ID
  shopctl dead-letters replay  -service orders|payments [-by NAME] ID...
  shopctl dead-letters discard -service orders|payments -reason TEXT [-by NAME] ID...
  shopctl audit [-timeout D]
  shopctl parked [-timeout D]
The connectors' operations are connectctl's (apply, status, restart, pause,
resume, delete, wait, watch); shopctl status shows them too`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The handlers a replay runs log like the services' do, warnings up.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, logger)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errFound):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "shopctl:", err)
		os.Exit(2)
	}
}

// run runs the command args with the environment lookup, writing its
// report to out; logger receives the logs of the handlers a replay runs.
func run(ctx context.Context, args []string, lookup func(string) (string, bool), out io.Writer, logger *slog.Logger) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "status":
		return runStatus(ctx, args[1:], lookup, out)
	case "dead-letters":
		return runDeadLetters(ctx, args[1:], lookup, out, logger)
	case "audit":
		return runAudit(ctx, args[1:], lookup, out)
	case "parked":
		return runParked(ctx, args[1:], lookup, out)
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(out, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

// parse parses fs over args, flags and positional arguments in any order,
// and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", fs.Name(), err, usage)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}
