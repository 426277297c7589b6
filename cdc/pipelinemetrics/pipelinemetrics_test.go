package pipelinemetrics_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"shop/cdc/inbox"
	"shop/cdc/pipelinemetrics"
	"shop/connect"
	"shop/service"
	schema "shop/sql"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// registry returns a registry holding the package's gauges. The gauges are
// shared by the test binary: each test reads only its own series.
func registry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	for range 2 {
		if err := pipelinemetrics.Register(reg); err != nil {
			t.Fatalf("Register() = %v, want nil (also the second time)", err)
		}
	}
	return reg
}

// value returns the value of the gauge name with label = lv, or an error
// when there is no such series.
func value(reg prometheus.Gatherer, name, label, lv string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || hasLabel(m, label, lv) {
				return m.GetGauge().GetValue(), nil
			}
		}
	}
	return 0, fmt.Errorf("no series %s{%s=%q}", name, label, lv)
}

func hasLabel(m *dto.Metric, name, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == v {
			return true
		}
	}
	return false
}

// waitValue waits until the gauge's series has a value for which ok holds.
func waitValue(t *testing.T, reg prometheus.Gatherer, name, label, lv, what string, ok func(float64) bool) {
	t.Helper()
	stacktest.WaitForNil(t, 90*time.Second, what, func() error {
		v, err := value(reg, name, label, lv)
		if err != nil {
			return err
		}
		if !ok(v) {
			return fmt.Errorf("%s{%s=%q} = %v", name, label, lv, v)
		}
		return nil
	})
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

// runJobs runs jobs until the test ends.
func runJobs(t *testing.T, jobs ...service.Job) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, len(jobs))
	for _, j := range jobs {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := j.Run(ctx); err != nil {
				t.Errorf("job %s: %v", j.Name, err)
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range jobs {
			<-done
		}
	})
}

func TestJobsNeedTheirDependencies(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  pipelinemetrics.Config
	}{
		{"NoPool", pipelinemetrics.Config{Slot: "s", Connector: "c", Logger: stacktest.Logger()}},
		{"NoConnector", pipelinemetrics.Config{Pool: &pgxpool.Pool{}, Slot: "s", Logger: stacktest.Logger()}},
		{"NegativeStallAfter", pipelinemetrics.Config{Pool: &pgxpool.Pool{}, Slot: "s", Connector: "c", StallAfter: -time.Second, Logger: stacktest.Logger()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := pipelinemetrics.Jobs(tc.cfg); err == nil {
				t.Error("Jobs() = nil error, want one")
			}
		})
	}
}

