package orderevents

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"shop/audit"
	"shop/cdc/inbox"
	"shop/payments/postgres"
	ordersv1 "shop/proto/orders/v1"
	schema "shop/sql"
	"shop/stack/local"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// fixture is a payments database, a fresh orders topic and a producer.
type fixture struct {
	env      *stacktest.Env
	db       *stacktest.Database
	store    *postgres.Store
	topic    string
	producer sarama.SyncProducer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Payments)
	store, err := postgres.New(db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	cfg := env.ClientConfig(t)
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer(env.Brokers, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return &fixture{env: env, db: db, store: store, topic: env.NewTopic(t, "orders.events"), producer: p}
}

// startConsumer runs a consumer in group until the test ends, and checks
// that it then returns nil.
func (f *fixture) startConsumer(t *testing.T, group string) {
	t.Helper()
	a, err := New(f.store, stacktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	c, err := inbox.New(inbox.Config{
		Kafka: f.env.Kafka(local.KafkaPayments), Group: group, Topic: f.topic, Pool: f.db.Pool,
		Effect: a.Effects().Effect, Logger: stacktest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("consumer Run() = %v, want nil", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("consumer did not return after cancel")
		}
	})
}

type header struct{ k, v string }

func (f *fixture) produce(t *testing.T, key string, value []byte, headers ...header) (int32, int64) {
	t.Helper()
	m := &sarama.ProducerMessage{Topic: f.topic, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(value)}
	for _, h := range headers {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.k), Value: []byte(h.v)})
	}
	part, off, err := f.producer.SendMessage(m)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return part, off
}

type order struct {
	id     uuid.UUID
	user   string
	amount int64
}

func newOrder(user string, amount int64) order {
	return order{id: uuid.New(), user: user, amount: amount}
}

