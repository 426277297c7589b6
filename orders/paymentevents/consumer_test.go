package paymentevents_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"shop/cdc/inbox"
	"shop/orders"
	"shop/orders/paymentevents"
	"shop/orders/postgres"
	"shop/service"
	schema "shop/sql"
	"shop/stack/local"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// fixture is a store on a fresh database, a fresh topic and a running inbox
// consumer of that topic applying payment events.
type fixture struct {
	db       *stacktest.Database
	store    *postgres.Store
	topic    string
	producer sarama.SyncProducer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	topic := env.NewTopic(t, "payments-test")
	store, err := postgres.New(db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	applier, err := paymentevents.New(store, stacktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := inbox.New(inbox.Config{
		Kafka: env.Kafka(local.KafkaOrders), Group: stacktest.Unique("orders-test-"), Topic: topic,
		Pool: db.Pool, Effect: applier.Effects().Effect, Logger: stacktest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The consumer and the sweeper, as app.Run runs them.
	jobs := []service.Job{
		{Name: "consumer", Run: consumer.Run},
		service.Every("sweep", paymentevents.SweepInterval, stacktest.Logger(), applier.Sweep),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, len(jobs))
	for _, j := range jobs {
		go func() { done <- j.Run(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		for range jobs {
			if err := <-done; err != nil {
				t.Errorf("job: %v", err)
			}
		}
	})

	cfg := env.ClientConfig(t)
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	producer, err := sarama.NewSyncProducer(env.Brokers, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	t.Cleanup(func() { _ = producer.Close() })
	return &fixture{db: db, store: store, topic: topic, producer: producer}
}

// sent is where a produced message landed.
type sent struct {
	partition int32
	offset    int64
}

// send produces value with key userID and the given headers (nil values
// are left out).
func (f *fixture) send(t *testing.T, userID, value string, headers map[string]string) sent {
	t.Helper()
	m := &sarama.ProducerMessage{Topic: f.topic, Key: sarama.StringEncoder(userID), Value: sarama.StringEncoder(value)}
	for k, v := range headers {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	p, o, err := f.producer.SendMessage(m)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return sent{p, o}
}

func succeeded(o orders.Order) string {
	return fmt.Sprintf(`{"orderId":%q,"userId":%q,"amount":"%d","currency":"RUB"}`, o.ID, o.UserID, o.Amount)
}

func failed(o orders.Order, reason string) string {
	return fmt.Sprintf(`{"orderId":%q,"userId":%q,"amount":"%d","currency":"RUB","reason":%q}`, o.ID, o.UserID, o.Amount, reason)
}

func headers(id uuid.UUID, typ string) map[string]string {
	return map[string]string{"id": id.String(), "eventType": typ}
}

func (f *fixture) createOrder(t *testing.T, userID string) orders.Order {
	t.Helper()
	res, err := f.store.CreateOrder(context.Background(), orders.CreateOrderParams{UserID: userID, Amount: 100})
	if err != nil {
		t.Fatal(err)
	}
	return res.Order
}

func (f *fixture) order(t *testing.T, o orders.Order) orders.Order {
	t.Helper()
	got, err := f.store.GetOrder(context.Background(), o.UserID, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// waitStatus waits until the order has the status, for at most 60s.
func (f *fixture) waitStatus(t *testing.T, o orders.Order, want orders.Status) orders.Order {
	t.Helper()
	var got orders.Order
	stacktest.WaitFor(t, 60*time.Second, fmt.Sprintf("order %s to be %s", o.ID, want), func() bool {
		got = f.order(t, o)
		return got.Status == want
	})
	return got
}

// TestConsumer runs the scenarios on one consumer; each uses its own user,
// so its messages share one partition and arrive in order.
func TestConsumer(t *testing.T) {
	f := newFixture(t)

	t.Run("PendingToPaid", func(t *testing.T) {
		o := f.createOrder(t, "u-paid")
		f.send(t, o.UserID, succeeded(o), headers(uuid.New(), "PaymentSucceeded"))
		got := f.waitStatus(t, o, orders.StatusPaid)
		if got.CancelReason != "" {
			t.Errorf("cancel reason: got %q, want none", got.CancelReason)
		}
	})

	t.Run("PendingToCancelledWithReason", func(t *testing.T) {
		o := f.createOrder(t, "u-cancelled")
		f.send(t, o.UserID, failed(o, "FAILURE_REASON_INSUFFICIENT_FUNDS"), headers(uuid.New(), "PaymentFailed"))
		got := f.waitStatus(t, o, orders.StatusCancelled)
		if got.CancelReason != orders.CancelReasonInsufficientFunds {
			t.Errorf("cancel reason: got %q, want %q", got.CancelReason, orders.CancelReasonInsufficientFunds)
		}
	})

	// A field a newer payments release adds is ignored: the result is
	// applied, not dead-lettered (inbox.Unmarshal).
	t.Run("NewerFieldIgnored", func(t *testing.T) {
		o := f.createOrder(t, "u-newer-field")
		value := strings.TrimSuffix(succeeded(o), "}") + `,"settledAt":"2026-01-01T00:00:00Z","fee":{"amount":"3"}}`
		p := f.send(t, o.UserID, value, headers(uuid.New(), "PaymentSucceeded"))
		f.waitStatus(t, o, orders.StatusPaid)
		if n := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM dead_letters WHERE topic = $1 AND partition = $2 AND "offset" = $3`,
			f.topic, p.partition, p.offset); n != 0 {
			t.Errorf("dead letters of the result with a newer field: got %d, want 0", n)
		}
	})

	t.Run("TerminalNeverChanges", func(t *testing.T) {
		o := f.createOrder(t, "u-terminal")
		f.send(t, o.UserID, succeeded(o), headers(uuid.New(), "PaymentSucceeded"))
		lateID := uuid.New()
		f.send(t, o.UserID, failed(o, "FAILURE_REASON_ACCOUNT_NOT_FOUND"), headers(lateID, "PaymentFailed"))
		// A marker order after both events: once it is paid, both were consumed.
		marker := f.createOrder(t, "u-terminal")
		f.send(t, marker.UserID, succeeded(marker), headers(uuid.New(), "PaymentSucceeded"))
		f.waitStatus(t, marker, orders.StatusPaid)
		if n := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM inbox WHERE event_id = $1`, lateID); n != 1 {
			t.Fatalf("late PaymentFailed in inbox: got %d, want 1", n)
		}
		if got := f.order(t, o); got.Status != orders.StatusPaid || got.CancelReason != "" {
			t.Errorf("got (%s, %q), want (PAID, \"\")", got.Status, got.CancelReason)
		}
	})

	t.Run("DuplicateEventIDAppliedOnce", func(t *testing.T) {
		a, b, marker := f.createOrder(t, "u-dup"), f.createOrder(t, "u-dup"), f.createOrder(t, "u-dup")
		id := uuid.New()
		f.send(t, a.UserID, succeeded(a), headers(id, "PaymentSucceeded"))
		// The same event id again, about another order: a duplicate, skipped.
		f.send(t, b.UserID, failed(b, "FAILURE_REASON_ACCOUNT_NOT_FOUND"), headers(id, "PaymentFailed"))
		f.send(t, marker.UserID, succeeded(marker), headers(uuid.New(), "PaymentSucceeded"))
		f.waitStatus(t, marker, orders.StatusPaid)
		if got := f.order(t, a).Status; got != orders.StatusPaid {
			t.Errorf("first event: order status %s, want PAID", got)
		}
		if got := f.order(t, b).Status; got != orders.StatusPending {
			t.Errorf("duplicate event: order status %s, want PENDING", got)
		}
		if n := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM inbox WHERE event_id = $1`, id); n != 1 {
			t.Errorf("inbox rows of the event: got %d, want 1", n)
		}
	})

	t.Run("UndecodableDeadLetteredAndPartitionMovesOn", func(t *testing.T) {
		o := f.createOrder(t, "u-bad")
		bad := []struct {
			name    string
			value   string
			headers map[string]string
		}{
			{"Garbage", "not json at all", headers(uuid.New(), "PaymentSucceeded")},
			{"UnknownEventType", succeeded(o), headers(uuid.New(), "PaymentRefunded")},
			{"MissingIDHeader", succeeded(o), map[string]string{"eventType": "PaymentSucceeded"}},
			{"InvalidFields", `{"orderId":"not-a-uuid","userId":"u-bad","amount":"1","currency":"RUB"}`, headers(uuid.New(), "PaymentSucceeded")},
		}
		var positions []sent
		for _, m := range bad {
			positions = append(positions, f.send(t, o.UserID, m.value, m.headers))
		}
		good := f.send(t, o.UserID, failed(o, "FAILURE_REASON_ACCOUNT_NOT_FOUND"), headers(uuid.New(), "PaymentFailed"))
		// Had any bad message been applied, the order would be PAID first.
		got := f.waitStatus(t, o, orders.StatusCancelled)
		if got.CancelReason != orders.CancelReasonAccountNotFound {
			t.Errorf("cancel reason: got %q, want %q", got.CancelReason, orders.CancelReasonAccountNotFound)
		}
		for i, p := range positions {
			if p.partition != good.partition {
				t.Fatalf("%s went to partition %d, the good message to %d", bad[i].name, p.partition, good.partition)
			}
			n := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM dead_letters WHERE topic = $1 AND partition = $2 AND "offset" = $3 AND value = $4`,
				f.topic, p.partition, p.offset, []byte(bad[i].value))
			if n != 1 {
				t.Errorf("%s: got %d dead letters at offset %d, want 1", bad[i].name, n, p.offset)
			}
		}
		if n := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM dead_letters`); n != len(bad) {
			t.Errorf("dead letters: got %d, want %d", n, len(bad))
		}
		// The unknown type is named in the reason: an operator replays it
		// once this consumer knows it (docs/upgrades.md).
		if n := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM dead_letters WHERE error LIKE '%unknown event type "PaymentRefunded"%'`); n != 1 {
			t.Errorf("dead letters naming the unknown type: got %d, want 1", n)
		}
	})
	// A result can come back before its order's commit is visible here
	// (logical decoding sends a commit once it is flushed): it is parked and
	// applied once the order is visible.
	t.Run("OrderVisibleLateIsApplied", func(t *testing.T) {
		ctx := context.Background()
		o := orders.Order{ID: uuid.New(), UserID: "u-late", Amount: 100}
		tx, err := f.db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO orders (id, user_id, amount, currency, description, status, created_at, updated_at)
			VALUES ($1, $2, 100, 'RUB', '', 'PENDING', now(), now())`, o.ID, o.UserID); err != nil {
			t.Fatal(err)
		}
		f.send(t, o.UserID, succeeded(o), headers(uuid.New(), "PaymentSucceeded"))
		time.Sleep(time.Second)
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		f.waitStatus(t, o, orders.StatusPaid)
	})

	// A result for another user's order can never apply: dead-lettered,
	// the order unchanged, and the partition moves on.
	t.Run("OtherUsersOrderDeadLettered", func(t *testing.T) {
		o := f.createOrder(t, "u-owner")
		forged := o
		forged.UserID = "u-forger"
		p := f.send(t, forged.UserID, succeeded(forged), headers(uuid.New(), "PaymentSucceeded"))
		marker := f.createOrder(t, forged.UserID)
		f.send(t, marker.UserID, succeeded(marker), headers(uuid.New(), "PaymentSucceeded"))
		f.waitStatus(t, marker, orders.StatusPaid)
		if got := f.order(t, o).Status; got != orders.StatusPending {
			t.Errorf("another user's order: %s, want PENDING", got)
		}
		if n := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM dead_letters WHERE topic = $1 AND partition = $2 AND "offset" = $3 AND error LIKE '%another user%'`,
			f.topic, p.partition, p.offset); n != 1 {
			t.Errorf("dead letters of the forged result: got %d, want 1", n)
		}
	})

	// A result that names an order of its user but another amount is not
	// that order's payment (and may be forged): dead-lettered whatever it
	// says, the order unchanged, and the partition moves on to the genuine
	// result.
	t.Run("MismatchedAmountDeadLettered", func(t *testing.T) {
		o := f.createOrder(t, "u-amount") // amount 100
		forged := []struct {
			name, value, typ string
		}{
			{"SucceededForMore", succeeded(withAmount(o, 101)), "PaymentSucceeded"},
			{"SucceededForLess", succeeded(withAmount(o, 1)), "PaymentSucceeded"},
			{"FailedForOtherAmount", failed(withAmount(o, 1_000_000), "FAILURE_REASON_INSUFFICIENT_FUNDS"), "PaymentFailed"},
			{"SucceededForAnotherUser", succeeded(withUser(o, "u-amount-other")), "PaymentSucceeded"},
		}
		var positions []sent
		for _, m := range forged {
			positions = append(positions, f.send(t, o.UserID, m.value, headers(uuid.New(), m.typ)))
		}
		// The genuine result, after them on the same partition: had a forged
		// one been applied, the order would not end CANCELLED.
		f.send(t, o.UserID, failed(o, "FAILURE_REASON_ACCOUNT_NOT_FOUND"), headers(uuid.New(), "PaymentFailed"))
		got := f.waitStatus(t, o, orders.StatusCancelled)
		if got.CancelReason != orders.CancelReasonAccountNotFound {
			t.Errorf("cancel reason: got %q, want %q", got.CancelReason, orders.CancelReasonAccountNotFound)
		}
		for i, p := range positions {
			n := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM dead_letters WHERE topic = $1 AND partition = $2 AND "offset" = $3 AND value = $4 AND error LIKE '%does not match the order%'`,
				f.topic, p.partition, p.offset, []byte(forged[i].value))
			if n != 1 {
				t.Errorf("%s: got %d dead letters at offset %d, want 1", forged[i].name, n, p.offset)
			}
		}
		// A forged result for an order already terminal is a dead letter
		// too, not "ignored: already terminal".
		late := f.send(t, o.UserID, succeeded(withAmount(o, 5)), headers(uuid.New(), "PaymentSucceeded"))
		stacktest.WaitFor(t, 60*time.Second, "the late forged result to be dead-lettered", func() bool {
			return stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM dead_letters WHERE topic = $1 AND partition = $2 AND "offset" = $3`,
				f.topic, late.partition, late.offset) == 1
		})
		if after := f.order(t, o); after.Status != orders.StatusCancelled || !after.UpdatedAt.Equal(got.UpdatedAt) {
			t.Errorf("after the late forged result: %s updated %v, want CANCELLED updated %v", after.Status, after.UpdatedAt, got.UpdatedAt)
		}
	})

	// A parked result (its order not visible yet) is checked when it is
	// applied: for another amount, it is dead-lettered and the order stays
	// PENDING.
	t.Run("ParkedMismatchDeadLettered", func(t *testing.T) {
		ctx := context.Background()
		ghost := orders.Order{ID: uuid.New(), UserID: "u-parked-forged", Amount: 100}
		forged := succeeded(withAmount(ghost, 7))
		p := f.send(t, ghost.UserID, forged, headers(uuid.New(), "PaymentSucceeded"))
		stacktest.WaitFor(t, 60*time.Second, "the result to be parked", func() bool {
			return stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM parked_payment_results WHERE order_id = $1`, ghost.ID) == 1
		})
		if _, err := f.db.Pool.Exec(ctx, `INSERT INTO orders (id, user_id, amount, currency, description, status, created_at, updated_at)
			VALUES ($1, $2, 100, 'RUB', '', 'PENDING', now(), now())`, ghost.ID, ghost.UserID); err != nil {
			t.Fatal(err)
		}
		stacktest.WaitFor(t, 60*time.Second, "the parked result to be dead-lettered", func() bool {
			return stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM parked_payment_results WHERE order_id = $1`, ghost.ID) == 0
		})
		if n := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM dead_letters WHERE topic = $1 AND partition = $2 AND "offset" = $3 AND value = $4 AND error LIKE '%does not match the order%'`,
			f.topic, p.partition, p.offset, []byte(forged)); n != 1 {
			t.Errorf("dead letters of the parked forged result: got %d, want 1", n)
		}
		if got := f.order(t, ghost).Status; got != orders.StatusPending {
			t.Errorf("order: %s, want PENDING", got)
		}
	})
}

func withAmount(o orders.Order, amount int64) orders.Order {
	o.Amount = amount
	return o
}

func withUser(o orders.Order, userID string) orders.Order {
	o.UserID = userID
	return o
}

// TestResultBeforeOrderVisibleFor30s sends a payment result whose order
// becomes visible only 30 s later (a failover, a slow standby): the result
// is parked, not dead-lettered, the partition moves on meanwhile, and the
// order is paid once it is there.
func TestResultBeforeOrderVisibleFor30s(t *testing.T) {
	t.Parallel()
	const late = 30 * time.Second
	f := newFixture(t)
	ctx := context.Background()
	ghost := orders.Order{ID: uuid.New(), UserID: "u-late30", Amount: 100}
	sentAt := time.Now()
	p := f.send(t, ghost.UserID, succeeded(ghost), headers(uuid.New(), "PaymentSucceeded"))

	// The partition moves on: a later result of the same user is applied.
	marker := f.createOrder(t, ghost.UserID)
	if q := f.send(t, marker.UserID, succeeded(marker), headers(uuid.New(), "PaymentSucceeded")); q.partition != p.partition {
		t.Fatalf("marker on partition %d, the early result on %d", q.partition, p.partition)
	}
	f.waitStatus(t, marker, orders.StatusPaid)
	if n := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM parked_payment_results WHERE order_id = $1`, ghost.ID); n != 1 {
		t.Fatalf("parked results of the order: got %d, want 1", n)
	}

	time.Sleep(time.Until(sentAt.Add(late))) // the order stays invisible this long
	if n := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM dead_letters`); n != 0 {
		t.Fatalf("dead letters while the order was not visible: got %d, want 0", n)
	}
	if _, err := f.db.Pool.Exec(ctx, `INSERT INTO orders (id, user_id, amount, currency, description, status, created_at, updated_at)
		VALUES ($1, $2, 100, 'RUB', '', 'PENDING', now(), now())`, ghost.ID, ghost.UserID); err != nil {
		t.Fatal(err)
	}
	f.waitStatus(t, ghost, orders.StatusPaid)
	if n := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM parked_payment_results`); n != 0 {
		t.Errorf("parked results after the order was paid: got %d, want 0", n)
	}
	if n := stacktest.Count(t, f.db.Pool, `SELECT count(*) FROM dead_letters`); n != 0 {
		t.Errorf("dead letters: got %d, want 0", n)
	}
}
