package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "Defaults", env: nil, want: DefaultConfig()},
		{name: "EmptyMeansDefault", env: map[string]string{"GATEWAY_HTTP_ADDR": "", "LOG_LEVEL": ""}, want: DefaultConfig()},
		{
			name: "All",
			env: map[string]string{
				"GATEWAY_HTTP_ADDR": "127.0.0.1:0", "ORDERS_GRPC_ADDR": "orders:1", "PAYMENTS_GRPC_ADDR": "payments:2",
				"GATEWAY_BACKEND_TIMEOUT": "250ms", "LOG_LEVEL": "debug",
			},
			want: func() Config {
				c := DefaultConfig()
				c.HTTPAddr, c.Orders.GRPCAddr, c.Payments.GRPCAddr = "127.0.0.1:0", "orders:1", "payments:2"
				c.BackendTimeout, c.Process.LogLevel = 250*time.Millisecond, slog.LevelDebug
				return c
			}(),
		},
		{name: "OKTargetURI", env: map[string]string{"ORDERS_GRPC_ADDR": "dns:///orders:9101"}, want: func() Config {
			c := DefaultConfig()
			c.Orders.GRPCAddr = "dns:///orders:9101"
			return c
		}()},
		{name: "ErrTimeoutSyntax", env: map[string]string{"GATEWAY_BACKEND_TIMEOUT": "3"}, wantErr: "GATEWAY_BACKEND_TIMEOUT"},
		{name: "ErrTimeoutZero", env: map[string]string{"GATEWAY_BACKEND_TIMEOUT": "0s"}, wantErr: "GATEWAY_BACKEND_TIMEOUT must be positive"},
		{name: "ErrTimeoutNegative", env: map[string]string{"GATEWAY_BACKEND_TIMEOUT": "-1s"}, wantErr: "GATEWAY_BACKEND_TIMEOUT must be positive"},
		{name: "ErrLogLevel", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
		{name: "ErrHTTPAddr", env: map[string]string{"GATEWAY_HTTP_ADDR": "8080"}, wantErr: "GATEWAY_HTTP_ADDR"},
		{name: "ErrOrdersAddr", env: map[string]string{"ORDERS_GRPC_ADDR": "orders"}, wantErr: "ORDERS_GRPC_ADDR"},
		{name: "ErrPaymentsAddrNoPort", env: map[string]string{"PAYMENTS_GRPC_ADDR": "payments:"}, wantErr: "PAYMENTS_GRPC_ADDR"},
		{name: "ErrPaymentsAddrBadPort", env: map[string]string{"PAYMENTS_GRPC_ADDR": "payments:http"}, wantErr: "PAYMENTS_GRPC_ADDR"},
		{name: "ErrHTTPPortRange", env: map[string]string{"GATEWAY_HTTP_ADDR": ":70000"}, wantErr: "GATEWAY_HTTP_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(context.Background(), envOf(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Config{}, "Ready")); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultConfigMatchesContract(t *testing.T) {
	c := DefaultConfig()
	if c.HTTPAddr != "127.0.0.1:8080" || c.Orders.GRPCAddr != "127.0.0.1:9101" || c.Payments.GRPCAddr != "127.0.0.1:9102" || c.BackendTimeout != 3*time.Second || c.Process.LogLevel != slog.LevelInfo {
		t.Errorf("defaults %+v differ from docs/CONTRACTS.md", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}
