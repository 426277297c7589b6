package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"

	"shop/service"
	"shop/stack/local"
)

// kafkaAuthConfig is what `stack kafka-auth` reads: a running broker
// (compose's) whose admin password is declared in its configuration, and
// the passwords of the shop's principals. None has a default: compose
// takes them from .env.
type kafkaAuthConfig struct {
	Brokers          []string `env:"KAFKA_BROKERS, default=127.0.0.1:9092"`
	AdminPassword    string   `env:"KAFKA_ADMIN_PASSWORD, required"`
	OrdersPassword   string   `env:"KAFKA_ORDERS_PASSWORD, required"`
	PaymentsPassword string   `env:"KAFKA_PAYMENTS_PASSWORD, required"`
	ConnectPassword  string   `env:"KAFKA_CONNECT_PASSWORD, required"`
	ShopctlPassword  string   `env:"KAFKA_SHOPCTL_PASSWORD, required"`
	Topics           service.Topics
}

// Validate checks the brokers and topics.
func (c *kafkaAuthConfig) Validate() error {
	return errors.Join(service.Kafka{Brokers: c.Brokers}.Validate(), c.Topics.Validate())
}

// kafkaAuth creates or updates the SCRAM users of the shop's principals and
// adds the shop's ACLs (local.ShopGrants, with the services' default
// consumer groups and Connect's group shop-connect), retrying for two
// minutes while the broker does not answer.
func kafkaAuth(ctx context.Context, lookup service.Lookup, log *slog.Logger) error {
	var c kafkaAuthConfig
	if err := service.Load(ctx, lookup, &c); err != nil {
		return err
	}
	secrets := local.NewKafkaSecrets(map[string]string{
		local.KafkaAdmin: c.AdminPassword, local.KafkaOrders: c.OrdersPassword, local.KafkaPayments: c.PaymentsPassword,
		local.KafkaConnect: c.ConnectPassword, local.KafkaShopctl: c.ShopctlPassword,
	})
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		if err := local.EnsureKafkaUsers(c.Brokers, secrets, local.KafkaOrders, local.KafkaPayments, local.KafkaConnect, local.KafkaShopctl); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, local.EnsureACLs(c.Brokers, secrets, local.ShopGrants(c.Topics, local.OrdersGroup, local.PaymentsGroup, local.ConnectGroup))
	}, backoff.WithMaxElapsedTime(2*time.Minute), backoff.WithNotify(func(err error, _ time.Duration) {
		log.Warn("kafka not ready, retrying", "error", err)
	}))
	if err != nil {
		return fmt.Errorf("kafka-auth: %w", err)
	}
	log.Info("kafka users and ACLs in place", "brokers", c.Brokers)
	return nil
}
