package postgres_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"shop/orders"
	"shop/orders/postgres"
	ordersv1 "shop/proto/orders/v1"
	schema "shop/sql"
	"shop/stack/stacktest"
)

// headerString returns a header value; Kafka Connect's JSON header
// converter may quote strings.
func headerString(b []byte) string {
	s := string(b)
	if u, err := strconv.Unquote(s); err == nil && len(s) > 1 && s[0] == '"' {
		return u
	}
	return s
}

// TestOrderCreatedReachesKafka follows one order through the outbox,
// Debezium's outbox router and Kafka.
func TestOrderCreatedReachesKafka(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	topic := env.NewTopic(t, "orders-test")
	env.StartConnector(t, db, topic)
	store, err := postgres.New(db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := store.CreateOrder(ctx, orders.CreateOrderParams{UserID: "carol", Amount: 4200, Description: "kettle"})
	if err != nil {
		t.Fatal(err)
	}
	var outboxID uuid.UUID
	if err := db.Pool.QueryRow(ctx, `SELECT id FROM outbox WHERE aggregateid = 'carol'`).Scan(&outboxID); err != nil {
		t.Fatal(err)
	}

	cfg := env.ClientConfig(t)
	consumer, err := sarama.NewConsumer(env.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	partitions, err := consumer.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan *sarama.ConsumerMessage)
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.AsyncClose()
		go func() {
			for m := range pc.Messages() {
				msgs <- m
			}
		}()
	}
	timeout := time.After(90 * time.Second)
	var m *sarama.ConsumerMessage
	for m == nil {
		select {
		case got := <-msgs:
			m = got
		case <-timeout:
			t.Fatal("no message on the topic after 90s")
		}
	}
	go func() { // keep the partition consumers unblocked until they close
		for range msgs {
		}
	}()

	if got := string(m.Key); got != "carol" {
		t.Errorf("key: got %q, want %q", got, "carol")
	}
	hs := map[string]string{}
	for _, h := range m.Headers {
		hs[string(h.Key)] = headerString(h.Value)
	}
	if hs["id"] != outboxID.String() {
		t.Errorf("header id: got %q, want the outbox id %q", hs["id"], outboxID)
	}
	if hs["eventType"] != "OrderCreated" {
		t.Errorf("header eventType: got %q, want OrderCreated", hs["eventType"])
	}
	var ev ordersv1.OrderCreated
	if err := protojson.Unmarshal(m.Value, &ev); err != nil {
		t.Fatalf("value %q is not OrderCreated JSON: %v", m.Value, err)
	}
	want := &ordersv1.OrderCreated{OrderId: res.Order.ID.String(), UserId: "carol", Amount: 4200, Currency: "RUB", CreatedAt: timestamppb.New(res.Order.CreatedAt)}
	if diff := cmp.Diff(want, &ev, protocmp.Transform()); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
}
