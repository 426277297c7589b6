package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"shop/cdc/inbox"
	schema "shop/sql"
	"shop/stack/stacktest"
)

// TestGroupCommitAcrossPartitions holds both committers of a consumer in
// open transactions (a message on partition 0, then one on partition 1)
// while messages arrive on partitions 2 and 3, then lets the first go: its
// next transaction takes the batches that waited meanwhile together, one
// transaction spanning partitions; each message is applied once and every
// partition in order.
func TestGroupCommitAcrossPartitions(t *testing.T) {
	env := stacktest.Get(t)
	db := appliedDatabase(t, env, schema.Payments)
	if _, err := db.Owner.Exec(context.Background(), `CREATE TABLE applied_tx (partition int, "offset" bigint, txid bigint)`); err != nil {
		t.Fatal(err)
	}
	topic := env.NewTopicWithPartitions(t, "events", 4)

	type hold struct{ held, release chan struct{} }
	holds := map[string]hold{}
	for _, v := range []string{"hold0", "hold1"} {
		holds[v] = hold{held: make(chan struct{}), release: make(chan struct{})}
	}
	var once sync.Map
	apply := func(ctx context.Context, tx pgx.Tx, m inbox.Message) error {
		if h, ok := holds[string(m.Value)]; ok {
			if _, again := once.LoadOrStore(string(m.Value), true); !again {
				close(h.held)
				<-h.release
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO applied_tx VALUES ($1, $2, txid_current())`, m.Partition, m.Offset); err != nil {
			return err
		}
		return record(ctx, tx, m)
	}
	run(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Topic: topic, Pool: db.Pool, Apply: apply})

	for p, v := range []string{"hold0", "hold1"} {
		sendToPartition(t, env, int32(p), []*sarama.ProducerMessage{msg(topic, "k", v, "id", uuid.NewString(), "eventType", "T")})
		select {
		case <-holds[v].held:
		case <-time.After(90 * time.Second):
			t.Fatalf("%s was not applied", v)
		}
	}
	const perPartition = 20
	for p := range int32(4) {
		var ms []*sarama.ProducerMessage
		for range perPartition {
			ms = append(ms, msg(topic, "k", "v", "id", uuid.NewString(), "eventType", "T"))
		}
		sendToPartition(t, env, p, ms)
	}
	// Let partitions 2 and 3 fetch their messages and wait for a committer.
	time.Sleep(3 * time.Second)
	close(holds["hold0"].release)
	waitCount(t, db.Pool, 1+3*perPartition, `SELECT count(*) FROM applied WHERE partition IN (0, 2, 3)`)
	close(holds["hold1"].release)

	want := 2 + 4*perPartition
	waitCount(t, db.Pool, want, `SELECT count(*) FROM applied`)
	if got := stacktest.Count(t, db.Pool, `SELECT count(DISTINCT event_id) FROM applied`); got != want {
		t.Errorf("distinct events applied = %d, want %d", got, want)
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM (SELECT txid FROM applied_tx
		GROUP BY txid HAVING count(DISTINCT partition) > 1) AS merged`); got == 0 {
		t.Error("no transaction applied messages of more than one partition, want the waiting batches merged")
	}
	// Within a partition, later offsets never commit in an earlier
	// transaction (txids of one database grow with their start; each
	// partition's next batch starts after its previous one committed).
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM applied_tx a JOIN applied_tx b
		ON a.partition = b.partition AND a."offset" < b."offset" AND a.txid > b.txid`); got != 0 {
		t.Errorf("%d pairs of messages applied out of order within a partition", got)
	}
}

// TestFailingPartitionDoesNotHoldOthers makes one message fail with a
// transient error until the test lets it pass: the other partitions' messages
// are applied meanwhile, though they would share transactions with it, and
// its own partition waits behind it, in order. The consumer lingers as the
// services' do (CONSUMER_LINGER): retries do not wait, the others' batches
// may.
func TestFailingPartitionDoesNotHoldOthers(t *testing.T) {
	env := stacktest.Get(t)
	db := appliedDatabase(t, env, schema.Payments)
	topic := env.NewTopic(t, "events")

	var failing atomic.Bool
	failing.Store(true)
	var failures atomic.Int32
	apply := func(ctx context.Context, tx pgx.Tx, m inbox.Message) error {
		if err := record(ctx, tx, m); err != nil {
			return err
		}
		if string(m.Value) == "stuck" && failing.Load() {
			failures.Add(1)
			return errors.New("transient: the stuck message")
		}
		return nil
	}
	run(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Topic: topic, Pool: db.Pool, Apply: apply, Linger: 3 * time.Millisecond})

	const perPartition = 30
	for round := range 3 {
		for p := range int32(3) {
			var ms []*sarama.ProducerMessage
			for i := range perPartition / 3 {
				value := "v"
				if p == 0 && round == 0 && i == 0 {
					value = "stuck"
				}
				ms = append(ms, msg(topic, "k", value, "id", uuid.NewString(), "eventType", fmt.Sprint("T", round)))
			}
			sendToPartition(t, env, p, ms)
		}
	}
	// Partitions 1 and 2 are applied in full; partition 0 holds at its
	// first message.
	waitCount(t, db.Pool, 2*perPartition, `SELECT count(*) FROM applied WHERE partition <> 0`)
	stacktest.WaitForNil(t, 30*time.Second, "the stuck message retried", func() error {
		if got := failures.Load(); got < 3 {
			return fmt.Errorf("%d failures so far", got)
		}
		return nil
	})
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM applied WHERE partition = 0`); got != 0 {
		t.Errorf("partition 0 applied %d messages past its failing first one, want 0", got)
	}
	failing.Store(false)
	waitCount(t, db.Pool, 3*perPartition, `SELECT count(*) FROM applied`)
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM inbox`); got != 3*perPartition {
		t.Errorf("inbox rows = %d, want %d", got, 3*perPartition)
	}
}
