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
