package service_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shop/service"
)

type testConfig struct {
	Name string   `env:"NAME, default=default"`
	List []string `env:"LIST, default=d:1"`
}

func (c *testConfig) Validate() error {
	if len(c.List) == 0 {
		return errors.New("list: no items")
	}
	return nil
}

func mapLookup(m map[string]string) service.Lookup {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name     string
		value    *string // nil: unset
		wantStr  string
		wantList []string
		wantErr  bool
	}{
		{name: "Unset", value: nil, wantStr: "default", wantList: []string{"d:1"}},
		{name: "EmptyIsUnset", value: new(""), wantStr: "default", wantList: []string{"d:1"}},
		{name: "BlankIsUnset", value: new(" \t"), wantStr: "default", wantList: []string{"d:1"}},
		{name: "OK", value: new("a:1"), wantStr: "a:1", wantList: []string{"a:1"}},
		{name: "Trimmed", value: new("  a:1 \n"), wantStr: "a:1", wantList: []string{"a:1"}},
		{name: "ListItemsTrimmedEmptiesDropped", value: new(" a:1, b:2 ,,"), wantStr: "a:1,b:2", wantList: []string{"a:1", "b:2"}},
		{name: "ListWithoutItemsFailsValidation", value: new(" , "), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]string{"OTHER": "x"}
			if tt.value != nil {
				m["NAME"], m["LIST"] = *tt.value, *tt.value
			}
			var cfg testConfig
			err := service.Load(context.Background(), mapLookup(m), &cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Load() error = %v, want error %t", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if cfg.Name != tt.wantStr {
				t.Errorf("Name = %q, want %q", cfg.Name, tt.wantStr)
			}
			if diff := cmp.Diff(tt.wantList, cfg.List); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	got := service.Defaults[service.Topics]()
	want := service.Topics{Orders: "orders.events", Payments: "payments.events"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Defaults (-want +got):\n%s", diff)
	}
}

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
