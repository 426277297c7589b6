package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"shop/cdc/inbox"
	ordersapp "shop/orders/app"
	"shop/orders/paymentevents"
	orderspg "shop/orders/postgres"
	paymentsapp "shop/payments/app"
	"shop/payments/orderevents"
	paymentspg "shop/payments/postgres"
	"shop/service"
)

// config is what shopctl reads from the environment: the services' own
// configurations (their defaults declared once, in orders/app and
// payments/app), which also say which connector publishes each database,
// and Kafka Connect's REST API with its credentials, shopctl's own: the
// services hold none (docs/security.md).
type config struct {
	orders   ordersapp.Config
	payments paymentsapp.Config
	operator operatorDatabases
	connect  service.Connect
}

// operatorDatabases are the databases as their operator roles
// (schema.Database.OperatorRole), which dead-letters connects as: the one
// role that may mark a dead letter handled. The defaults are `make run`'s.
type operatorDatabases struct {
	Orders   service.DatabaseURL `env:"ORDERS_OPERATOR_DATABASE_URL, default=postgres://orders_operator:orders_operator@127.0.0.1:5432/orders"`
	Payments service.DatabaseURL `env:"PAYMENTS_OPERATOR_DATABASE_URL, default=postgres://payments_operator:payments_operator@127.0.0.1:5432/payments"`
}

// Validate checks that both are postgres:// URLs.
func (o *operatorDatabases) Validate() error {
	return errors.Join(o.Orders.Validate("ORDERS_OPERATOR_DATABASE_URL"), o.Payments.Validate("PAYMENTS_OPERATOR_DATABASE_URL"))
}

func loadConfig(ctx context.Context, env func(string) (string, bool)) (config, error) {
	// shopctl makes no gRPC call: the services' gRPC transport settings,
	// which they require, mean nothing to it and are not asked for.
	lookup := func(k string) (string, bool) {
		if k == "GRPC_INSECURE" {
			return "true", true
		}
		return env(k)
	}
	var c config
	var err error
	if c.orders, err = ordersapp.LoadConfig(ctx, lookup); err != nil {
		return config{}, fmt.Errorf("orders: %w", err)
	}
	if c.payments, err = paymentsapp.LoadConfig(ctx, lookup); err != nil {
		return config{}, fmt.Errorf("payments: %w", err)
	}
	if err := service.Load(ctx, lookup, &c.operator); err != nil {
		return config{}, fmt.Errorf("operator: %w", err)
	}
	if err := service.Load(ctx, lookup, &c.connect); err != nil {
		return config{}, fmt.Errorf("kafka connect: %w", err)
	}
	return c, nil
}

// target is one consuming service: its database, what it consumes and how
// it applies what it consumes.
type target struct {
	name  string
	dbURL string
	// operatorURL is the database as its operator role.
	operatorURL string
	group       string
	topic       string
	slot        string
	brokers     []string
}

func (c config) targets() []target {
	return []target{
		{name: "orders", dbURL: string(c.orders.DatabaseURL), operatorURL: string(c.operator.Orders), group: c.orders.ConsumerGroup, topic: c.orders.Topics.Payments,
			slot: c.orders.Slot.Name, brokers: c.orders.Kafka.Brokers},
		{name: "payments", dbURL: string(c.payments.DatabaseURL), operatorURL: string(c.operator.Payments), group: c.payments.ConsumerGroup, topic: c.payments.Topics.Orders,
			slot: c.payments.Slot.Name, brokers: c.payments.Kafka.Brokers},
	}
}

func (c config) target(name string) (target, error) {
	for _, t := range c.targets() {
		if t.name == name {
			return t, nil
		}
	}
	return target{}, fmt.Errorf("-service %q: want orders or payments", name)
}

// applyFunc returns the service's consumer's ApplyFunc: its Effects over
// its store on pool, logging to logger.
func (t target) applyFunc(pool *pgxpool.Pool, logger *slog.Logger) (inbox.ApplyFunc, error) {
	switch t.name {
	case "orders":
		store, err := orderspg.New(pool)
		if err != nil {
			return nil, err
		}
		a, err := paymentevents.New(store, logger)
		if err != nil {
			return nil, err
		}
		return a.Effects().Apply, nil
	case "payments":
		store, err := paymentspg.New(pool)
		if err != nil {
			return nil, err
		}
		a, err := orderevents.New(store, logger)
		if err != nil {
			return nil, err
		}
		return a.Effects().Apply, nil
	}
	return nil, fmt.Errorf("unknown service %q", t.name)
}

// connectorNames are the connectors publishing the two databases
// (ORDERS_CONNECTOR, PAYMENTS_CONNECTOR).
func (c config) connectorNames() []string {
	return []string{c.orders.Connector.Name, c.payments.Connector.Name}
}
