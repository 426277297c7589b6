package inbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/structpb"

	"shop/cdc/inbox"
	"shop/cdc/outbox"
	schema "shop/sql"
	"shop/stack/stacktest"
)

// registry returns a registry holding the consumer's metrics. The metrics
// are shared by every consumer of the test binary: each test reads only the
// series of its own topic.
func registry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := inbox.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if err := inbox.RegisterMetrics(reg); err != nil {
		t.Fatalf("RegisterMetrics() again = %v, want nil", err)
	}
	return reg
}

// series returns the metrics of family name whose labels include want.
func series(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue next
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// startConsumer runs a consumer until the returned stop is called (or the
// test ends).
func startConsumer(t *testing.T, cfg inbox.Config) (stop func()) {
	t.Helper()
	cfg.Logger = stacktest.Logger()
	c, err := inbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v, want nil", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run() did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// Events published by Debezium carry the outbox row's created_at; the
// consumer observes one delivery time per event applied, after its commit.
func TestDeliveryHistogram(t *testing.T) {
	env := stacktest.Get(t)
	reg := registry(t)
	src := env.NewDatabase(t, schema.Orders)
	dst := appliedDatabase(t, env, schema.Payments)
	topic := env.NewTopic(t, "orders.events")
	env.StartConnector(t, src, topic)

	ctx := context.Background()
	payload, err := structpb.NewStruct(map[string]any{"orderId": "o-1"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, key := range []string{"alice", "bob"} {
		e := outbox.Event{ID: uuid.New(), AggregateType: "order", AggregateID: key, Type: "OrderCreated", Payload: payload}
		if err := pgx.BeginFunc(ctx, src.Pool, func(tx pgx.Tx) error { return outbox.Insert(ctx, tx, e) }); err != nil {
			t.Fatal(err)
		}
	}
	startConsumer(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Group: stacktest.Unique("g-"), Topic: topic, Pool: dst.Pool, Apply: record})
	waitCount(t, dst.Pool, 2, `SELECT count(*) FROM applied`)
	stacktest.WaitForNil(t, 30*time.Second, "delivery histogram", func() error {
		ms := series(t, reg, "shop_event_delivery_seconds", map[string]string{"topic": topic})
		if len(ms) != 1 {
			return fmt.Errorf("got %d series, want 1", len(ms))
		}
		h := ms[0].GetHistogram()
		if h.GetSampleCount() != 2 {
			return fmt.Errorf("got %d samples, want 2", h.GetSampleCount())
		}
		// Each delivery took at most the test's duration so far: the header
		// was read, not a zero time (which would be years).
		if max := time.Since(start).Seconds() * 2; h.GetSampleSum() <= 0 || h.GetSampleSum() > max {
			return fmt.Errorf("sum of delivery seconds = %v, want in (0, %v]", h.GetSampleSum(), max)
		}
		return nil
	})
}

// The lag of a partition is its high-water mark minus the next offset to
// apply: all of a backlog while its first batch cannot commit, zero once
// it has; the series goes when the claim ends.
func TestConsumerLag(t *testing.T) {
	env := stacktest.Get(t)
	reg := registry(t)
	dst := appliedDatabase(t, env, schema.Payments)
	topic := env.NewTopic(t, "orders.events")
	group := stacktest.Unique("g-")
	const backlog = 5
	var msgs []*sarama.ProducerMessage
	for range backlog {
		msgs = append(msgs, msg(topic, "alice", `{}`, "id", uuid.NewString(), "eventType", "OrderCreated"))
	}
	sendTo(t, env, msgs)

	release := make(chan struct{})
	blocked := func(ctx context.Context, tx pgx.Tx, m inbox.Message) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return record(ctx, tx, m)
	}
	stop := startConsumer(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Group: group, Topic: topic, Pool: dst.Pool, Apply: blocked})
	labels := map[string]string{"group": group, "topic": topic, "partition": "0"}
	gauge := func(want float64) func() error {
		return func() error {
			ms := series(t, reg, "shop_consumer_lag_messages", labels)
			if len(ms) != 1 {
				return fmt.Errorf("got %d series, want 1", len(ms))
			}
			if got := ms[0].GetGauge().GetValue(); got != want {
				return fmt.Errorf("lag = %v, want %v", got, want)
			}
			return nil
		}
	}
	stacktest.WaitForNil(t, 60*time.Second, "lag of the blocked backlog", gauge(backlog))
	close(release)
	waitCount(t, dst.Pool, backlog, `SELECT count(*) FROM applied`)
	stacktest.WaitForNil(t, 30*time.Second, "lag after the backlog committed", gauge(0))

	stop()
	if ms := series(t, reg, "shop_consumer_lag_messages", map[string]string{"group": group}); len(ms) != 0 {
		t.Errorf("got %d lag series after the consumer stopped, want 0", len(ms))
	}
}

// A message that can never be applied counts once in
// shop_dead_letters_total when its dead letter commits.
func TestDeadLettersTotal(t *testing.T) {
	env := stacktest.Get(t)
	reg := registry(t)
	dst := appliedDatabase(t, env, schema.Payments)
	topic := env.NewTopic(t, "orders.events")
	sendTo(t, env, []*sarama.ProducerMessage{
		msg(topic, "alice", `{}`, "eventType", "OrderCreated"), // no id
		msg(topic, "alice", `{}`, "id", uuid.NewString(), "eventType", "OrderCreated"),
	})
	startConsumer(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Group: stacktest.Unique("g-"), Topic: topic, Pool: dst.Pool, Apply: record})
	waitCount(t, dst.Pool, 1, `SELECT count(*) FROM applied`)
	waitCount(t, dst.Pool, 1, `SELECT count(*) FROM dead_letters`)
	stacktest.WaitForNil(t, 30*time.Second, "dead letters counter", func() error {
		ms := series(t, reg, "shop_dead_letters_total", map[string]string{"topic": topic})
		if len(ms) != 1 || ms[0].GetCounter().GetValue() != 1 {
			return fmt.Errorf("got %v, want one series of value 1", ms)
		}
		return nil
	})
}
