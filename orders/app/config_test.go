package app

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"shop/service"
	"shop/service/grpctls"
)

func env(m map[string]string) service.Lookup {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestDefaultConfig(t *testing.T) {
	want := Config{
		Endpoint:      service.OrdersEndpoint{GRPCAddr: "127.0.0.1:9101"},
		Admin:         service.OrdersAdmin{Addr: "127.0.0.1:9111"},
		DatabaseURL:   "postgres://orders_app:orders_app@127.0.0.1:5432/orders",
		ConsumerGroup: "orders",
		CreateLinger:  3 * time.Millisecond,
		Slot:          service.OrdersSlot{Name: "orders_outbox"},
		Connector:     service.OrdersConnector{Name: "orders-outbox"},
		GRPC:          grpctls.Server{AllowedClients: []string{"gateway"}},
		Pipeline: service.Pipeline{
			Kafka:     service.Kafka{Brokers: []string{"127.0.0.1:9092"}},
			Topics:    service.Topics{Orders: "orders.events", Payments: "payments.events"},
			Consume:   service.Consume{Linger: 3 * time.Millisecond},
			Retention: service.Retention{Outbox: time.Hour, IdempotencyKeys: 24 * time.Hour, PurgeInterval: 5 * time.Minute},
			Process:   service.Process{LogLevel: slog.LevelInfo, ShutdownTimeout: 10 * time.Second, Telemetry: true},
		},
	}
	got := DefaultConfig()
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Config{}, "Ready", "AdminReady")); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if got.Ready != nil {
		t.Error("Ready: got a func, want nil (not from the environment)")
	}
	// Neither TLS files nor GRPC_INSECURE=true: the service refuses to
	// start.
	if err := got.Validate(); err == nil || !strings.Contains(err.Error(), "GRPC_INSECURE=true") {
		t.Errorf("defaults validate with %v, want an error asking for the TLS files or GRPC_INSECURE=true", err)
	}
}