// shop_connector_up is read from the service's own database, never from
// Kafka Connect: 1 while the connector streams its slot, 0 once it is
// paused (the slot stays active but confirms none of the WAL written
// since) and once it is deleted (the slot is inactive). The slot is
// active with a lag of zero or more bytes while the connector streams, and
// inactive once it is gone.
func TestConnectorAndSlot(t *testing.T) {
	env := stacktest.Get(t)
	reg := registry(t)
	db := env.NewDatabase(t, schema.Orders)
	topic := env.NewTopic(t, "orders.events")
	name := env.StartConnector(t, db, topic) // named after the database, and so is its slot
	jobs, err := pipelinemetrics.Jobs(pipelinemetrics.Config{
		Pool: db.Pool, Slot: db.Name, Connector: name, Interval: 200 * time.Millisecond, StallAfter: 5 * time.Second, Logger: stacktest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	runJobs(t, jobs...)

	waitValue(t, reg, "shop_connector_up", "connector", name, "connector up", eq(1))
	waitValue(t, reg, "shop_replication_slot_active", "slot", db.Name, "slot active", eq(1))
	waitValue(t, reg, "shop_replication_slot_lag_bytes", "slot", db.Name, "slot lag", func(v float64) bool { return v >= 0 })

	// The test, not the jobs, holds Connect's credentials.
	client, err := connect.NewClient(env.ConnectURL, env.ConnectCredentials())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := client.Pause(ctx, name); err != nil {
		t.Fatal(err)
	}
	// WAL for the paused connector to send: an outbox row.
	if _, err := db.Pool.Exec(ctx, `INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) VALUES ($1, 'order', 'o', 'OrderCreated', '{}')`, uuid.New()); err != nil {
		t.Fatal(err)
	}
	waitValue(t, reg, "shop_connector_up", "connector", name, "connector down once paused", eq(0))
	if err := client.Resume(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitValue(t, reg, "shop_connector_up", "connector", name, "connector up once resumed", eq(1))

	if err := client.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitValue(t, reg, "shop_connector_up", "connector", name, "connector down once deleted", eq(0))
	waitValue(t, reg, "shop_replication_slot_active", "slot", db.Name, "slot inactive once the connector is gone", eq(0))
}

// A poison message taken by the consumer raises shop_dead_letters of its
// topic; discarding the letter brings it back to 0.
func TestDeadLetterGauge(t *testing.T) {
	env := stacktest.Get(t)
	reg := registry(t)
	db := env.NewDatabase(t, schema.Payments)
	topic := env.NewTopic(t, "orders.events")
	jobs, err := pipelinemetrics.Jobs(pipelinemetrics.Config{
		Pool: db.Pool, Slot: db.Name, Connector: db.Name, Interval: 200 * time.Millisecond, Logger: stacktest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	runJobs(t, jobs...)

	p, err := sarama.NewSyncProducer(env.Brokers, func() *sarama.Config {
		c := env.ClientConfig(t)
		c.Producer.Return.Successes = true
		return c
	}())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	poison := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("alice"), Value: sarama.StringEncoder("{}"),
		Headers: []sarama.RecordHeader{{Key: []byte("id"), Value: []byte(uuid.NewString())}, {Key: []byte("eventType"), Value: []byte("NoSuchEvent")}}}
	if _, _, err := p.SendMessage(poison); err != nil {
		t.Fatal(err)
	}
	c, err := inbox.New(inbox.Config{Kafka: env.Kafka(stacktest.Tester), Group: stacktest.Unique("g-"), Topic: topic, Pool: db.Pool, Logger: stacktest.Logger(),
		Apply: func(context.Context, pgx.Tx, inbox.Message) error { return inbox.Undecodable(fmt.Errorf("poison")) }})
	if err != nil {
		t.Fatal(err)
	}
	runJobs(t, service.Job{Name: "consumer", Run: c.Run})

	waitValue(t, reg, "shop_dead_letters", "topic", topic, "one dead letter", eq(1))
	var id int64
	if err := db.Pool.QueryRow(context.Background(), `SELECT id FROM dead_letters WHERE topic = $1`, topic).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := inbox.Discard(context.Background(), db.Operator, id, "test", "poison on purpose"); err != nil {
		t.Fatal(err)
	}
	waitValue(t, reg, "shop_dead_letters", "topic", topic, "no unhandled dead letter", eq(0))
}

// The pending gauge is the age of the oldest PENDING order, 0 when none.
func TestOrdersPending(t *testing.T) {
	env := stacktest.Get(t)
	reg := registry(t)
	db := env.NewDatabase(t, schema.Orders)
	runJobs(t, pipelinemetrics.OrdersPendingJob(db.Pool, 200*time.Millisecond, stacktest.Logger()))
	ctx := context.Background()
	id := uuid.New()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO orders (id, user_id, amount, currency, description, status, created_at, updated_at)
		VALUES ($1, 'alice', 100, 'EUR', 'old', 'PENDING', now() - interval '90 seconds', now()),
		       ($2, 'bob', 100, 'EUR', 'paid', 'PAID', now() - interval '1 hour', now())`, id, uuid.New()); err != nil {
		t.Fatal(err)
	}
	waitValue(t, reg, "shop_orders_pending_oldest_seconds", "", "", "oldest pending order's age", func(v float64) bool { return v >= 90 && v < 3600 })
	if _, err := db.Pool.Exec(ctx, `UPDATE orders SET status = 'PAID' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	waitValue(t, reg, "shop_orders_pending_oldest_seconds", "", "", "no pending order", eq(0))
}

// The parked gauges count the payment results waiting for their order and
// give the age of the oldest, 0 when none.
func TestParkedPaymentResults(t *testing.T) {
	env := stacktest.Get(t)
	reg := registry(t)
	db := env.NewDatabase(t, schema.Orders)
	runJobs(t, pipelinemetrics.ParkedPaymentsJob(db.Pool, 200*time.Millisecond, stacktest.Logger()))
	waitValue(t, reg, "shop_parked_payment_results", "", "", "nothing parked", eq(0))
	ctx := context.Background()
	park := `INSERT INTO parked_payment_results (event_id, order_id, user_id, amount, paid, event_type, topic, partition, "offset", key, value, parked_at)
		VALUES ($1, $2, 'alice', 100, true, 'PaymentSucceeded', 'payments.events', 0, $3, 'alice', '{}', now() - $4::interval)`
	oldest := uuid.New()
	for i, age := range []string{"10 minutes", "5 seconds"} {
		id := uuid.New()
		if i == 0 {
			id = oldest
		}
		if _, err := db.Pool.Exec(ctx, park, id, uuid.New(), i, age); err != nil {
			t.Fatal(err)
		}
	}
	waitValue(t, reg, "shop_parked_payment_results", "", "", "two parked", eq(2))
	waitValue(t, reg, "shop_parked_payment_results_oldest_seconds", "", "", "oldest parked result's age", func(v float64) bool { return v >= 600 && v < 3600 })
	if _, err := db.Pool.Exec(ctx, `DELETE FROM parked_payment_results`); err != nil {
		t.Fatal(err)
	}
	waitValue(t, reg, "shop_parked_payment_results_oldest_seconds", "", "", "none parked", eq(0))
	waitValue(t, reg, "shop_parked_payment_results", "", "", "none parked", eq(0))
}
