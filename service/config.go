package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// Lookup finds an environment variable: os.LookupEnv in main, a map in
// tests.
type Lookup func(name string) (value string, ok bool)

// Validator is a configuration that can check itself.
type Validator interface {
	Validate() error
}

// Load fills cfg, a pointer to a struct whose fields carry `env` tags
// (name, default and options on one line, as github.com/sethvargo/go-envconfig
// reads them), from lookup, and then validates it. A value is trimmed of
// surrounding white space, and a variable that is empty after trimming is
// unset, so NAME= in an env file keeps the default. Lists are comma
// separated, their items trimmed and the empty ones dropped. It returns an
// error for a value that does not parse or a configuration that does not
// validate.
func Load(ctx context.Context, lookup Lookup, cfg Validator) error {
	err := envconfig.ProcessWith(ctx, &envconfig.Config{
		Target:   cfg,
		Lookuper: trimmed(lookup),
		Mutators: []envconfig.Mutator{dropEmptyItems},
	})
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	return nil
}

// Defaults returns the configuration T with every default applied and
// nothing read from the environment: what the stack launcher and the docs
// take the defaults from. T's defaults must parse; Defaults panics
// otherwise, since that is a bug in the tags.
func Defaults[T any]() T {
	var cfg T
	err := envconfig.ProcessWith(context.Background(), &envconfig.Config{
		Target:   &cfg,
		Lookuper: envconfig.MapLookuper(nil),
	})
	if err != nil {
		panic(fmt.Sprintf("defaults of %T: %v", cfg, err))
	}
	return cfg
}

func trimmed(lookup Lookup) envconfig.Lookuper {
	return envconfig.LookuperFunc(func(name string) (string, bool) {
		v, ok := lookup(name)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	})
}

// dropEmptyItems normalises list values: " a:1, b:2 ,," reads as
// "a:1,b:2". A value with no items at all, such as ",", becomes empty,
// which decodes to an empty list for Validate to reject.
var dropEmptyItems = envconfig.MutatorFunc(func(_ context.Context, _, _, _, value string) (string, bool, error) {
	if !strings.Contains(value, ",") {
		return value, false, nil
	}
	var items []string
	for _, p := range strings.Split(value, ",") {
		if p = strings.TrimSpace(p); p != "" {
			items = append(items, p)
		}
	}
	return strings.Join(items, ","), false, nil
})

// The facts several binaries share, each declared once. A service embeds
// the ones it uses in its own Config.

// OrdersEndpoint is where the orders service listens and the gateway dials.
type OrdersEndpoint struct {
	GRPCAddr string `env:"ORDERS_GRPC_ADDR, default=127.0.0.1:9101"`
}

// PaymentsEndpoint is where the payments service listens and the gateway
// dials.
type PaymentsEndpoint struct {
	GRPCAddr string `env:"PAYMENTS_GRPC_ADDR, default=127.0.0.1:9102"`
}

// Kafka is the bootstrap broker list of the consumers and the stack.
type Kafka struct {
	Brokers []string `env:"KAFKA_BROKERS, default=127.0.0.1:9092"`
}

// Topics are the event topics: the connectors route each service's outbox
// to its topic, the other service consumes it.
type Topics struct {
	Orders   string `env:"ORDERS_TOPIC, default=orders.events"`
	Payments string `env:"PAYMENTS_TOPIC, default=payments.events"`
}
