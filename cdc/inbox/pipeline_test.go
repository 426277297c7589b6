package inbox_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"shop/cdc/inbox"
	schema "shop/sql"
	"shop/stack/stacktest"
)

// TestPipelinedPath runs a consumer with an EffectFunc. Batches of new ids
// whose first statements apply them are committed from the pipeline: each
// effect queued once. A batch with an id already applied, a message whose
// results call for a statement whose result must be read ("slow") or one
// whose statement fails ("fail", a data exception, dead-lettered) is rolled
// back, its pipelined writes with it, and applied message by message, each
// effect queued again: every event is applied exactly once.
func TestPipelinedPath(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Payments)
	if _, err := db.Owner.Exec(context.Background(), `CREATE TABLE effects (event_id uuid, value text, via text)`); err != nil {
		t.Fatal(err)
	}
	topic := env.NewTopic(t, "events")
	p := producer(t, env)

	var mu sync.Mutex
	queued := map[uuid.UUID]int{} // effects queued, per event
	effect := func(ctx context.Context, q *inbox.Queue, m inbox.Message) error {
		mu.Lock()
		queued[m.EventID]++
		mu.Unlock()
		if string(m.Value) == "gate" {
			// Hold the partition while the messages after the gate
			// arrive, so that they form full batches.
			time.Sleep(time.Second)
		}
		q.Queue(`INSERT INTO effects VALUES ($1, $2, 'effect')`, m.EventID, string(m.Value)).Exec(func(pgconn.CommandTag) error {
			switch string(m.Value) {
			case "fail":
				q.Queue(`SELECT 1 / 0`)
			case "slow":
				q.Queue(`SELECT 1`).Exec(func(pgconn.CommandTag) error { return nil })
			}
			return nil
		})
		return nil
	}
	// fellBack counts the events whose effect was queued more than once:
	// applied message by message after a pipelined attempt.
	fellBack := func(ids ...uuid.UUID) (n int) {
		mu.Lock()
		defer mu.Unlock()
		for id, calls := range queued {
			if calls > 1 && (len(ids) == 0 || slices.Contains(ids, id)) {
				n++
			}
		}
		return n
	}
	run(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Topic: topic, Pool: db.Pool, Effect: effect, BatchSize: 64})

	earlier := sendNew(t, p, topic, 40)
	waitCount(t, db.Pool, len(earlier), `SELECT count(*) FROM effects`)
	ids := make([]uuid.UUID, len(earlier))
	for i, id := range earlier {
		ids[i] = uuid.MustParse(id)
	}
	if got := fellBack(ids...); got != 0 {
		t.Errorf("new events applied message by message = %d, want 0 (all from the pipeline)", got)
	}

	// Three rounds, each a gate and 30 more: in the first every tenth
	// repeats an earlier id, in the second one is slow, in the third one
	// fails.
	fresh := 0
	for round, odd := range []string{"dup", "slow", "fail"} {
		batch := []*sarama.ProducerMessage{msg(topic, "k", "gate", "id", uuid.NewString(), "eventType", "T")}
		fresh++
		var last, odds string
		for i := range 30 {
			id, value := uuid.NewString(), "v"
			switch {
			case odd == "dup" && i%10 == 6:
				id = earlier[i/10]
			case odd != "dup" && i == 15:
				value, odds = odd, id
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
		t.Logf("round %d (%s): %d events applied message by message so far", round, odd, fellBack())
		if odd == "slow" && fellBack(uuid.MustParse(odds)) != 1 {
			t.Errorf("slow event applied message by message: got %t, want true", false)
		}
	}
	want := len(earlier) + fresh
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM effects`); got != want {
		t.Errorf("effects = %d, want %d", got, want)
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM (SELECT event_id FROM effects GROUP BY event_id HAVING count(*) > 1) d`); got != 0 {
		t.Errorf("%d events applied more than once", got)
	}
	if got := stacktest.Count(t, db.Pool, `SELECT count(*) FROM effects WHERE value = 'slow'`); got != 1 {
		t.Errorf("slow event applied %d times, want 1", got)
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
	mu.Lock()
	effects := len(queued)
	mu.Unlock()
	if n := fellBack(); n == 0 || n == effects {
		t.Errorf("%d of %d events applied message by message: want both paths used", n, effects)
	}
}
