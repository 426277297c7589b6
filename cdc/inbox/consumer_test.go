package inbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/structpb"

	"shop/cdc/inbox"
	"shop/cdc/outbox"
	schema "shop/sql"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) {
	inbox.DisableClientMetrics() // as the services' main functions do
	stacktest.Main(m)
}

// appliedDatabase returns a new database of kind on env with a table of the
// consumer's effects, applied.
func appliedDatabase(t *testing.T, env *stacktest.Env, kind schema.Database) *stacktest.Database {
	t.Helper()
	db := env.NewDatabase(t, kind)
	if _, err := db.Owner.Exec(context.Background(), `CREATE TABLE applied (
		event_id uuid, type text, key text, value text, traceparent text, partition int, "offset" bigint)`); err != nil {
		t.Fatal(err)
	}
	return db
}

func record(ctx context.Context, tx pgx.Tx, m inbox.Message) error {
	_, err := tx.Exec(ctx, `INSERT INTO applied VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		m.EventID, m.Type, m.Key, string(m.Value), m.Traceparent, m.Partition, m.Offset)
	return err
}

func run(t *testing.T, cfg inbox.Config) {
	t.Helper()
	cfg.Logger = stacktest.Logger()
	if cfg.Group == "" {
		cfg.Group = stacktest.Unique("g-")
	}
	c, err := inbox.New(cfg)
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
				t.Errorf("Run() = %v, want nil", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run() did not return after cancel")
		}
	})
}

// waitCount waits until query, which selects one count, returns want.
func waitCount(t *testing.T, pool *pgxpool.Pool, want int, query string, args ...any) {
	t.Helper()
	stacktest.WaitForNil(t, 90*time.Second, query, func() error {
		if got := stacktest.Count(t, pool, query, args...); got != want {
			return fmt.Errorf("got %d, want %d", got, want)
		}
		return nil
	})
}

func producer(t *testing.T, env *stacktest.Env) sarama.SyncProducer {
	t.Helper()
	cfg := env.ClientConfig(t)
	cfg.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer(env.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// sendNew sends n messages with new ids, key "k" and value "v" to topic, and
// returns their ids.
func sendNew(t *testing.T, p sarama.SyncProducer, topic string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range n {
		ids[i] = uuid.NewString()
		msgs[i] = msg(topic, "k", "v", "id", ids[i], "eventType", "T")
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
	return ids
}

func msg(topic, key, value string, headers ...string) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.StringEncoder(value)}
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(headers[i]), Value: []byte(headers[i+1])})
	}
	return m
}

// TestOutboxThroughDebezium writes outbox rows and consumes what Debezium's
// Outbox Event Router publishes: the consumer sees the row id as EventID,
// the type, the aggregate id as key, the payload JSON and the traceparent.
func TestOutboxThroughDebezium(t *testing.T) {
	env := stacktest.Get(t)
	src := env.NewDatabase(t, schema.Orders)
	dst := appliedDatabase(t, env, schema.Payments)
	topic := env.NewTopic(t, "orders.events")

	ctx := context.Background()
	payload, err := structpb.NewStruct(map[string]any{"orderId": "o-1", "amount": "42"})
	if err != nil {
		t.Fatal(err)
	}
	before := outbox.Event{ID: uuid.New(), AggregateType: "order", AggregateID: "alice", Type: "OrderCreated", Payload: payload, Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	// Written before the connector starts: the snapshot must publish it.
	if err := pgx.BeginFunc(ctx, src.Pool, func(tx pgx.Tx) error { return outbox.Insert(ctx, tx, before) }); err != nil {
		t.Fatalf("Insert() = %v", err)
	}
	env.StartConnector(t, src, topic)
	after := outbox.Event{ID: uuid.New(), AggregateType: "order", AggregateID: "bob", Type: "OrderCreated", Payload: payload}
	if err := pgx.BeginFunc(ctx, src.Pool, func(tx pgx.Tx) error { return outbox.Insert(ctx, tx, after) }); err != nil {
		t.Fatalf("Insert() = %v", err)
	}
	// A rolled-back transaction publishes nothing.
	rolledBack := outbox.Event{ID: uuid.New(), AggregateType: "order", AggregateID: "carol", Type: "OrderCreated", Payload: payload}
	errRollback := errors.New("rollback")
	if err := pgx.BeginFunc(ctx, src.Pool, func(tx pgx.Tx) error {
		if err := outbox.Insert(ctx, tx, rolledBack); err != nil {
			return err
		}
		return errRollback
	}); !errors.Is(err, errRollback) {
		t.Fatal(err)
	}

	run(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Topic: topic, Pool: dst.Pool, Apply: record})
	waitCount(t, dst.Pool, 2, `SELECT count(*) FROM applied`)
	for _, e := range []outbox.Event{before, after} {
		var typ, key, value, trace string
		if err := dst.Pool.QueryRow(ctx, `SELECT type, key, value, traceparent FROM applied WHERE event_id = $1`, e.ID).Scan(&typ, &key, &value, &trace); err != nil {
			t.Fatalf("event %s not applied with its id: %v", e.ID, err)
		}
		if typ != e.Type || key != e.AggregateID || trace != e.Traceparent {
			t.Errorf("applied = %s/%s/%q, want %s/%s/%q", typ, key, trace, e.Type, e.AggregateID, e.Traceparent)
		}
		var got structpb.Struct
		if err := got.UnmarshalJSON([]byte(value)); err != nil || got.Fields["orderId"].GetStringValue() != "o-1" {
			t.Errorf("value %q is not the payload JSON: %v", value, err)
		}
	}
	if n := stacktest.Count(t, dst.Pool, `SELECT count(*) FROM applied WHERE event_id = $1`, rolledBack.ID); n != 0 {
		t.Errorf("rolled-back event applied %d times", n)
	}
}

// TestBatchSavepoints applies a backlog in batches: an Undecodable message
// rolls back only its own writes and is dead-lettered, a duplicate id is
// skipped, transient failures are retried without skipping anything.
func TestBatchSavepoints(t *testing.T) {
	env := stacktest.Get(t)
	db := appliedDatabase(t, env, schema.Payments)
	topic := env.NewTopic(t, "events")
	p := producer(t, env)

	const n = 300
	dupID := uuid.NewString()
	var msgs []*sarama.ProducerMessage
	for i := range n {
		id := uuid.NewString()
		switch {
		case i == 10 || i == 11:
			id = dupID
		}
		value := "ok"
		if i%50 == 7 {
			value = "poison"
		}
		msgs = append(msgs, msg(topic, "k", value, "id", id, "eventType", "T"))
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
	var failures atomic.Int32
	apply := func(ctx context.Context, tx pgx.Tx, m inbox.Message) error {
		// Write first, so that a rollback to the savepoint is observable.
		if err := record(ctx, tx, m); err != nil {
			return err
		}
		if string(m.Value) == "poison" {
			return inbox.Undecodable(errors.New("poison"))
		}
		if m.Offset == 100 && failures.Add(1) <= 3 {
			return errors.New("transient: database hiccup")
		}
		return nil
	}
	run(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Topic: topic, Pool: db.Pool, Apply: apply, BatchSize: 64})

	poison := n / 50 // i%50 == 7 for i < 300
	waitCount(t, db.Pool, n-poison-1, `SELECT count(*) FROM applied`)
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM applied WHERE value = 'poison'`); got != 0 {
		t.Errorf("poison writes kept = %d, want 0", got)
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM dead_letters WHERE value = 'poison'::bytea`); got != poison {
		t.Errorf("dead letters = %d, want %d", got, poison)
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM applied WHERE event_id = $1`, dupID); got != 1 {
		t.Errorf("duplicate id applied %d times, want 1", got)
	}
	if got := failures.Load(); got < 4 {
		t.Errorf("transient failures seen = %d, want the 4th attempt to succeed", got)
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM inbox`); got != n-poison-1 {
		t.Errorf("inbox rows = %d, want %d", got, n-poison-1)
	}
}

// TestDuplicatesInOneInboxStatement sends batches without failures (so the
// whole batch's event ids go into the inbox in one statement) holding ids
// twice within the batch and ids applied in an earlier transaction: each
// event is applied once, and every other message is skipped. A slow first
// message holds the partition while the others arrive, so that they are
// applied in batches of 64.
func TestDuplicatesInOneInboxStatement(t *testing.T) {
	env := stacktest.Get(t)
	db := appliedDatabase(t, env, schema.Payments)
	topic := env.NewTopic(t, "events")
	p := producer(t, env)

	earlier := sendNew(t, p, topic, 40)
	var applies atomic.Int32
	apply := func(ctx context.Context, tx pgx.Tx, m inbox.Message) error {
		applies.Add(1)
		if string(m.Value) == "gate" {
			// Hold the partition while the messages after the gate
			// arrive, so that they form full batches.
			time.Sleep(time.Second)
		}
		return record(ctx, tx, m)
	}
	run(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Topic: topic, Pool: db.Pool, Apply: apply, BatchSize: 64})
	waitCount(t, db.Pool, len(earlier), `SELECT count(*) FROM applied`)

	// Then a gate and 120 more: every tenth repeats the id of the message
	// before it, every tenth (another) the id of an earlier message.
	var ids []string
	second := []*sarama.ProducerMessage{msg(topic, "k", "gate", "id", uuid.NewString(), "eventType", "T")}
	fresh := 1
	for i := range 120 {
		var id string
		switch i % 10 {
		case 3:
			id = ids[i-1]
		case 6:
			id = earlier[i/10]
		default:
			id = uuid.NewString()
			fresh++
		}
		ids = append(ids, id)
		second = append(second, msg(topic, "k", "v", "id", id, "eventType", "T"))
	}
	if err := p.SendMessages(second); err != nil {
		t.Fatal(err)
	}
	// One key, one partition. The last message has a new id: once it is
	// applied, every message before it has been handled.
	waitCount(t, db.Pool, 1, `SELECT count(*) FROM applied WHERE event_id = $1`, ids[len(ids)-1])
	want := len(earlier) + fresh
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM applied`); got != want {
		t.Errorf("applied rows = %d, want %d", got, want)
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM (SELECT event_id FROM applied GROUP BY event_id HAVING count(*) > 1) d`); got != 0 {
		t.Errorf("%d events applied more than once", got)
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM inbox`); got != want {
		t.Errorf("inbox rows = %d, want %d", got, want)
	}
	if got := int(applies.Load()); got != want {
		t.Errorf("Apply called %d times, want %d (no transaction rolled back, no duplicate applied)", got, want)
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM dead_letters`); got != 0 {
		t.Errorf("dead letters = %d, want 0", got)
	}
}

// TestCommittedOffsetsSurviveRestart stops a consumer and starts another in
// the same group: nothing is applied twice or skipped.
func TestCommittedOffsetsSurviveRestart(t *testing.T) {
	env := stacktest.Get(t)
	db := appliedDatabase(t, env, schema.Payments)
	topic := env.NewTopic(t, "events")
	p := producer(t, env)
	group := stacktest.Unique("g-")

	send := func(n int) {
		var ms []*sarama.ProducerMessage
		for range n {
			ms = append(ms, msg(topic, uuid.NewString(), "v", "id", uuid.NewString(), "eventType", "T"))
		}
		if err := p.SendMessages(ms); err != nil {
			t.Fatal(err)
		}
	}
	send(50)
	// A consumer that counts its own applications.
	var mu sync.Mutex
	seen := map[int64]int{}
	apply := func(ctx context.Context, tx pgx.Tx, m inbox.Message) error {
		mu.Lock()
		seen[int64(m.Partition)<<40|m.Offset]++
		mu.Unlock()
		return record(ctx, tx, m)
	}
	first, err := inbox.New(inbox.Config{Kafka: env.Kafka(stacktest.Tester), Group: group, Topic: topic, Pool: db.Pool, Apply: apply, Logger: stacktest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()
	waitCount(t, db.Pool, 50, `SELECT count(*) FROM applied`)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run() = %v", err)
	}

	send(50)
	run(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Group: group, Topic: topic, Pool: db.Pool, Apply: apply})
	waitCount(t, db.Pool, 100, `SELECT count(*) FROM applied`)
	mu.Lock()
	defer mu.Unlock()
	for k, v := range seen {
		if v != 1 {
			t.Errorf("message %x applied %d times by the consumers, want 1 (offsets not committed?)", k, v)
		}
	}
}

// sendTo produces msgs to partition 0 of their topic, in order, whatever
// their keys.
func sendTo(t *testing.T, env *stacktest.Env, msgs []*sarama.ProducerMessage) {
	t.Helper()
	sendToPartition(t, env, 0, msgs)
}

// sendToPartition produces msgs to partition p of their topic, in order,
// whatever their keys.
func sendToPartition(t *testing.T, env *stacktest.Env, p int32, msgs []*sarama.ProducerMessage) {
	t.Helper()
	cfg := env.ClientConfig(t)
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(env.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for _, m := range msgs {
		m.Partition = p
	}
	if err := prod.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
}

// TestBadHeaders puts messages with bad headers or keys on one partition,
// each followed by a good one. A bad traceparent (wrong format, NUL,
// invalid UTF-8) is dropped and the message applied; a message whose id,
// event type or key is unusable is dead-lettered with its raw bytes; no
// bytes of a header reach a text column, and the partition moves on.
func TestBadHeaders(t *testing.T) {
	env := stacktest.Get(t)
	db := appliedDatabase(t, env, schema.Payments)
	topic := env.NewTopic(t, "events")
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	type sent struct {
		name    string
		key     string
		headers []string
		wantTP  string // applied with this traceparent
		dead    bool   // dead-lettered instead
	}
	id := func() string { return uuid.NewString() }
	cases := []sent{
		{name: "GoodTraceparent", key: "k", headers: []string{"id", id(), "eventType", "T", "traceparent", tp}, wantTP: tp},
		{name: "TraceparentWrongFormat", key: "k", headers: []string{"id", id(), "eventType", "T", "traceparent", "00-abc-def-01"}},
		{name: "TraceparentNUL", key: "k", headers: []string{"id", id(), "eventType", "T", "traceparent", tp[:10] + "\x00" + tp[11:]}},
		{name: "TraceparentInvalidUTF8", key: "k", headers: []string{"id", id(), "eventType", "T", "traceparent", "\xff\xfe\x00"}},
		{name: "TraceparentUppercase", key: "k", headers: []string{"id", id(), "eventType", "T", "traceparent", "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01"}},
		{name: "IDNotUUID", key: "k", headers: []string{"id", "\x00\xff", "eventType", "T"}, dead: true},
		{name: "EventTypeNUL", key: "k", headers: []string{"id", id(), "eventType", "T\x00"}, dead: true},
		{name: "EventTypeInvalidUTF8", key: "k", headers: []string{"id", id(), "eventType", "T\xff"}, dead: true},
		{name: "KeyNUL", key: "k\x00", headers: []string{"id", id(), "eventType", "T"}, dead: true},
		{name: "KeyInvalidUTF8", key: "k\xff", headers: []string{"id", id(), "eventType", "T"}, dead: true},
	}
	var msgs []*sarama.ProducerMessage
	for _, c := range cases {
		msgs = append(msgs, msg(topic, c.key, c.name, c.headers...), msg(topic, "k", "good after "+c.name, "id", id(), "eventType", "T"))
	}
	sendTo(t, env, msgs)
	run(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Topic: topic, Pool: db.Pool, Apply: record})

	var dead int
	for _, c := range cases {
		if c.dead {
			dead++
		}
	}
	waitCount(t, db.Pool, len(msgs)-dead, `SELECT count(*) FROM applied`)
	waitCount(t, db.Pool, dead, `SELECT count(*) FROM dead_letters`)
	ctx := context.Background()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM applied WHERE value = $1`, "good after "+c.name); n != 1 {
				t.Errorf("the good message after it applied %d times, want 1", n)
			}
			if c.dead {
				var key, value []byte
				if err := db.Pool.QueryRow(ctx, `SELECT key, value FROM dead_letters WHERE topic = $1 AND partition = 0 AND "offset" = $2`,
					topic, int64(2*i)).Scan(&key, &value); err != nil {
					t.Fatalf("dead letter at offset %d: %v", 2*i, err)
				}
				if string(key) != c.key || string(value) != c.name {
					t.Errorf("dead letter = key %q value %q, want the raw %q, %q", key, value, c.key, c.name)
				}
				if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM applied WHERE value = $1`, c.name); n != 0 {
					t.Errorf("dead-lettered message applied %d times", n)
				}
				return
			}
			var trace string
			if err := db.Pool.QueryRow(ctx, `SELECT traceparent FROM applied WHERE value = $1`, c.name).Scan(&trace); err != nil {
				t.Fatalf("message not applied: %v", err)
			}
			if trace != c.wantTP {
				t.Errorf("traceparent = %q, want %q", trace, c.wantTP)
			}
		})
	}
}

// TestPermanentDatabaseErrors applies a backlog in which some messages make
// Postgres fail with a data exception or a check violation: each is
// dead-lettered with its writes undone, every other message is applied once,
// and the partition moves on.
func TestPermanentDatabaseErrors(t *testing.T) {
	env := stacktest.Get(t)
	db := appliedDatabase(t, env, schema.Payments)
	if _, err := db.Owner.Exec(context.Background(), `CREATE TABLE positive (n int CHECK (n > 0))`); err != nil {
		t.Fatal(err)
	}
	topic := env.NewTopic(t, "events")
	const n = 200
	bad := map[string]int{}
	var msgs []*sarama.ProducerMessage
	for i := range n {
		value := "ok"
		switch i % 40 {
		case 5:
			value = "not-a-number" // 22P02
		case 17:
			value = "-1" // 23514
		case 29:
			value = "99999999999" // 22003
		case 33:
			value = "text\x00nul" // 22021 from a text parameter
		}
		if value != "ok" {
			bad[value]++
		}
		msgs = append(msgs, msg(topic, "k", value, "id", uuid.NewString(), "eventType", "T"))
	}
	sendTo(t, env, msgs)
	apply := func(ctx context.Context, tx pgx.Tx, m inbox.Message) error {
		// Write first, so that a rollback to the savepoint is observable.
		if _, err := tx.Exec(ctx, `INSERT INTO applied (event_id, value) VALUES ($1, $2)`, m.EventID, sanitize(m.Value)); err != nil {
			return err
		}
		if string(m.Value) == "ok" {
			return nil
		}
		if bytes.ContainsRune(m.Value, 0) {
			_, err := tx.Exec(ctx, `INSERT INTO applied (event_id, value) VALUES ($1, $2)`, m.EventID, string(m.Value))
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO positive VALUES ($1::text::int)`, string(m.Value))
		return err
	}
	run(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Topic: topic, Pool: db.Pool, Apply: apply, BatchSize: 64})
	var nBad int
	for _, c := range bad {
		nBad += c
	}
	waitCount(t, db.Pool, n-nBad, `SELECT count(*) FROM applied`)
	waitCount(t, db.Pool, nBad, `SELECT count(*) FROM dead_letters`)
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM applied WHERE value <> 'ok'`); got != 0 {
		t.Errorf("writes of dead-lettered messages kept = %d, want 0", got)
	}
	for value, want := range bad {
		if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM dead_letters WHERE value = $1 AND error <> ''`, []byte(value)); got != want {
			t.Errorf("dead letters of %q = %d, want %d", value, got, want)
		}
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM inbox`); got != n-nBad {
		t.Errorf("inbox rows = %d, want %d (a dead letter's inbox row is undone)", got, n-nBad)
	}
}

// sanitize returns b as text Postgres accepts, so that the first write of
// every message succeeds.
func sanitize(b []byte) string {
	return strings.ToValidUTF8(strings.ReplaceAll(string(b), "\x00", "?"), "?")
}
