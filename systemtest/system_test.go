package systemtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"shop/audit"
	"shop/gateway/httpapi"
	"shop/stack/stacktest"
	"shop/systemtest/system"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// settleTimeout bounds how long orders may take to leave PENDING. Generous:
// it only matters when something is broken, and the tests run in parallel
// under the race detector on small machines.
const settleTimeout = 2 * time.Minute

// shop is the whole system of one test (system.Start) with the helpers the
// tests use to drive it through the gateway and to read its databases and
// topics.
type shop struct {
	*system.System
	http *http.Client
}

// startShop starts the whole system for one test; it is stopped when the
// test ends.
func startShop(t *testing.T, opts system.Options) *shop {
	t.Helper()
	return &shop{
		System: system.Start(t, opts),
		http:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
	}
}

// --- REST ---

// call sends a request to the gateway as user and, when the status is
// want, decodes the JSON body into out (when not nil). Safe for concurrent
// use; it does not touch the testing.T, so goroutines may call it.
func (s *shop) call(ctx context.Context, method, path, user, body string, want int, out any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(httpapi.HeaderUserID, user)
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, b)
	}
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s %s: body %s: %w", method, path, b, err)
	}
	return nil
}

// openAccount creates user's account through the gateway and tops it up
// with amount.
func (s *shop) openAccount(t *testing.T, user string, amount int64) {
	t.Helper()
	ctx := context.Background()
	if err := s.call(ctx, "POST", "/api/v1/account", user, "", http.StatusCreated, nil); err != nil {
		t.Fatal(err)
	}
	var acc httpapi.Account
	if err := s.call(ctx, "POST", "/api/v1/account/top-up", user, fmt.Sprintf(`{"amount":%d}`, amount), http.StatusOK, &acc); err != nil {
		t.Fatal(err)
	}
	if acc.Balance != amount {
		t.Fatalf("balance after top-up of %d = %d", amount, acc.Balance)
	}
}

// createOrder creates an order through the gateway; it must be PENDING.
func (s *shop) createOrder(ctx context.Context, user string, amount int64) (httpapi.Order, error) {
	var o httpapi.Order
	if err := s.call(ctx, "POST", "/api/v1/orders", user, fmt.Sprintf(`{"amount":%d,"description":"system test"}`, amount), http.StatusCreated, &o); err != nil {
		return o, err
	}
	if o.Status != "PENDING" || o.Amount != amount || o.UserID != user {
		return o, fmt.Errorf("created order %+v, want PENDING of %d for %s", o, amount, user)
	}
	return o, nil
}

