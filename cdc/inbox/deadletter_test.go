package inbox_test

import (
	"context"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"shop/cdc/inbox"
	schema "shop/sql"
	"shop/stack/stacktest"
)

// A topic deleted and created again starts its offsets over: its poison
// message at an offset that an old dead letter of the same topic name
// holds is recorded too, not taken for a redelivery; a real redelivery
// (another group reading the same record) is kept once. A message with a
// repeated id header is dead-lettered with every value kept, and a replay
// of it fails again rather than apply one of them.
func TestDeadLettersOfARecreatedTopic(t *testing.T) {
	t.Parallel()
	env := stacktest.Get(t)
	db := appliedDatabase(t, env, schema.Payments)
	ctx := context.Background()
	topic := env.NewTopicWithPartitions(t, "recreated", 1)
	// The old topic's dead letter at partition 0, offset 0.
	if _, err := db.Pool.Exec(ctx, `INSERT INTO dead_letters (topic, partition, "offset", key, value, error, fingerprint)
		VALUES ($1, 0, 0, 'old', 'old poison', 'old', '\x01')`, topic); err != nil {
		t.Fatal(err)
	}
	first, second := uuid.NewString(), uuid.NewString()
	sendTo(t, env, []*sarama.ProducerMessage{
		msg(topic, "new", "new poison", "eventType", "T"),                     // offset 0: no id
		msg(topic, "twice", "v", "id", first, "id", second, "eventType", "T"), // offset 1: two ids
		msg(topic, "good", "v", "id", uuid.NewString(), "eventType", "T"),
	})
	stop := startConsumer(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Topic: topic, Pool: db.Pool, Apply: record, Group: stacktest.Unique("g-")})
	waitCount(t, db.Pool, 1, `SELECT count(*) FROM applied`)
	waitCount(t, db.Pool, 3, `SELECT count(*) FROM dead_letters WHERE topic = $1`, topic)
	stop()
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM dead_letters WHERE topic = $1 AND "offset" = 0`, topic); n != 2 {
		t.Errorf("dead letters at offset 0: %d, want the old and the new", n)
	}

	// Another group reads the same records again, then a new one: nothing
	// is recorded twice.
	sendTo(t, env, []*sarama.ProducerMessage{msg(topic, "marker", "v", "id", uuid.NewString(), "eventType", "T")})
	run(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Topic: topic, Pool: db.Pool, Apply: record})
	waitCount(t, db.Pool, 2, `SELECT count(*) FROM applied`)
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM dead_letters WHERE topic = $1`, topic); n != 3 {
		t.Errorf("dead letters after a redelivery: %d, want 3", n)
	}

	var id int64
	var errText string
	var headers map[string]string
	if err := db.Pool.QueryRow(ctx, `SELECT id, error, headers FROM dead_letters WHERE key = 'twice'`).Scan(&id, &errText, &headers); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errText, `repeated "id" header`) {
		t.Errorf("error %q, want it to name the repeated header", errText)
	}
	if headers["id"] != first || headers["id#2"] != second {
		t.Errorf("headers %v, want both ids kept (id, id#2)", headers)
	}
	res, err := inbox.Replay(ctx, db.Operator, id, record, "op")
	if err != nil || res.Outcome != inbox.StillDead || !strings.Contains(res.Err, "repeated") {
		t.Errorf("Replay() of the repeated id = %+v, %v; want still dead", res, err)
	}
}
