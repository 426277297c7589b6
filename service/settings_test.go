package service_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
		{name: "SASLPassword", env: map[string]string{"KAFKA_SASL_USERNAME": "orders", "KAFKA_SASL_PASSWORD": "pw"}},
		{name: "SASLPasswordFile", env: map[string]string{"KAFKA_SASL_USERNAME": "orders", "KAFKA_SASL_PASSWORD_FILE": "/run/secrets/kafka"}},
		{name: "ErrSASLNoPassword", env: map[string]string{"KAFKA_SASL_USERNAME": "orders"}, wantErr: "KAFKA_SASL_USERNAME"},
		{name: "ErrSASLNoUsername", env: map[string]string{"KAFKA_SASL_PASSWORD": "pw"}, wantErr: "set KAFKA_SASL_USERNAME too"},
		{name: "ErrSASLTwoPasswords", env: map[string]string{"KAFKA_SASL_USERNAME": "orders", "KAFKA_SASL_PASSWORD": "pw", "KAFKA_SASL_PASSWORD_FILE": "/f"}, wantErr: "not both"},
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

func TestKafkaPassword(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		kafka   service.Kafka
		want    string
		wantErr string
	}{
		{name: "Value", kafka: service.Kafka{SASLPassword: "inline"}, want: "inline"},
		{name: "File", kafka: service.Kafka{SASLPasswordFile: file}, want: "from-file"},
		{name: "ErrMissingFile", kafka: service.Kafka{SASLPasswordFile: filepath.Join(dir, "nope")}, wantErr: "KAFKA_SASL_PASSWORD_FILE"},
		{name: "ErrEmptyFile", kafka: service.Kafka{SASLPasswordFile: empty}, wantErr: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.kafka.Password()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Password() = %q, %v, want an error mentioning %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Password() = %q, %v, want %q", got, err, tt.want)
			}
		})
	}
	if s := fmt.Sprint(service.Kafka{SASLPassword: "hidden"}); strings.Contains(s, "hidden") {
		t.Errorf("%s shows the password", s)
	}
}
