package local

import (
	"slices"
	"strings"
	"testing"
)

func TestAssignInstanceAddrs(t *testing.T) {
	tests := []struct {
		name                     string
		gateway                  string
		orders, payments         string
		nOrders, nPayments       int
		wantOrders, wantPayments []string
		wantErr                  string
	}{
		{name: "OneEach", orders: "127.0.0.1:9101", payments: "127.0.0.1:9102", nOrders: 1, nPayments: 1,
			wantOrders: []string{"127.0.0.1:9101"}, wantPayments: []string{"127.0.0.1:9102"}},
		{name: "TwoEachSkipTheOthersFirst", orders: "127.0.0.1:9101", payments: "127.0.0.1:9102", nOrders: 2, nPayments: 2,
			wantOrders: []string{"127.0.0.1:9101", "127.0.0.1:9103"}, wantPayments: []string{"127.0.0.1:9102", "127.0.0.1:9104"}},
		{name: "ApartConsecutive", orders: "127.0.0.1:9101", payments: "127.0.0.1:9201", nOrders: 3, nPayments: 2,
			wantOrders:   []string{"127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9103"},
			wantPayments: []string{"127.0.0.1:9201", "127.0.0.1:9202"}},
		{name: "SkipTheGateway", gateway: "127.0.0.1:8080", orders: "127.0.0.1:8079", payments: "127.0.0.1:9102", nOrders: 2, nPayments: 1,
			wantOrders: []string{"127.0.0.1:8079", "127.0.0.1:8081"}, wantPayments: []string{"127.0.0.1:9102"}},
		{name: "ErrTargetURI", orders: "dns:///orders:9101", payments: "127.0.0.1:9102", nOrders: 1, nPayments: 1, wantErr: "ORDERS_GRPC_ADDR"},
		{name: "ErrNoPortsLeft", orders: "127.0.0.1:9101", payments: "127.0.0.1:65535", nOrders: 1, nPayments: 2, wantErr: "not enough ports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, p, err := assignInstanceAddrs(tt.gateway, tt.orders, tt.payments, tt.nOrders, tt.nPayments)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o, tt.wantOrders) || !slices.Equal(p, tt.wantPayments) {
				t.Errorf("orders %v, payments %v; want %v, %v", o, p, tt.wantOrders, tt.wantPayments)
			}
		})
	}
}

func TestAssignAdminAddrs(t *testing.T) {
	// The defaults: gateway 8080 and 9110, gRPC 9101 and 9102 on, the JMX
	// exporters on 9113 and 9114.
	inUse := []string{"127.0.0.1:8080", "127.0.0.1:9110", "127.0.0.1:9113", "127.0.0.1:9114",
		"127.0.0.1:9101", "127.0.0.1:9103", "127.0.0.1:9102", "127.0.0.1:9104"}
	tests := []struct {
		name                     string
		nOrders, nPayments       int
		wantOrders, wantPayments []string
	}{
		{"OneEach", 1, 1, []string{"127.0.0.1:9111"}, []string{"127.0.0.1:9112"}},
		{"TwoEachSkipTheExporters", 2, 2, []string{"127.0.0.1:9111", "127.0.0.1:9115"}, []string{"127.0.0.1:9112", "127.0.0.1:9116"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, p, err := assignAdminAddrs("127.0.0.1:9111", "127.0.0.1:9112", tt.nOrders, tt.nPayments, inUse)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o, tt.wantOrders) || !slices.Equal(p, tt.wantPayments) {
				t.Errorf("got orders %v payments %v, want %v %v", o, p, tt.wantOrders, tt.wantPayments)
			}
		})
	}
	if _, _, err := assignAdminAddrs("127.0.0.1:x", "127.0.0.1:9112", 1, 1, nil); err == nil || !strings.Contains(err.Error(), "ORDERS_ADMIN_ADDR") {
		t.Errorf("bad address: err = %v, want one naming ORDERS_ADMIN_ADDR", err)
	}
}
