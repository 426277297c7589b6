package local

import (
	"slices"
	"testing"

	"shop/service"
)

func TestServiceRuntimeEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{name: "Unset", env: map[string]string{}, want: []string{"GOMAXPROCS=1"}},
		{name: "SetStands", env: map[string]string{"GOMAXPROCS": "2"}, want: nil},
		{name: "SetEmptyStands", env: map[string]string{"GOMAXPROCS": ""}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serviceRuntimeEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if !slices.Equal(got, tt.want) {
				t.Errorf("serviceRuntimeEnv = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWiringEnviron(t *testing.T) {
	w := Wiring{GRPCAddr: "127.0.0.1:9102", AdminAddr: "127.0.0.1:9112", DatabaseURL: "postgres://p",
		Kafka: service.Kafka{Brokers: []string{"a:1", "b:2"}, SASLUsername: "payments", SASLPasswordFile: "/s/payments"}, Topics: service.Topics{Orders: "o", Payments: "p"},
		GRPC: []string{"GRPC_INSECURE=true"}}
	tests := []struct {
		name, svc string
		want      []string
	}{
		{"Payments", Payments, []string{"KAFKA_BROKERS=a:1,b:2", "ORDERS_TOPIC=o", "PAYMENTS_TOPIC=p",
			"PAYMENTS_GRPC_ADDR=127.0.0.1:9102", "PAYMENTS_ADMIN_ADDR=127.0.0.1:9112", "PAYMENTS_DATABASE_URL=postgres://p",
			"KAFKA_SASL_USERNAME=payments", "KAFKA_SASL_PASSWORD_FILE=/s/payments", "KAFKA_SASL_PASSWORD=", "KAFKA_TLS_CA_FILE=", "GRPC_INSECURE=true"}},
		{"Orders", Orders, []string{"KAFKA_BROKERS=a:1,b:2", "ORDERS_TOPIC=o", "PAYMENTS_TOPIC=p",
			"ORDERS_GRPC_ADDR=127.0.0.1:9102", "ORDERS_ADMIN_ADDR=127.0.0.1:9112", "ORDERS_DATABASE_URL=postgres://p",
			"KAFKA_SASL_USERNAME=payments", "KAFKA_SASL_PASSWORD_FILE=/s/payments", "KAFKA_SASL_PASSWORD=", "KAFKA_TLS_CA_FILE=", "GRPC_INSECURE=true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := w.Environ(tt.svc); !slices.Equal(got, tt.want) {
				t.Errorf("Environ(%s) = %q, want %q", tt.svc, got, tt.want)
			}
		})
	}
}
