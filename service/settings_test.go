package service_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"shop/service"
)

type sharedConfig struct {
	Orders    service.OrdersEndpoint
	Kafka     service.Kafka
	Retention service.Retention
	Process   service.Process
	DB        service.DatabaseURL `env:"DB_URL, default=postgres://u:secret@h:5432/d"`
}

func (c *sharedConfig) Validate() error {
	return errors.Join(c.Orders.Validate(), c.Kafka.Validate(), c.Retention.Validate(), c.Process.Validate(), c.DB.Validate("DB_URL"))
}

func TestSharedConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "Defaults"},
		{name: "TargetURI", env: map[string]string{"ORDERS_GRPC_ADDR": "dns:///orders:9101"}},
		{name: "ErrAddr", env: map[string]string{"ORDERS_GRPC_ADDR": "nope"}, wantErr: "ORDERS_GRPC_ADDR"},
		{name: "ErrPort", env: map[string]string{"ORDERS_GRPC_ADDR": "h:99999"}, wantErr: "port must be a number"},
		{name: "AddrList", env: map[string]string{"ORDERS_GRPC_ADDR": "127.0.0.1:9101, 127.0.0.1:9103,"}},
		{name: "ErrAddrListItem", env: map[string]string{"ORDERS_GRPC_ADDR": "127.0.0.1:9101,orders"}, wantErr: `ORDERS_GRPC_ADDR "orders"`},
		{name: "ErrAddrListURI", env: map[string]string{"ORDERS_GRPC_ADDR": "127.0.0.1:9101,dns:///orders:9101"}, wantErr: "not a target URI"},
		{name: "ErrBroker", env: map[string]string{"KAFKA_BROKERS": "a:1,b"}, wantErr: "KAFKA_BROKERS"},
		{name: "ErrNoBrokers", env: map[string]string{"KAFKA_BROKERS": ","}, wantErr: "no brokers"},
		{name: "ErrShortIdempotency", env: map[string]string{"IDEMPOTENCY_RETENTION": "1h"}, wantErr: "at least 24h"},
		{name: "ErrZeroPurge", env: map[string]string{"PURGE_INTERVAL": "0s"}, wantErr: "must be positive"},
		{name: "ErrDuration", env: map[string]string{"SHUTDOWN_TIMEOUT": "soon"}, wantErr: "SHUTDOWN_TIMEOUT"},
		{name: "ErrLogLevel", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
		{name: "ErrDatabaseURL", env: map[string]string{"DB_URL": "mysql://x"}, wantErr: "DB_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg sharedConfig
			err := service.Load(context.Background(), mapLookup(tt.env), &cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Load() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load() = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestDatabaseURLRedacted(t *testing.T) {
	u := service.DatabaseURL("postgres://u:secret@h:5432/d")
	for _, s := range []string{u.String(), u.LogValue().String(), fmt.Sprint(u)} {
		if strings.Contains(s, "secret") {
			t.Errorf("%q shows the password", s)
		}
	}
}
