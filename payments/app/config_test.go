package app

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    func(*Config)
		wantErr string
	}{
		{name: "Defaults", env: nil, want: func(*Config) {}},
		{name: "Overrides", env: map[string]string{
			"PAYMENTS_GRPC_ADDR":      "0.0.0.0:7000",
			"PAYMENTS_DATABASE_URL":   "postgres://u:p@db:5432/pay",
			"KAFKA_BROKERS":           " k1:9092, k2:9092 ,",
			"ORDERS_TOPIC":            "t1",
			"PAYMENTS_CONSUMER_GROUP": "g1",
			"LOG_LEVEL":               "debug",
		}, want: func(c *Config) {
			c.GRPCAddr, c.DatabaseURL, c.OrdersTopic, c.ConsumerGroup = "0.0.0.0:7000", "postgres://u:p@db:5432/pay", "t1", "g1"
			c.KafkaBrokers = []string{"k1:9092", "k2:9092"}
			c.LogLevel = slog.LevelDebug
		}},
		{name: "ErrLogLevel", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
		{name: "ErrGRPCAddr", env: map[string]string{"PAYMENTS_GRPC_ADDR": "nonsense"}, wantErr: "PAYMENTS_GRPC_ADDR"},
		{name: "ErrDatabaseURL", env: map[string]string{"PAYMENTS_DATABASE_URL": "mysql://x"}, wantErr: "PAYMENTS_DATABASE_URL"},
		{name: "ErrBrokersEmptyList", env: map[string]string{"KAFKA_BROKERS": " , "}, wantErr: "KAFKA_BROKERS"},
		{name: "ErrBrokerNoPort", env: map[string]string{"KAFKA_BROKERS": "kafka"}, wantErr: "KAFKA_BROKERS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ConfigFromEnv() error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ConfigFromEnv() error = %v", err)
			}
			want := DefaultConfig()
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ConfigFromEnv() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr bool
	}{
		{name: "OK", mutate: func(*Config) {}},
		{name: "ErrNoBrokers", mutate: func(c *Config) { c.KafkaBrokers = nil }, wantErr: true},
		{name: "ErrNoTopic", mutate: func(c *Config) { c.OrdersTopic = "" }, wantErr: true},
		{name: "ErrNoGroup", mutate: func(c *Config) { c.ConsumerGroup = "" }, wantErr: true},
		{name: "ErrShortIdempotencyRetention", mutate: func(c *Config) { c.IdempotencyRetention = 1 }, wantErr: true},
		{name: "ErrZeroPurgeInterval", mutate: func(c *Config) { c.PurgeInterval = 0 }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			if err := c.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error %t", err, tt.wantErr)
			}
		})
	}
}

func TestRedactedDatabaseURL(t *testing.T) {
	c := DefaultConfig()
	c.DatabaseURL = "postgres://shop:hunter2@db:5432/payments"
	if got := c.RedactedDatabaseURL(); strings.Contains(got, "hunter2") {
		t.Errorf("RedactedDatabaseURL() = %q, leaks the password", got)
	}
}
