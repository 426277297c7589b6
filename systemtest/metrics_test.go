package systemtest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"shop/stack/stacktest"
	"shop/systemtest/system"
)

// series returns the metrics of family name in the default registry (the
// one the services register with and the admin listener serves) that have
// label = value. Each test's topics and slots are its own.
func series(t *testing.T, name, label, value string) []*dto.Metric {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// After one order, each consumer has observed the delivery time of its
// event (OrderCreated on the orders topic, the payment result on the
// payments topic), and the slot gauges of both databases are there.
func TestPipelineMetrics(t *testing.T) {
	s := startShop(t, system.Options{})
	s.openAccount(t, "metrics-user", 1000)
	o := s.mustCreateOrder(t, "metrics-user", 100)
	if r := s.waitOrder(t, o); r.Status != "PAID" {
		t.Fatalf("order status = %s, want PAID", r.Status)
	}
	for _, topic := range []string{s.OrdersTopic, s.PaymentsTopic} {
		stacktest.WaitForNil(t, 30*time.Second, "delivery sample of "+topic, func() error {
			ms := series(t, "shop_event_delivery_seconds", "topic", topic)
			if len(ms) != 1 || ms[0].GetHistogram().GetSampleCount() < 1 {
				return fmt.Errorf("got %v, want one histogram with a sample", ms)
			}
			return nil
		})
	}
	for _, slot := range []string{s.OrdersDB.Name, s.PaymentsDB.Name} {
		stacktest.WaitForNil(t, 30*time.Second, "gauges of slot "+slot, func() error {
			active := series(t, "shop_replication_slot_active", "slot", slot)
			lag := series(t, "shop_replication_slot_lag_bytes", "slot", slot)
			if len(active) != 1 || active[0].GetGauge().GetValue() != 1 {
				return fmt.Errorf("active = %v, want 1", active)
			}
			if len(lag) != 1 || lag[0].GetGauge().GetValue() < 0 {
				return fmt.Errorf("lag = %v, want one series >= 0", lag)
			}
			return nil
		})
	}
}
