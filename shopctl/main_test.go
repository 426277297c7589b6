package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	ordersv1 "shop/proto/orders/v1"
	schema "shop/sql"
	"shop/stack/local"
	"shop/stack/stacktest"
	"shop/systemtest/system"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// shopctl runs the command with env as its whole environment and returns
// its output and error.
func shopctl(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &out, stacktest.Logger())
	t.Logf("shopctl %s: %v\n%s", strings.Join(args, " "), err, out.String())
	return out.String(), err
}

func mustShopctl(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, err := shopctl(t, env, args...)
	if err != nil {
		t.Fatalf("shopctl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func count(t *testing.T, db *stacktest.Database, query string, args ...any) int {
	t.Helper()
	return stacktest.Count(t, db.Pool, query, args...)
}

// TestReplayFixedMessage stores a dead letter of the payments consumer whose
// body is a valid OrderCreated (its cause fixed) and replays it: the order
// is paid once, through the payments service's own handlers and inbox; a
// second replay changes nothing, nor does the replay of the same order
// under another event id. A poison letter cannot be replayed into
// anything and is discarded with its reason, the row kept.
func TestReplayFixedMessage(t *testing.T) {
	t.Parallel()
	db := stacktest.Get(t).NewDatabase(t, schema.Payments)
	ctx := context.Background()
	env := map[string]string{"PAYMENTS_DATABASE_URL": db.URL, "PAYMENTS_OPERATOR_DATABASE_URL": db.OperatorURL, "USER": "tester"}
	user := stacktest.Unique("u")
	if _, err := db.Pool.Exec(ctx, `INSERT INTO accounts (user_id, balance, currency, created_at, updated_at)
		VALUES ($1, 1000, 'RUB', now(), now())`, user); err != nil {
		t.Fatal(err)
	}
	orderID := uuid.New()
	body, err := protojson.Marshal(&ordersv1.OrderCreated{OrderId: orderID.String(), UserId: user, Amount: 300,
		Currency: "RUB", CreatedAt: timestamppb.Now()})
	if err != nil {
		t.Fatal(err)
	}
	insert := func(offset int, value []byte, eventID string) string {
		var id int64
		err := db.Pool.QueryRow(ctx, `INSERT INTO dead_letters (topic, partition, "offset", key, value, headers, error)
			VALUES ('orders.events', 1, $1, $2, $3, jsonb_build_object('id', $4::text, 'eventType', 'OrderCreated'), 'was broken')
			RETURNING id`, offset, []byte(user), value, eventID).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(id)
	}
	fixed := insert(7, body, uuid.NewString())
	poison := insert(8, []byte(`{"orderId": "`), uuid.NewString())

	out := mustShopctl(t, env, "dead-letters", "list", "-service", "payments")
	for _, want := range []string{fixed, poison, "unhandled", "OrderCreated", "2 dead letter(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("list output lacks %q", want)
		}
	}

	effects := func() string {
		return fmt.Sprintf("debits %d, outcomes %d, outbox %d, inbox %d",
			count(t, db, `SELECT count(*) FROM ledger WHERE order_id = $1`, orderID),
			count(t, db, `SELECT count(*) FROM payment_outcomes WHERE order_id = $1 AND status = 'SUCCEEDED'`, orderID),
			count(t, db, `SELECT count(*) FROM outbox WHERE aggregateid = $1 OR payload->>'orderId' = $2`, user, orderID.String()),
			count(t, db, `SELECT count(*) FROM inbox`))
	}
	const once = "debits 1, outcomes 1, outbox 1, inbox 1"
	out = mustShopctl(t, env, "dead-letters", "replay", "-service", "payments", fixed)
	if !strings.Contains(out, fixed+": replayed") {
		t.Errorf("replay output %q", out)
	}
	if got := effects(); got != once {
		t.Fatalf("after the replay: %s, want %s", got, once)
	}
	out = mustShopctl(t, env, "dead-letters", "replay", "-service", "payments", "-by", "other", fixed)
	if !strings.Contains(out, "already handled (replayed)") {
		t.Errorf("second replay output %q", out)
	}
	if got := effects(); got != once {
		t.Fatalf("after the second replay: %s, want %s", got, once)
	}
	// The same order under another event id (an outbox row written twice):
	// the inbox takes it, payments decides the order once (one debit, one
	// outcome) and publishes its recorded decision again, as the consumer
	// does for such a message.
	dup := insert(9, body, uuid.NewString())
	mustShopctl(t, env, "dead-letters", "replay", "-service", "payments", dup)
	if got, want := effects(), "debits 1, outcomes 1, outbox 2, inbox 2"; got != want {
		t.Fatalf("after replaying the order's second event: %s, want %s", got, want)
	}
	var balance int64
	if err := db.Pool.QueryRow(ctx, `SELECT balance FROM accounts WHERE user_id = $1`, user).Scan(&balance); err != nil || balance != 700 {
		t.Errorf("balance %d (%v), want 700", balance, err)
	}

	// The poison letter: replay fails again and records the new error.
	out, err = shopctl(t, env, "dead-letters", "replay", "-service", "payments", poison)
	if !errors.Is(err, errFound) || !strings.Contains(out, "still dead") {
		t.Fatalf("replay of a poison letter: %v, %q; want still dead", err, out)
	}
	if _, err := shopctl(t, env, "dead-letters", "discard", "-service", "payments", poison); err == nil || errors.Is(err, errFound) {
		t.Errorf("discard without -reason = %v, want a usage error", err)
	}
	// The service's own role cannot mark a dead letter handled (and so
	// silence its alert): only the operator role can.
	asService := maps.Clone(env)
	asService["PAYMENTS_OPERATOR_DATABASE_URL"] = db.URL
	for _, args := range [][]string{{"discard", "-reason", "hide it"}, {"replay"}} {
		_, err := shopctl(t, asService, append(append([]string{"dead-letters", args[0], "-service", "payments"}, args[1:]...), poison)...)
		if err == nil || !strings.Contains(err.Error(), "only the payments operator role may handle dead letters") {
			t.Errorf("dead-letters %s as the runtime role: %v, want refused", args[0], err)
		}
	}
	mustShopctl(t, env, "dead-letters", "discard", "-service", "payments", "-reason", "truncated by a producer bug", poison)
	if n := count(t, db, `SELECT count(*) FROM dead_letters`); n != 3 {
		t.Errorf("dead letters %d, want both kept", n)
	}
	out = mustShopctl(t, env, "dead-letters", "show", "-service", "payments", poison)
	for _, re := range []string{
		`state: +discarded`, `reason: +truncated by a producer bug`, `handled: .* by tester`,
		`error: +apply event .*undecodable`,
		`replay_failed by tester: apply event`, `discarded by tester: truncated by a producer bug`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("show output lacks %s", re)
		}
	}
	out = mustShopctl(t, env, "dead-letters", "list", "-service", "payments")
	if !strings.Contains(out, "0 dead letter(s)") {
		t.Errorf("list after handling both: %q", out)
	}
	out = mustShopctl(t, env, "dead-letters", "list", "-service", "payments", "-all")
	if strings.Count(out, "replayed") != 2 || !strings.Contains(out, "discarded") {
		t.Errorf("list -all: %q", out)
	}
}