func (s *shop) mustCreateOrder(t *testing.T, user string, amount int64) httpapi.Order {
	t.Helper()
	o, err := s.createOrder(context.Background(), user, amount)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// restOrder returns the order as the gateway shows it to user.
func (s *shop) restOrder(t *testing.T, user, id string) httpapi.Order {
	t.Helper()
	var o httpapi.Order
	if err := s.call(context.Background(), "GET", "/api/v1/orders/"+id, user, "", http.StatusOK, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// --- databases ---

// orderRow is an order as the orders database holds it.
type orderRow struct {
	ID        string
	UserID    string
	Amount    int64
	Status    string
	Reason    string
	UpdatedAt time.Time
}

// ordersOf returns the orders of the given users.
func (s *shop) ordersOf(ctx context.Context, users ...string) ([]orderRow, error) {
	rows, err := s.OrdersDB.Pool.Query(ctx, `SELECT id::text, user_id, amount, status, COALESCE(cancel_reason, ''), updated_at
		FROM orders WHERE user_id = ANY($1) ORDER BY created_at, id`, users)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []orderRow
	for rows.Next() {
		var o orderRow
		if err := rows.Scan(&o.ID, &o.UserID, &o.Amount, &o.Status, &o.Reason, &o.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// waitSettled waits until the users have n orders in the orders database
// and none is PENDING, and returns them by id. More than n orders fail the
// test at once.
func (s *shop) waitSettled(t *testing.T, n int, users ...string) map[string]orderRow {
	t.Helper()
	var settled []orderRow
	stacktest.WaitForNil(t, settleTimeout, fmt.Sprintf("%d settled orders of %v", n, users), func() error {
		got, err := s.ordersOf(context.Background(), users...)
		if err != nil {
			t.Fatalf("read orders: %v", err)
		}
		if len(got) > n {
			t.Fatalf("%d orders of %v, want %d", len(got), users, n)
		}
		pending := 0
		for _, o := range got {
			if o.Status == "PENDING" {
				pending++
			}
		}
		if len(got) < n || pending > 0 {
			return fmt.Errorf("%d of %d orders exist, %d still PENDING", len(got), n, pending)
		}
		settled = got
		return nil
	})
	out := make(map[string]orderRow, n)
	for _, o := range settled {
		out[o.ID] = o
	}
	return out
}

// waitOrder waits until the order leaves PENDING and returns it.
func (s *shop) waitOrder(t *testing.T, o httpapi.Order) orderRow {
	t.Helper()
	var r orderRow
	stacktest.WaitFor(t, settleTimeout, "order "+o.ID+" to leave PENDING", func() bool {
		err := s.OrdersDB.Pool.QueryRow(context.Background(), `SELECT id::text, user_id, amount, status, COALESCE(cancel_reason, ''), updated_at
			FROM orders WHERE id = $1`, o.ID).Scan(&r.ID, &r.UserID, &r.Amount, &r.Status, &r.Reason, &r.UpdatedAt)
		if err != nil {
			t.Fatalf("read order %s: %v", o.ID, err)
		}
		return r.Status != "PENDING"
	})
	return r
}

// balance returns user's balance from the payments database.
func (s *shop) balance(t *testing.T, user string) int64 {
	t.Helper()
	var b int64
	if err := s.PaymentsDB.Pool.QueryRow(context.Background(), `SELECT balance FROM accounts WHERE user_id = $1`, user).Scan(&b); err != nil {
		t.Fatalf("balance of %s: %v", user, err)
	}
	return b
}

// debits returns user's DEBIT ledger entries: amount by order id, and how
// many rows there are (a map would hide a second row of one order).
func (s *shop) debits(t *testing.T, user string) (map[string]int64, int) {
	t.Helper()
	rows, err := s.PaymentsDB.Pool.Query(context.Background(), `SELECT order_id::text, amount FROM ledger WHERE user_id = $1 AND kind = 'DEBIT'`, user)
	if err != nil {
		t.Fatalf("ledger of %s: %v", user, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	n := 0
	for rows.Next() {
		var id string
		var amount int64
		if err := rows.Scan(&id, &amount); err != nil {
			t.Fatal(err)
		}
		out[id] += amount
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out, n
}

// ledgerTotals returns sum(credits) and sum(debits) of user.
func (s *shop) ledgerTotals(t *testing.T, user string) (credits, debits int64) {
	t.Helper()
	err := s.PaymentsDB.Pool.QueryRow(context.Background(), `SELECT
			COALESCE(SUM(amount) FILTER (WHERE kind = 'CREDIT'), 0)::bigint,
			COALESCE(SUM(amount) FILTER (WHERE kind = 'DEBIT'), 0)::bigint
		FROM ledger WHERE user_id = $1`, user).Scan(&credits, &debits)
	if err != nil {
		t.Fatalf("ledger totals of %s: %v", user, err)
	}
	return credits, debits
}

// auditClean runs the consistency check over both databases and fails the
// test on any violation. Call it once every order has settled: a debit of a
// PENDING order (in flight) is then an error too.
func (s *shop) auditClean(t *testing.T) audit.Report {
	t.Helper()
	r, err := audit.Check(context.Background(), s.PaymentsDB.Pool, s.OrdersDB.Pool)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	for _, v := range r.Violations {
		t.Errorf("audit violation: %s", v)
	}
	if r.InFlight != 0 {
		t.Errorf("audit: %d debits of PENDING orders after every order settled", r.InFlight)
	}
	return r
}

// deadLetter is a row of a dead_letters table.
type deadLetter struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Error     string
}

func deadLetters(t *testing.T, db *stacktest.Database) []deadLetter {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT topic, partition, "offset", key, value, error FROM dead_letters ORDER BY topic, partition, "offset"`)
	if err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	defer rows.Close()
	var out []deadLetter
	for rows.Next() {
		var d deadLetter
		if err := rows.Scan(&d.Topic, &d.Partition, &d.Offset, &d.Key, &d.Value, &d.Error); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// inboxHas reports whether the database's inbox holds eventID.
func inboxHas(t *testing.T, db *stacktest.Database, eventID string) bool {
	t.Helper()
	var ok bool
	if err := db.Pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM inbox WHERE event_id = $1::uuid)`, eventID).Scan(&ok); err != nil {
		t.Fatalf("inbox: %v", err)
	}
	return ok
}

// --- Kafka ---

// produce writes one message to the given partition of topic, as a
// misbehaving or repeating producer would, and returns its offset. The
// partition is explicit because Debezium (Java client, murmur2) and sarama
// (FNV-1a) hash keys to partitions differently.
func (s *shop) produce(t *testing.T, topic string, partition int32, key string, value []byte, headers map[string]string) int64 {
	t.Helper()
	cfg := s.Env.ClientConfig(t)
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer(s.Env.Brokers, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	msg := &sarama.ProducerMessage{Topic: topic, Partition: partition, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(value)}
	for k, v := range headers {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	part, off, err := p.SendMessage(msg)
	if err != nil {
		t.Fatalf("produce to %s/%d: %v", topic, partition, err)
	}
	if part != partition {
		t.Fatalf("produced to partition %d, want %d", part, partition)
	}
	return off
}

// findRecord reads topic from the beginning until a record matches and
// returns the first that does.
func (s *shop) findRecord(t *testing.T, topic string, match func(stacktest.Record) bool) stacktest.Record {
	t.Helper()
	var found stacktest.Record
	s.Env.ReadTopic(t, topic, settleTimeout, func(recs []stacktest.Record) bool {
		for _, r := range recs {
			if match(r) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// eventFor matches records of event type typ whose JSON value names orderID.
func eventFor(typ, orderID string) func(stacktest.Record) bool {
	return func(r stacktest.Record) bool {
		if headerValue(r.Headers["eventType"]) != typ {
			return false
		}
		var v struct {
			OrderID string `json:"orderId"`
		}
		return json.Unmarshal(r.Value, &v) == nil && v.OrderID == orderID
	}
}

// headerValue unquotes a header value that Kafka Connect's JSON header
// converter would have quoted.
func headerValue(s string) string {
	var u string
	if len(s) >= 2 && s[0] == '"' && json.Unmarshal([]byte(s), &u) == nil {
		return u
	}
	return s
}
