package service_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"shop/service"
)

// A collector registered twice with one registry is not an error; another
// collector under a name already taken is.
func TestRegisterCollectors(t *testing.T) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_register_collectors"})
	tests := []struct {
		name    string
		add     prometheus.Collector
		wantErr bool
	}{
		{name: "OK", add: g},
		{name: "OKTheSameAgain", add: g},
		{name: "ErrAnotherUnderTheSameName", add: prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_register_collectors"}), wantErr: true},
	}
	reg := prometheus.NewRegistry()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := service.RegisterCollectors(reg, tt.add)
			if (err != nil) != tt.wantErr {
				t.Errorf("RegisterCollectors() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
