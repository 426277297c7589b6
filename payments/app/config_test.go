package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func TestLoadConfig(t *testing.T) {
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
			c.Endpoint.GRPCAddr, c.DatabaseURL, c.Topics.Orders, c.ConsumerGroup = "0.0.0.0:7000", "postgres://u:p@db:5432/pay", "t1", "g1"
			c.Kafka.Brokers = []string{"k1:9092", "k2:9092"}
			c.Process.LogLevel = slog.LevelDebug
		}},
		{name: "ErrLogLevel", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
		{name: "ErrGRPCAddr", env: map[string]string{"PAYMENTS_GRPC_ADDR": "nonsense"}, wantErr: "PAYMENTS_GRPC_ADDR"},
		{name: "ErrGRPCAddrList", env: map[string]string{"PAYMENTS_GRPC_ADDR": "127.0.0.1:1,127.0.0.1:2"}, wantErr: "listens on one host:port"},
		{name: "ErrDatabaseURL", env: map[string]string{"PAYMENTS_DATABASE_URL": "mysql://x"}, wantErr: "PAYMENTS_DATABASE_URL"},
		{name: "ErrBrokersEmptyList", env: map[string]string{"KAFKA_BROKERS": " , "}, wantErr: "KAFKA_BROKERS"},
		{name: "ErrBrokerNoPort", env: map[string]string{"KAFKA_BROKERS": "kafka"}, wantErr: "KAFKA_BROKERS"},
		{name: "ErrSlot", env: map[string]string{"PAYMENTS_SLOT": "Payments"}, wantErr: "PAYMENTS_SLOT"},
		{name: "ErrNoTransportSecurity", env: map[string]string{"GRPC_INSECURE": ""}, wantErr: "GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE, GRPC_TLS_CA_FILE (or GRPC_INSECURE=true"},
		{name: "ErrAllowedClients", env: map[string]string{"GRPC_ALLOWED_CLIENTS": "gateway,CN=shopctl"}, wantErr: "GRPC_ALLOWED_CLIENTS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Plaintext unless the case says otherwise (the defaults
			// refuse to start: ErrNoTransportSecurity).
			vars := map[string]string{"GRPC_INSECURE": "true"}
			maps.Copy(vars, tt.env)
			got, err := LoadConfig(context.Background(), lookup(vars))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadConfig() error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig() error = %v", err)
			}
			want := DefaultConfig()
			want.GRPC.Insecure = true
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("LoadConfig() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Endpoint.GRPCAddr != "127.0.0.1:9102" || c.Admin.Addr != "127.0.0.1:9112" || c.AdminReady != nil || c.DatabaseURL != "postgres://payments_app:payments_app@127.0.0.1:5432/payments" ||
		c.Topics.Orders != "orders.events" || c.ConsumerGroup != "payments" || c.Slot.Name != "payments_outbox" || c.Consume.Linger != 3*time.Millisecond || c.Ready != nil {
		t.Errorf("DefaultConfig() = %+v", c)
	}
	if !slices.Equal(c.GRPC.AllowedClients, []string{"gateway", "shopctl"}) || c.GRPC.Insecure || c.GRPC.Reflection {
		t.Errorf("DefaultConfig().GRPC = %+v, want TLS, gateway and shopctl allowed, no reflection", c.GRPC)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "GRPC_INSECURE=true") {
		t.Errorf("DefaultConfig().Validate() = %v, want an error asking for the TLS files or GRPC_INSECURE=true", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr bool
	}{
		{name: "OK", mutate: func(*Config) {}},
		{name: "ErrNoTransportSecurity", mutate: func(c *Config) { c.GRPC.Insecure = false }, wantErr: true},
		{name: "ErrNoBrokers", mutate: func(c *Config) { c.Kafka.Brokers = nil }, wantErr: true},
		{name: "ErrNoTopic", mutate: func(c *Config) { c.Topics.Orders = "" }, wantErr: true},
		{name: "ErrNoGroup", mutate: func(c *Config) { c.ConsumerGroup = "" }, wantErr: true},
		{name: "ErrSlot", mutate: func(c *Config) { c.Slot.Name = "payments-outbox" }, wantErr: true},
		{name: "ErrShortIdempotencyRetention", mutate: func(c *Config) { c.Retention.IdempotencyKeys = 1 }, wantErr: true},
		{name: "ErrZeroPurgeInterval", mutate: func(c *Config) { c.Retention.PurgeInterval = 0 }, wantErr: true},
		{name: "ErrZeroShutdownTimeout", mutate: func(c *Config) { c.Process.ShutdownTimeout = 0 * time.Second }, wantErr: true},
		{name: "NoConsumerLinger", mutate: func(c *Config) { c.Consume.Linger = 0 }},
		{name: "ErrLongConsumerLinger", mutate: func(c *Config) { c.Consume.Linger = 101 * time.Millisecond }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.GRPC.Insecure = true
			tt.mutate(&c)
			if err := c.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error %t", err, tt.wantErr)
			}
		})
	}
}

// TestConfigHidesPassword checks both ways a Config is shown: logged
// (LogValue) and printed.
func TestConfigHidesPassword(t *testing.T) {
	c := DefaultConfig()
	c.DatabaseURL = "postgres://shop:hunter2@db:5432/payments"
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("configuration", slog.Any("config", c))
	for name, s := range map[string]string{"log": b.String(), "print": fmt.Sprintf("%+v", c)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("%s %q leaks the password", name, s)
		}
		if !strings.Contains(s, "db:5432/payments") {
			t.Errorf("%s %q lacks the database address", name, s)
		}
	}
}