// TestStatusAndPoisonMessage runs the whole shop: status is clean, a poison
// message on the orders topic becomes a dead letter of payments, status
// then exits non-zero and names it, and once it is discarded status is
// clean again.
func TestStatusAndPoisonMessage(t *testing.T) {
	t.Parallel()
	s := system.Start(t, system.Options{})
	env := map[string]string{
		"ORDERS_DATABASE_URL":            s.OrdersDB.URL,
		"PAYMENTS_DATABASE_URL":          s.PaymentsDB.URL,
		"ORDERS_OPERATOR_DATABASE_URL":   s.OrdersDB.OperatorURL,
		"PAYMENTS_OPERATOR_DATABASE_URL": s.PaymentsDB.OperatorURL,
		"KAFKA_BROKERS":                  strings.Join(s.Env.Brokers, ","),
		// The operator's principal: it may describe the topics and groups.
		"KAFKA_SASL_USERNAME":      s.Env.Kafka(local.KafkaShopctl).SASLUsername,
		"KAFKA_SASL_PASSWORD_FILE": s.Env.Kafka(local.KafkaShopctl).SASLPasswordFile,
		"ORDERS_TOPIC":             s.OrdersTopic,
		"PAYMENTS_TOPIC":           s.PaymentsTopic,
		"ORDERS_CONSUMER_GROUP":    s.OrdersGroup,
		"PAYMENTS_CONSUMER_GROUP":  s.PaymentsGroup,
		"ORDERS_SLOT":              s.OrdersDB.Name,
		"PAYMENTS_SLOT":            s.PaymentsDB.Name,
		"ORDERS_CONNECTOR":         s.OrdersDB.Name,
		"PAYMENTS_CONNECTOR":       s.PaymentsDB.Name,
		"CONNECT_URL":              s.Env.ConnectURL,
		"CONNECT_USERNAME":         s.Env.ConnectUsername,
		"CONNECT_PASSWORD":         s.Env.ConnectPassword,
		"USER":                     "tester",
	}
	// One order through the whole pipeline: PAID, and status clean.
	user := stacktest.Unique("status")
	for _, c := range []struct{ path, body string }{
		{"/api/v1/account", ""}, {"/api/v1/account/top-up", `{"amount":1000}`}, {"/api/v1/orders", `{"amount":100,"description":"status test"}`},
	} {
		req, err := http.NewRequest(http.MethodPost, s.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-User-ID", user)
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %s", c.path, resp.Status)
		}
	}
	stacktest.WaitFor(t, time.Minute, "the order PAID", func() bool {
		return count(t, s.OrdersDB, `SELECT count(*) FROM orders WHERE user_id = $1 AND status = 'PAID'`, user) == 1
	})
	stacktest.WaitForNil(t, time.Minute, "status clean", func() error {
		_, err := shopctl(t, env, "status")
		return err
	})

	cfg := s.Env.ClientConfig(t)
	cfg.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer(s.Env.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: s.OrdersTopic, Key: sarama.StringEncoder("poison"),
		Value: sarama.StringEncoder(`{"orderId": "`), Headers: []sarama.RecordHeader{
			{Key: []byte("id"), Value: []byte(uuid.NewString())}, {Key: []byte("eventType"), Value: []byte(ordersv1.EventOrderCreated)}}}); err != nil {
		t.Fatal(err)
	}
	stacktest.WaitFor(t, time.Minute, "the poison message dead-lettered by payments", func() bool {
		return count(t, s.PaymentsDB, `SELECT count(*) FROM dead_letters WHERE key = 'poison'`) == 1
	})
	var id int64
	if err := s.PaymentsDB.Pool.QueryRow(context.Background(), `SELECT id FROM dead_letters WHERE key = 'poison'`).Scan(&id); err != nil {
		t.Fatal(err)
	}

	out, err := shopctl(t, env, "status")
	if !errors.Is(err, errFound) {
		t.Fatalf("status with a dead letter = %v, want errFound (exit 1)", err)
	}
	if !regexp.MustCompile(`payments +1, oldest`).MatchString(out) || !strings.Contains(out, "payments: 1 unhandled dead letter(s)") {
		t.Errorf("status does not show the dead letter")
	}
	for _, want := range []string{s.OrdersDB.Name, s.PaymentsDB.Name, "RUNNING", "active", s.PaymentsGroup} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q", want)
		}
	}
	out = mustShopctl(t, env, "dead-letters", "list", "-service", "payments")
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^%d +.*%s.*unhandled`, id, regexp.QuoteMeta(s.OrdersTopic))).MatchString(out) {
		t.Errorf("list does not show dead letter %d", id)
	}
	out = mustShopctl(t, env, "dead-letters", "show", "-service", "payments", fmt.Sprint(id))
	if !strings.Contains(out, `value:     {"orderId": "`) {
		t.Errorf("show does not show the stored value")
	}
	if _, err := shopctl(t, env, "dead-letters", "replay", "-service", "payments", fmt.Sprint(id)); !errors.Is(err, errFound) {
		t.Errorf("replay of the poison message = %v, want errFound", err)
	}
	mustShopctl(t, env, "dead-letters", "discard", "-service", "payments", "-reason", "test poison", fmt.Sprint(id))
	mustShopctl(t, env, "status")

	// A payment result parked for ten minutes, its order never seen.
	event := uuid.New()
	if _, err := s.OrdersDB.Pool.Exec(context.Background(), `INSERT INTO parked_payment_results
		(event_id, order_id, user_id, amount, paid, event_type, topic, partition, "offset", key, value, parked_at)
		VALUES ($1, $2, 'ghost', 100, true, 'PaymentSucceeded', 'payments.events', 0, 1, 'ghost', '{}', now() - interval '10 minutes')`, event, uuid.New()); err != nil {
		t.Fatal(err)
	}
	out, err = shopctl(t, env, "status")
	if !errors.Is(err, errFound) || !strings.Contains(out, "1, the oldest parked for 10m0s") || !strings.Contains(out, "waits for its order") {
		t.Errorf("status with a result parked for 10 minutes: %v, want errFound and the result shown", err)
	}
	if _, err := s.OrdersDB.Pool.Exec(context.Background(), `DELETE FROM parked_payment_results WHERE event_id = $1`, event); err != nil {
		t.Fatal(err)
	}
	mustShopctl(t, env, "status")
	if n := count(t, s.PaymentsDB, `SELECT count(*) FROM dead_letters WHERE resolution = 'discarded' AND reason = 'test poison'`); n != 1 {
		t.Errorf("discarded dead letters with the reason: %d, want 1", n)
	}
	out = mustShopctl(t, env, "audit")
	if !strings.Contains(out, "paid orders: 1") || !strings.Contains(out, "OK") {
		t.Errorf("audit output %q", out)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"dead-letters", "list", "-service", "gateway"}, {"dead-letters", "show", "-service", "orders"}} {
		if _, err := shopctl(t, map[string]string{}, args...); err == nil || errors.Is(err, errFound) {
			t.Errorf("shopctl %q = %v, want a usage error", args, err)
		}
	}
}