func TestLoadConfig(t *testing.T) {
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
				"ORDERS_SLOT":           "orders_2",
				"LOG_LEVEL":             "DEBUG",
				"SHOP_TELEMETRY":        "false",
				"ORDERS_CREATE_LINGER":  "0s",
				"CONSUMER_LINGER":       "10ms",
			},
			modify: func(c *Config) {
				c.Endpoint.GRPCAddr = "0.0.0.0:7000"
				c.DatabaseURL = "postgres://u:p@db:5432/o"
				c.Kafka.Brokers = []string{"k1:9092", "k2:9092"}
				c.Topics.Payments = "pay"
				c.ConsumerGroup = "g"
				c.Slot.Name = "orders_2"
				c.Process.LogLevel = slog.LevelDebug
				c.Process.Telemetry = false
				c.CreateLinger = 0
				c.Consume.Linger = 10 * time.Millisecond
			},
		},
		{name: "ErrTelemetry", env: map[string]string{"SHOP_TELEMETRY": "sometimes"}, wantErr: "SHOP_TELEMETRY"},
		{name: "ErrLogLevel", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
		{name: "ErrGRPCAddr", env: map[string]string{"ORDERS_GRPC_ADDR": "nohostport"}, wantErr: "ORDERS_GRPC_ADDR"},
		{name: "ErrGRPCAddrList", env: map[string]string{"ORDERS_GRPC_ADDR": "127.0.0.1:1,127.0.0.1:2"}, wantErr: "listens on one host:port"},
		{name: "ErrDatabaseURL", env: map[string]string{"ORDERS_DATABASE_URL": "mysql://x"}, wantErr: "ORDERS_DATABASE_URL"},
		{name: "ErrBroker", env: map[string]string{"KAFKA_BROKERS": "k1"}, wantErr: "KAFKA_BROKERS"},
		{name: "ErrCreateLinger", env: map[string]string{"ORDERS_CREATE_LINGER": "soon"}, wantErr: "ORDERS_CREATE_LINGER"},
		{name: "ErrConsumerLinger", env: map[string]string{"CONSUMER_LINGER": "soon"}, wantErr: "CONSUMER_LINGER"},
		{name: "ErrNoBrokers", env: map[string]string{"KAFKA_BROKERS": ","}, wantErr: "KAFKA_BROKERS: no brokers"},
		{name: "ErrNoTransportSecurity", env: map[string]string{"GRPC_INSECURE": ""}, wantErr: "GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE, GRPC_TLS_CA_FILE (or GRPC_INSECURE=true"},
		{name: "MutualTLS", env: map[string]string{"GRPC_INSECURE": "false", "GRPC_TLS_CERT_FILE": "/tls/tls.crt", "GRPC_TLS_KEY_FILE": "/tls/tls.key",
			"GRPC_TLS_CA_FILE": "/tls/ca.crt", "GRPC_ALLOWED_CLIENTS": "gateway", "GRPC_REFLECTION": "true"}, modify: func(c *Config) {
			c.GRPC = grpctls.Server{Files: grpctls.Files{CertFile: "/tls/tls.crt", KeyFile: "/tls/tls.key", CAFile: "/tls/ca.crt"},
				AllowedClients: []string{"gateway"}, Reflection: true}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Plaintext unless the case says otherwise (the defaults
			// refuse to start: ErrNoTransportSecurity).
			vars := map[string]string{"GRPC_INSECURE": "true"}
			maps.Copy(vars, tt.env)
			got, err := LoadConfig(context.Background(), env(vars))
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
			want.GRPC.Insecure = true
			tt.modify(&want)
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Config{}, "Ready", "AdminReady")); diff != "" {
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
		{"ErrNoTransportSecurity", func(c *Config) { c.GRPC.Insecure = false }, "GRPC_INSECURE=true"},
		{"ErrAllowedClient", func(c *Config) { c.GRPC.AllowedClients = []string{"gate way"} }, "GRPC_ALLOWED_CLIENTS"},
		{"OKAnyPort", func(c *Config) { c.Endpoint.GRPCAddr = "127.0.0.1:0" }, ""},
		{"ErrTopic", func(c *Config) { c.Topics.Payments = "" }, "PAYMENTS_TOPIC"},
		{"ErrGroup", func(c *Config) { c.ConsumerGroup = "" }, "ORDERS_CONSUMER_GROUP"},
		{"ErrSlot", func(c *Config) { c.Slot.Name = "Orders-Outbox" }, "ORDERS_SLOT"},
		{"ErrIdempotencyRetention", func(c *Config) { c.Retention.IdempotencyKeys = time.Hour }, "at least 24h"},
		{"ErrPurgeInterval", func(c *Config) { c.Retention.PurgeInterval = 0 }, "must be positive"},
		{"OKNoLinger", func(c *Config) { c.CreateLinger = 0 }, ""},
		{"ErrNegativeLinger", func(c *Config) { c.CreateLinger = -time.Millisecond }, "ORDERS_CREATE_LINGER"},
		{"ErrLongLinger", func(c *Config) { c.CreateLinger = time.Second }, "ORDERS_CREATE_LINGER"},
		{"OKNoConsumerLinger", func(c *Config) { c.Consume.Linger = 0 }, ""},
		{"ErrNegativeConsumerLinger", func(c *Config) { c.Consume.Linger = -time.Millisecond }, "CONSUMER_LINGER"},
		{"ErrLongConsumerLinger", func(c *Config) { c.Consume.Linger = time.Second }, "CONSUMER_LINGER"},
		{"ErrShutdownTimeout", func(c *Config) { c.Process.ShutdownTimeout = 0 }, "SHUTDOWN_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.GRPC.Insecure = true
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
	c.Ready = func(string) {}
	for name, h := range map[string]func(*strings.Builder) slog.Handler{
		"Text": func(b *strings.Builder) slog.Handler { return slog.NewTextHandler(b, nil) },
		"JSON": func(b *strings.Builder) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			slog.New(h(&b)).Info("config", slog.Any("config", c))
			if strings.Contains(b.String(), "s3cret") {
				t.Errorf("log %q contains the password", b.String())
			}
			if !strings.Contains(b.String(), "db:5432/orders") {
				t.Errorf("log %q lacks the database address", b.String())
			}
		})
	}
}
