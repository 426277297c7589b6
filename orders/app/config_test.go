package app

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		modify  func(*Config)
		wantErr string
	}{
		{name: "Defaults", env: nil, modify: func(*Config) {}},
		{name: "EmptyMeansDefault", env: map[string]string{"ORDERS_GRPC_ADDR": "", "LOG_LEVEL": " "}, modify: func(*Config) {}},
		{
			name: "Overrides",
			env: map[string]string{
				"ORDERS_GRPC_ADDR":      "0.0.0.0:7000",
				"ORDERS_DATABASE_URL":   "postgres://u:p@db:5432/o",
				"KAFKA_BROKERS":         "k1:9092, k2:9092,",
				"PAYMENTS_TOPIC":        "pay",
				"ORDERS_CONSUMER_GROUP": "g",
				"LOG_LEVEL":             "DEBUG",
			},
			modify: func(c *Config) {
				c.GRPCAddr = "0.0.0.0:7000"
				c.DatabaseURL = "postgres://u:p@db:5432/o"
				c.KafkaBrokers = []string{"k1:9092", "k2:9092"}
				c.PaymentsTopic = "pay"
				c.ConsumerGroup = "g"
				c.LogLevel = slog.LevelDebug
			},
		},
		{name: "ErrLogLevel", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
		{name: "ErrGRPCAddr", env: map[string]string{"ORDERS_GRPC_ADDR": "nohostport"}, wantErr: "grpc address"},
		{name: "ErrDatabaseURL", env: map[string]string{"ORDERS_DATABASE_URL": "mysql://x"}, wantErr: "database url"},
		{name: "ErrBroker", env: map[string]string{"KAFKA_BROKERS": "k1"}, wantErr: "kafka broker"},
		{name: "ErrNoBrokers", env: map[string]string{"KAFKA_BROKERS": ","}, wantErr: "kafka brokers: none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromEnv(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			want := DefaultConfig()
			tt.modify(&want)
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Config{}, "Ready")); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		modify  func(*Config)
		wantErr string
	}{
		{"OK", func(*Config) {}, ""},
		{"OKAnyPort", func(c *Config) { c.GRPCAddr = "127.0.0.1:0" }, ""},
		{"ErrTopic", func(c *Config) { c.PaymentsTopic = "" }, "payments topic"},
		{"ErrGroup", func(c *Config) { c.ConsumerGroup = "" }, "consumer group"},
		{"ErrIdempotencyRetention", func(c *Config) { c.IdempotencyRetention = time.Hour }, "at least 24h"},
		{"ErrPurgeInterval", func(c *Config) { c.PurgeInterval = 0 }, "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigLogValueRedactsPassword(t *testing.T) {
	c := DefaultConfig()
	c.DatabaseURL = "postgres://shop:s3cret@db:5432/orders"
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", slog.Any("config", c))
	if strings.Contains(b.String(), "s3cret") {
		t.Errorf("log %q contains the password", b.String())
	}
	if !strings.Contains(b.String(), "db:5432/orders") {
		t.Errorf("log %q lacks the database address", b.String())
	}
}
