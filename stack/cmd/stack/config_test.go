package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shop/service"
)

func envOf(m map[string]string) service.Lookup {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// The stack starts the infrastructure and the services where the services
// look by default: their defaults are the shared pieces of shop/service.
func TestLoadConfigDefaultsAreTheServices(t *testing.T) {
	c, err := loadConfig(context.Background(), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := service.Defaults[service.OrdersEndpoint]().GRPCAddr; c.Orders.GRPCAddr != want {
		t.Errorf("orders address %q, want %q", c.Orders.GRPCAddr, want)
	}
	if want := service.Defaults[service.PaymentsEndpoint]().GRPCAddr; c.Payments.GRPCAddr != want {
		t.Errorf("payments address %q, want %q", c.Payments.GRPCAddr, want)
	}
	if want := service.Defaults[service.Topics](); c.Topics != want {
		t.Errorf("topics %+v, want %+v", c.Topics, want)
	}
	if want := service.Defaults[service.Kafka]().Brokers[0]; !strings.HasSuffix(want, ":9092") || c.KafkaPort != 9092 {
		t.Errorf("kafka port %d, want the port of the default broker %s", c.KafkaPort, want)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if c.Root != wd || c.DataDir != filepath.Join(wd, ".data") || c.CacheDir == "" {
		t.Errorf("root %q, data %q, cache %q; want the working directory, its .data and the jar cache", c.Root, c.DataDir, c.CacheDir)
	}
	if c.GatewayAdmin.Addr != "127.0.0.1:9110" || c.OrdersAdmin.Addr != "127.0.0.1:9111" || c.PaymentsAdmin.Addr != "127.0.0.1:9112" ||
		c.ConnectMetricsPort != 9113 || c.KafkaMetricsPort != 9114 {
		t.Errorf("admin %q %q %q, metrics ports connect %d kafka %d: defaults differ from docs/configuration.md",
			c.GatewayAdmin.Addr, c.OrdersAdmin.Addr, c.PaymentsAdmin.Addr, c.ConnectMetricsPort, c.KafkaMetricsPort)
	}
	if c.OrdersInstances != 1 || c.PaymentsInstances != 1 {
		t.Errorf("instances %d, %d; want 1 each", c.OrdersInstances, c.PaymentsInstances)
	}
	if c.Gateway.HTTPAddr != "127.0.0.1:8080" || c.TopicPartitions != 6 || c.PostgresPort != 5432 || c.ConnectPort != 8083 {
		t.Errorf("gateway %q, partitions %d, postgres %d, connect %d: defaults differ from docs/configuration.md", c.Gateway.HTTPAddr, c.TopicPartitions, c.PostgresPort, c.ConnectPort)
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c config)
		wantErr string
	}{
		{name: "OK", env: map[string]string{
			"STACK_ROOT": "/repo", "KAFKA_PORT": "19092", "ORDERS_GRPC_ADDR": "127.0.0.1:19101",
			"ORDERS_TOPIC": "o", "PAYMENTS_TOPIC": "p", "TOPIC_PARTITIONS": "3", "GATEWAY_HTTP_ADDR": "127.0.0.1:18080",
		}, check: func(t *testing.T, c config) {
			if c.Root != "/repo" || c.DataDir != "/repo/.data" || c.KafkaPort != 19092 || c.Orders.GRPCAddr != "127.0.0.1:19101" ||
				c.Topics != (service.Topics{Orders: "o", Payments: "p"}) || c.TopicPartitions != 3 || c.Gateway.HTTPAddr != "127.0.0.1:18080" {
				t.Errorf("root %q, data %q, kafka %d, orders %q, topics %+v, partitions %d, gateway %q: not the environment's",
					c.Root, c.DataDir, c.KafkaPort, c.Orders.GRPCAddr, c.Topics, c.TopicPartitions, c.Gateway.HTTPAddr)
			}
		}},
		{name: "OKEmptyMeansDefault", env: map[string]string{"KAFKA_PORT": "", "STACK_CACHE_DIR": " "}, check: func(t *testing.T, c config) {
			if c.KafkaPort != 9092 || c.CacheDir == "" || c.CacheDir == " " {
				t.Errorf("kafka port %d, cache %q; want the defaults", c.KafkaPort, c.CacheDir)
			}
		}},
		{name: "ErrPortSyntax", env: map[string]string{"POSTGRES_PORT": "pg"}, wantErr: "POSTGRES_PORT"},
		{name: "ErrPortRange", env: map[string]string{"CONNECT_PORT": "70000"}, wantErr: "CONNECT_PORT=70000: want a TCP port"},
		{name: "ErrPartitions", env: map[string]string{"TOPIC_PARTITIONS": "0"}, wantErr: "TOPIC_PARTITIONS"},
		{name: "ErrOrdersAddr", env: map[string]string{"ORDERS_GRPC_ADDR": "orders"}, wantErr: "ORDERS_GRPC_ADDR"},
		{name: "OKInstances", env: map[string]string{"ORDERS_INSTANCES": "2", "PAYMENTS_INSTANCES": "3"}, check: func(t *testing.T, c config) {
			if c.OrdersInstances != 2 || c.PaymentsInstances != 3 {
				t.Errorf("instances %d, %d; want 2, 3", c.OrdersInstances, c.PaymentsInstances)
			}
		}},
		{name: "ErrInstances", env: map[string]string{"PAYMENTS_INSTANCES": "0"}, wantErr: "PAYMENTS_INSTANCES=0"},
		{name: "ErrTooManyInstances", env: map[string]string{"ORDERS_INSTANCES": "100"}, wantErr: "ORDERS_INSTANCES=100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(context.Background(), envOf(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
