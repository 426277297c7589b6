package inbox_test

import (
	"context"
	"errors"
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

var errFail = errors.New("the message says fail")

// TestPipelinedPath runs a consumer with a PipelineFunc. Batches of new ids
// whose statements apply them are committed from the pipeline, Apply never
// called. A batch with an id already applied, a message whose results call
// for Apply ("slow") or one whose statement fails ("fail", a data exception
// that Apply dead-letters) is rolled back, its pipelined writes with it,
// and applied message by message: every event is applied exactly once.
func TestPipelinedPath(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Payments)
	if _, err := db.Owner.Exec(context.Background(), `CREATE TABLE effects (event_id uuid, value text, via text)`); err != nil {
		t.Fatal(err)
	}
	topic := env.NewTopic(t, "events")
	p := producer(t, env.Brokers)

	var applies, pipelined atomic.Int32
	apply := func(ctx context.Context, tx pgx.Tx, m inbox.Message) error {
		applies.Add(1)
		if string(m.Value) == "fail" {
			return inbox.Undecodable(errFail)
		}
		_, err := tx.Exec(ctx, `INSERT INTO effects VALUES ($1, $2, 'apply')`, m.EventID, string(m.Value))
		return err
	}
	pipeline := func(ctx context.Context, m inbox.Message, b *pgx.Batch) (inbox.ReadFunc, error) {
		pipelined.Add(1)
		if string(m.Value) == "gate" {
			// Hold the partition while the messages after the gate
			// arrive, so that they form full batches.
			time.Sleep(time.Second)
		}
		b.Queue(`INSERT INTO effects VALUES ($1, $2, 'pipeline')`, m.EventID, string(m.Value))
		if string(m.Value) == "fail" {
			b.Queue(`SELECT 1 / 0`)
		}
		return func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return err
			}
			switch string(m.Value) {
			case "fail":
				_, err := br.Exec()
				return err
			case "slow":
				return inbox.ErrNotPipelined
			}
			return nil
		}, nil
	}
	run(t, inbox.Config{Brokers: env.Brokers, Topic: topic, Pool: db.Pool, Apply: apply, Pipeline: pipeline, BatchSize: 64})

	earlier := sendNew(t, p, topic, 40)
	waitCount(t, db.Pool, len(earlier), `SELECT count(*) FROM effects`)
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM effects WHERE via = 'pipeline'`); got != len(earlier) {
		t.Errorf("new events applied from the pipeline = %d, want %d", got, len(earlier))
	}
	if got := applies.Load(); got != 0 {
		t.Errorf("Apply called %d times for new events, want 0", got)
	}

	// Three rounds, each a gate and 30 more: in the first every tenth
	// repeats an earlier id, in the second one is slow, in the third one
	// fails.
	fresh := 0
	for round, odd := range []string{"dup", "slow", "fail"} {
		batch := []*sarama.ProducerMessage{msg(topic, "k", "gate", "id", uuid.NewString(), "eventType", "T")}
		fresh++
		var last string
		for i := range 30 {
			id, value := uuid.NewString(), "v"
			switch {
			case odd == "dup" && i%10 == 6:
				id = earlier[i/10]
			case odd != "dup" && i == 15:
				value = odd
			}
			if id != earlier[0] && id != earlier[1] && id != earlier[2] && value != "fail" {
				fresh++
			}
			last = id
			batch = append(batch, msg(topic, "k", value, "id", id, "eventType", "T"))
		}
		if err := p.SendMessages(batch); err != nil {
			t.Fatal(err)
		}
		waitCount(t, db.Pool, 1, `SELECT count(*) FROM effects WHERE event_id = $1`, last)
		t.Logf("round %d (%s): Apply called %d times so far", round, odd, applies.Load())
	}
	want := len(earlier) + fresh
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM effects`); got != want {
		t.Errorf("effects = %d, want %d", got, want)
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM (SELECT event_id FROM effects GROUP BY event_id HAVING count(*) > 1) d`); got != 0 {
		t.Errorf("%d events applied more than once", got)
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM effects WHERE value = 'slow' AND via = 'apply'`); got != 1 {
		t.Errorf("slow event applied through Apply %d times, want 1", got)
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM effects WHERE value = 'fail'`); got != 0 {
		t.Errorf("effects of the failing event kept = %d, want 0", got)
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM dead_letters WHERE value = 'fail'`); got != 1 {
		t.Errorf("dead letters of the failing event = %d, want 1", got)
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM inbox`); got != want {
		t.Errorf("inbox rows = %d, want %d", got, want)
	}
	if pipelined.Load() == 0 || applies.Load() == 0 {
		t.Errorf("pipeline called %d times, Apply %d times: want both used", pipelined.Load(), applies.Load())
	}
}
