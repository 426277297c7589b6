package inbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"shop/cdc/inbox"
	schema "shop/sql"
	"shop/stack/stacktest"
)

// Config.Committed is called after each transaction committed, with the
// keys of its messages: what it is told about is visible to others, and
// every key applied is told.
func TestCommittedHookFollowsTheCommit(t *testing.T) {
	env := stacktest.Get(t)
	db := appliedDatabase(t, env, schema.Payments)
	topic := env.NewTopic(t, "events")
	p := producer(t, env)
	const keys, perKey = 10, 3
	var msgs []*sarama.ProducerMessage
	for i := range keys * perKey {
		msgs = append(msgs, msg(topic, fmt.Sprintf("k%d", i%keys), "v", "id", uuid.NewString(), "eventType", "T"))
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		told    = map[string]bool{}
		invalid []string
	)
	committed := func(ks []string) {
		for _, k := range ks {
			var n int
			err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM applied WHERE key = $1`, k).Scan(&n)
			mu.Lock()
			if err != nil || n == 0 {
				invalid = append(invalid, k)
			}
			told[k] = true
			mu.Unlock()
		}
	}
	run(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Topic: topic, Pool: db.Pool, Apply: record, Committed: committed})
	waitCount(t, db.Pool, keys*perKey, `SELECT count(*) FROM applied`)
	stacktest.WaitForNil(t, 30*time.Second, "every key told", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(told) != keys {
			return fmt.Errorf("%d keys told, want %d", len(told), keys)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if len(invalid) > 0 {
		t.Errorf("told of keys %v before their messages were visible", invalid)
	}
}
