package stacktest_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"

	schema "shop/sql"
	"shop/stack/stacktest"
)

// BenchmarkCommitToKafka measures the latency from the commit of an outbox
// row (when COMMIT returns to the writer) to the moment a consumer holds the
// record, through Debezium and the Outbox Event Router, at a steady 250
// rows/s over 1000 rows per iteration. Reported: p50_ms, p99_ms, max_ms.
//
//	go run ./stack/cmd/stack test-env -- go test -run '^$' -bench CommitToKafka -benchtime 1x -count 5 shop/stack/stacktest
func BenchmarkCommitToKafka(b *testing.B) {
	env := stacktest.Get(b)
	db := env.NewDatabase(b, schema.Orders)
	topic := env.NewTopic(b, "orders.events")
	env.StartConnector(b, db, topic)
	const rows, rate = 1000, 250

	cfg := env.ClientConfig(b)
	cfg.Consumer.MaxWaitTime = 10 * time.Millisecond
	consumer, err := sarama.NewConsumer(env.Brokers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer consumer.Close()
	parts, err := consumer.Partitions(topic)
	if err != nil {
		b.Fatal(err)
	}
	var (
		mu       sync.Mutex
		received = map[string]time.Time{}
	)
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetNewest)
		if err != nil {
			b.Fatal(err)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				now := time.Now()
				for _, h := range m.Headers {
					if string(h.Key) == "id" {
						mu.Lock()
						received[string(h.Value)] = now
						mu.Unlock()
					}
				}
			}
		}()
	}

	var all []time.Duration
	b.ResetTimer()
	for range b.N {
		committed := make(map[string]time.Time, rows)
		tick := time.NewTicker(time.Second / rate)
		for i := range rows {
			<-tick.C
			r := newRow(i)
			err := pgx.BeginFunc(context.Background(), db.Pool, func(tx pgx.Tx) error { return insert(context.Background(), tx, r) })
			if err != nil {
				b.Fatal(err)
			}
			committed[r.id.String()] = time.Now()
		}
		tick.Stop()
		stacktest.WaitForNil(b, time.Minute, "every row on the topic", func() error {
			mu.Lock()
			defer mu.Unlock()
			n := 0
			for id := range committed {
				if _, ok := received[id]; ok {
					n++
				}
			}
			if n < rows {
				return fmt.Errorf("only %d of %d rows arrived", n, rows)
			}
			return nil
		})
		mu.Lock()
		for id, c := range committed {
			all = append(all, received[id].Sub(c))
		}
		mu.Unlock()
	}
	b.StopTimer()
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(all[len(all)/2]), "p50_ms")
	b.ReportMetric(ms(all[len(all)*99/100]), "p99_ms")
	b.ReportMetric(ms(all[len(all)-1]), "max_ms")
}
