package stacktest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// Record is one Kafka message as a test sees it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	Value     []byte
	Headers   map[string]string
	Timestamp time.Time
}

// ReadTopic reads every partition of topic from the beginning and calls
// done with everything read so far (in per-partition order) whenever new
// records arrive, until done returns true. It fails the test after timeout.
func (e *Env) ReadTopic(t testing.TB, topic string, timeout time.Duration, done func([]Record) bool) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	recs, err := ReadTopic(ctx, e.Brokers, e.ClientConfig(t), topic, done)
	if err != nil {
		t.Fatalf("read topic %s: %v (read %d records)", topic, err, len(recs))
	}
	return recs
}

// ReadTopic is the function behind Env.ReadTopic, for code without a
// testing.TB: it reads with a copy of cfg (Env.ClientConfig).
func ReadTopic(ctx context.Context, brokers []string, base *sarama.Config, topic string, done func([]Record) bool) ([]Record, error) {
	cfg := *base
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 50 * time.Millisecond
	consumer, err := sarama.NewConsumer(brokers, &cfg)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	parts, err := consumer.Partitions(topic)
	if err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		recs []Record
		news = make(chan struct{}, 1)
	)
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				r := Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), Value: m.Value,
					Headers: map[string]string{}, Timestamp: m.Timestamp}
				for _, h := range m.Headers {
					r.Headers[string(h.Key)] = string(h.Value)
				}
				mu.Lock()
				recs = append(recs, r)
				mu.Unlock()
				select {
				case news <- struct{}{}:
				default:
				}
			}
		}()
	}
	snapshot := func() []Record {
		mu.Lock()
		defer mu.Unlock()
		return append([]Record(nil), recs...)
	}
	for {
		if s := snapshot(); done(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return snapshot(), fmt.Errorf("gave up: %w", ctx.Err())
		case <-news:
		case <-time.After(200 * time.Millisecond):
		}
	}
}