func (o order) json(t testing.TB) []byte {
	t.Helper()
	b, err := protojson.Marshal(&ordersv1.OrderCreated{OrderId: o.id.String(), UserId: o.user, Amount: o.amount,
		Currency: "RUB", CreatedAt: timestamppb.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// send produces o's OrderCreated under eventID as the Debezium router would.
func (f *fixture) send(t *testing.T, o order, eventID uuid.UUID) (int32, int64) {
	t.Helper()
	return f.produce(t, o.user, o.json(t), header{"id", eventID.String()}, header{"eventType", ordersv1.EventOrderCreated})
}

func (f *fixture) account(t *testing.T, user string, balance int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.store.CreateAccount(ctx, user); err != nil {
		t.Fatal(err)
	}
	if balance > 0 {
		if _, err := f.store.TopUp(ctx, user, balance, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// waitDecided waits until the order has a recorded outcome and returns its
// status and reason.
func (f *fixture) waitDecided(t *testing.T, o order) (status, reason string) {
	t.Helper()
	stacktest.WaitFor(t, 90*time.Second, "decision on order "+o.id.String(), func() bool {
		return stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM payment_outcomes WHERE order_id = $1`, o.id) == 1
	})
	var r *string
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT status, reason FROM payment_outcomes WHERE order_id = $1`,
		o.id).Scan(&status, &r); err != nil {
		t.Fatal(err)
	}
	if r != nil {
		reason = *r
	}
	return status, reason
}

func (f *fixture) assertConsistent(t *testing.T, orders *pgxpool.Pool) {
	t.Helper()
	r, err := audit.Check(context.Background(), f.db.Pool, orders)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if !r.OK() {
		t.Fatalf("audit violations: %v", r.Violations)
	}
}

func TestConsumerPaysOnce(t *testing.T) {
	f := newFixture(t)
	f.account(t, "alice", 1000)
	f.startConsumer(t, stacktest.Unique("payments-"))

	o := newOrder("alice", 300)
	eventID := uuid.New()
	f.send(t, o, eventID)
	if status, _ := f.waitDecided(t, o); status != "SUCCEEDED" {
		t.Fatalf("status = %s, want SUCCEEDED", status)
	}

	// The same event again, then the same order under a new event id, then
	// a marker on the same partition (same key): once the marker is decided
	// the two redeliveries have been consumed.
	f.send(t, o, eventID)
	f.send(t, o, uuid.New())
	marker := newOrder("alice", 1)
	f.send(t, marker, uuid.New())
	f.waitDecided(t, marker)

	if got := stacktest.Count(t, f.db.Pool, `SELECT balance FROM accounts WHERE user_id = 'alice'`); got != 699 {
		t.Errorf("balance = %d, want 699", got)
	}
	if got := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM ledger WHERE order_id = $1`, o.id); got != 1 {
		t.Errorf("debits of the order = %d, want 1", got)
	}
	// The duplicate event id is skipped; the new event id publishes the
	// recorded decision again.
	if got := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM outbox WHERE type = 'PaymentSucceeded' AND payload->>'orderId' = $1`, o.id.String()); got != 2 {
		t.Errorf("PaymentSucceeded rows for the order = %d, want 2", got)
	}
	if got := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM inbox`); got != 3 {
		t.Errorf("inbox rows = %d, want 3 (two events of the order, the marker)", got)
	}
	f.assertConsistent(t, nil)
}

func TestConsumerPaymentFailures(t *testing.T) {
	f := newFixture(t)
	f.account(t, "poor", 50)
	f.startConsumer(t, stacktest.Unique("payments-"))

	poor, ghost := newOrder("poor", 51), newOrder("ghost", 10)
	f.send(t, poor, uuid.New())
	f.send(t, ghost, uuid.New())
	tests := []struct {
		o          order
		wantReason string
		wantProto  string
	}{
		{poor, "INSUFFICIENT_FUNDS", "FAILURE_REASON_INSUFFICIENT_FUNDS"},
		{ghost, "ACCOUNT_NOT_FOUND", "FAILURE_REASON_ACCOUNT_NOT_FOUND"},
	}
	for _, tt := range tests {
		status, reason := f.waitDecided(t, tt.o)
		if status != "FAILED" || reason != tt.wantReason {
			t.Errorf("order of %s: %s/%s, want FAILED/%s", tt.o.user, status, reason, tt.wantReason)
		}
		var typ, key, payloadReason string
		if err := f.db.Pool.QueryRow(context.Background(), `SELECT type, aggregateid, payload->>'reason' FROM outbox
			WHERE payload->>'orderId' = $1`, tt.o.id.String()).Scan(&typ, &key, &payloadReason); err != nil {
			t.Fatalf("outbox row of %s: %v", tt.o.user, err)
		}
		if typ != "PaymentFailed" || key != tt.o.user || payloadReason != tt.wantProto {
			t.Errorf("outbox row = %s/%s/%s, want PaymentFailed/%s/%s", typ, key, payloadReason, tt.o.user, tt.wantProto)
		}
	}
	if got := stacktest.Count(t, f.db.Pool, `SELECT balance FROM accounts WHERE user_id = 'poor'`); got != 50 {
		t.Errorf("balance = %d, want 50", got)
	}
	if got := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM ledger WHERE kind = 'DEBIT'`); got != 0 {
		t.Errorf("debits = %d, want 0", got)
	}
	f.assertConsistent(t, nil)
}

func TestConsumerDeadLettersAndMovesOn(t *testing.T) {
	f := newFixture(t)
	f.account(t, "alice", 100)
	f.startConsumer(t, stacktest.Unique("payments-"))

	garbage := []byte("\x00\xff{not json")
	type sent struct {
		partition int32
		offset    int64
		value     []byte
	}
	var bad []sent
	p, off := f.produce(t, "alice", garbage, header{"id", uuid.NewString()}, header{"eventType", ordersv1.EventOrderCreated})
	bad = append(bad, sent{p, off, garbage})
	noID := newOrder("alice", 1).json(t)
	p, off = f.produce(t, "alice", noID, header{"eventType", ordersv1.EventOrderCreated})
	bad = append(bad, sent{p, off, noID})
	unknownType := newOrder("alice", 1).json(t)
	p, off = f.produce(t, "alice", unknownType, header{"id", uuid.NewString()}, header{"eventType", "OrderShipped"})
	bad = append(bad, sent{p, off, unknownType})

	good := newOrder("alice", 40)
	gp, _ := f.send(t, good, uuid.New())
	if status, _ := f.waitDecided(t, good); status != "SUCCEEDED" {
		t.Fatalf("status of the good order = %s, want SUCCEEDED", status)
	}
	for i, b := range bad {
		if b.partition != gp {
			t.Fatalf("bad message %d on partition %d, good on %d: the test needs one partition", i, b.partition, gp)
		}
		var value []byte
		var errText string
		err := f.db.Pool.QueryRow(context.Background(), `SELECT value, error FROM dead_letters
			WHERE topic = $1 AND partition = $2 AND "offset" = $3 AND key = 'alice'`, f.topic, b.partition, b.offset).Scan(&value, &errText)
		if err != nil {
			t.Errorf("dead letter %d (offset %d): %v", i, b.offset, err)
			continue
		}
		if !bytes.Equal(value, b.value) || errText == "" {
			t.Errorf("dead letter %d = %q (%q), want raw value %q and an error", i, value, errText, b.value)
		}
	}
	if got := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM dead_letters`); got != 3 {
		t.Errorf("dead letters = %d, want 3", got)
	}
	if got := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM dead_letters WHERE "offset" = $1 AND error LIKE '%unknown event type "OrderShipped"%'`, bad[2].offset); got != 1 {
		t.Errorf("dead letters naming the unknown type = %d, want 1", got)
	}
	if got := stacktest.Count(t, f.db.Pool, `SELECT balance FROM accounts WHERE user_id = 'alice'`); got != 60 {
		t.Errorf("balance = %d, want 60", got)
	}
	f.assertConsistent(t, nil)
}

// An OrderCreated the orders service cannot have written (an amount out of
// limits, a malformed user id, a key other than its user, a non-canonical
// order id) is dead-lettered: no debit, no decision, no event, and the
// partition moves on.
func TestConsumerDeadLettersInvalidOrders(t *testing.T) {
	f := newFixture(t)
	f.account(t, "alice", 1_000_000)
	f.startConsumer(t, stacktest.Unique("payments-"))

	event := func(orderID, user string, amount int64) []byte {
		return []byte(fmt.Sprintf(`{"orderId":%q,"userId":%q,"amount":"%d","currency":"RUB"}`, orderID, user, amount))
	}
	id := func() string { return uuid.NewString() }
	bad := []struct {
		name  string
		value []byte
	}{
		{"ZeroAmount", event(id(), "alice", 0)},
		{"NegativeAmount", event(id(), "alice", -500)},
		{"AmountAboveLimit", event(id(), "alice", 1_000_000_000_001)},
		{"UserIDFormat", event(id(), "alice bob", 5)},
		{"UserIDNotTheKey", event(id(), "mallory", 5)},
		{"OrderIDWithBraces", event("{"+id()+"}", "alice", 5)},
	}
	type sent struct {
		partition int32
		offset    int64
	}
	var positions []sent
	for _, b := range bad {
		p, off := f.produce(t, "alice", b.value, header{"id", uuid.NewString()}, header{"eventType", ordersv1.EventOrderCreated})
		positions = append(positions, sent{p, off})
	}
	good := newOrder("alice", 40)
	gp, _ := f.send(t, good, uuid.New())
	if status, _ := f.waitDecided(t, good); status != "SUCCEEDED" {
		t.Fatalf("status of the good order = %s, want SUCCEEDED", status)
	}
	for i, p := range positions {
		if p.partition != gp {
			t.Fatalf("%s on partition %d, the good order on %d: the test needs one partition", bad[i].name, p.partition, gp)
		}
		if n := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM dead_letters WHERE topic = $1 AND partition = $2 AND "offset" = $3 AND value = $4`,
			f.topic, p.partition, p.offset, bad[i].value); n != 1 {
			t.Errorf("%s: got %d dead letters at offset %d, want 1", bad[i].name, n, p.offset)
		}
	}
	if got := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM payment_outcomes`); got != 1 {
		t.Errorf("decisions = %d, want 1 (the good order's)", got)
	}
	if got := stacktest.Count(t, f.db.Pool, `SELECT balance FROM accounts WHERE user_id = 'alice'`); got != 1_000_000-40 {
		t.Errorf("balance = %d, want %d", got, 1_000_000-40)
	}
	f.assertConsistent(t, nil)
}

// TestConsumerIgnoresUnknownFields checks the decoding policy end to end: an
// OrderCreated with a field this consumer does not know (one the orders
// service may add) is paid, not dead-lettered.
func TestConsumerIgnoresUnknownFields(t *testing.T) {
	f := newFixture(t)
	f.account(t, "alice", 100)
	f.startConsumer(t, stacktest.Unique("payments-"))

	o := newOrder("alice", 30)
	value := o.json(t)
	value = append(bytes.TrimSuffix(bytes.TrimSpace(value), []byte("}")), []byte(`,"giftWrap":true}`)...)
	f.produce(t, o.user, value, header{"id", uuid.NewString()}, header{"eventType", ordersv1.EventOrderCreated})
	if status, _ := f.waitDecided(t, o); status != "SUCCEEDED" {
		t.Fatalf("status = %s, want SUCCEEDED", status)
	}
	if got := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM dead_letters`); got != 0 {
		t.Errorf("dead letters = %d, want 0", got)
	}
	if got := stacktest.Count(t, f.db.Pool, `SELECT balance FROM accounts WHERE user_id = 'alice'`); got != 70 {
		t.Errorf("balance = %d, want 70", got)
	}
	f.assertConsistent(t, nil)
}

func TestConsumerConcurrentOrdersOverBalance(t *testing.T) {
	f := newFixture(t)
	const (
		users         = 6
		ordersPerUser = 40
		balance       = 1000
		amount        = 100 // 10 affordable per user
	)
	ordersDB := f.env.NewDatabase(t, schema.Orders)
	var all []order
	for u := range users {
		user := fmt.Sprintf("user-%d", u)
		f.account(t, user, balance)
		for range ordersPerUser {
			all = append(all, newOrder(user, amount))
		}
	}
	// The orders service stores each order PENDING before its event exists.
	for _, o := range all {
		if _, err := ordersDB.Pool.Exec(context.Background(), `INSERT INTO orders (id, user_id, amount, currency, description, status, created_at, updated_at)
			VALUES ($1, $2, $3, 'RUB', '', 'PENDING', now(), now())`, o.id, o.user, o.amount); err != nil {
			t.Fatal(err)
		}
	}
	// Two members of one group share the partitions.
	group := stacktest.Unique("payments-")
	f.startConsumer(t, group)
	f.startConsumer(t, group)

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(all); i += 4 {
				f.send(t, all[i], uuid.New())
			}
		})
	}
	wg.Wait()
	stacktest.WaitFor(t, 90*time.Second, "every order decided", func() bool {
		return stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM payment_outcomes`) == len(all)
	})

	rows, err := f.db.Pool.Query(context.Background(), `SELECT user_id, count(*) FILTER (WHERE status = 'SUCCEEDED'),
		count(*) FILTER (WHERE status = 'FAILED' AND reason = 'INSUFFICIENT_FUNDS') FROM payment_outcomes GROUP BY user_id`)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for rows.Next() {
		var user string
		var ok, failed int
		if err := rows.Scan(&user, &ok, &failed); err != nil {
			t.Fatal(err)
		}
		seen++
		if ok != balance/amount || failed != ordersPerUser-balance/amount {
			t.Errorf("%s: %d paid, %d failed; want %d, %d", user, ok, failed, balance/amount, ordersPerUser-balance/amount)
		}
	}
	if rows.Err() != nil || seen != users {
		t.Fatalf("users with outcomes = %d (%v), want %d", seen, rows.Err(), users)
	}
	if got := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM accounts WHERE balance <> 0`); got != 0 {
		t.Errorf("accounts with money left = %d, want 0", got)
	}

	// Play the orders service's part: move each order as its outcome says,
	// then audit both databases together.
	if _, err := ordersDB.Pool.Exec(context.Background(), `UPDATE orders SET status = 'PAID' WHERE id = ANY($1)`,
		f.succeededOrders(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := ordersDB.Pool.Exec(context.Background(), `UPDATE orders SET status = 'CANCELLED', cancel_reason = 'INSUFFICIENT_FUNDS' WHERE status = 'PENDING'`); err != nil {
		t.Fatal(err)
	}
	r, err := audit.Check(context.Background(), f.db.Pool, ordersDB.Pool)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.PaidOrders != users*balance/amount || r.Debits != users*balance/amount {
		t.Errorf("audit = %+v, want OK with %d paid orders and debits", r, users*balance/amount)
	}
}

func (f *fixture) succeededOrders(t *testing.T) []uuid.UUID {
	t.Helper()
	rows, err := f.db.Pool.Query(context.Background(), `SELECT order_id FROM payment_outcomes WHERE status = 'SUCCEEDED'`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	return ids
}
