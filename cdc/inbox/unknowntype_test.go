package inbox_test

import (
	"context"
	"testing"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"shop/cdc/inbox"
	schema "shop/sql"
	"shop/stack/stacktest"
)

// recordEffect queues the insert of m into applied (appliedDatabase).
func recordEffect(_ context.Context, q *inbox.Queue, m inbox.Message) error {
	q.Queue(`INSERT INTO applied VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		m.EventID, m.Type, m.Key, string(m.Value), m.Traceparent, m.Partition, m.Offset)
	return nil
}

// TestUnknownEventTypeReplayedAfterUpgrade is a rolling upgrade seen by one
// consumer: a newer producer emits a type this release does not know. It is
// dead-lettered with a reason that names the type, and the next message of
// its partition is applied. A replay by the same release leaves it dead;
// once the consumer knows the type, a replay applies it once.
func TestUnknownEventTypeReplayedAfterUpgrade(t *testing.T) {
	t.Parallel()
	env := stacktest.Get(t)
	db := appliedDatabase(t, env, schema.Orders)
	topic := env.NewTopic(t, "events")
	old := inbox.Effects{"Known": recordEffect}
	upgraded := inbox.Effects{"Known": recordEffect, "AddedLater": recordEffect}

	sendTo(t, env, []*sarama.ProducerMessage{
		msg(topic, "k", "from a newer producer", "id", uuid.NewString(), "eventType", "AddedLater"),
		msg(topic, "k", "after it", "id", uuid.NewString(), "eventType", "Known"),
	})
	run(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Topic: topic, Pool: db.Pool, Effect: old.Effect})
	waitCount(t, db.Pool, 1, `SELECT count(*) FROM applied WHERE value = 'after it'`)
	waitCount(t, db.Pool, 1, `SELECT count(*) FROM dead_letters WHERE "offset" = 0 AND error LIKE '%unknown event type "AddedLater"%'`)

	ctx := context.Background()
	id := deadLetterID(t, db.Pool, "k")
	res, err := inbox.Replay(ctx, db.Operator, id, old.Apply, "operator")
	if err != nil || res.Outcome != inbox.StillDead {
		t.Fatalf("Replay() by the old release = %+v, %v; want still dead", res, err)
	}
	res, err = inbox.Replay(ctx, db.Operator, id, upgraded.Apply, "operator")
	if err != nil || res.Outcome != inbox.Replayed {
		t.Fatalf("Replay() once upgraded = %+v, %v; want replayed", res, err)
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM applied WHERE value = 'from a newer producer' AND type = 'AddedLater'`); n != 1 {
		t.Errorf("the newer event applied %d times, want 1", n)
	}
	if s := deadLetterOf(t, db.Pool, id); !s.Handled || s.Resolution == nil || *s.Resolution != "replayed" {
		t.Errorf("dead letter after the replay = %+v, want handled, replayed", s)
	}
}
