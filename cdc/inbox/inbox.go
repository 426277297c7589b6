// Package inbox consumes events from Kafka and applies each one exactly once.
//
// Delivery from Kafka is at least once. The consumer makes the effect exactly
// once by inserting the event id into the inbox table in the same database
// transaction as the effect: a redelivered event finds its id there and is
// skipped. The Kafka offset is marked only after that transaction commits.
//
// Messages are applied in batches: what is already buffered for a partition
// (up to Config.BatchSize) is one batch, and the batches that the consumer's
// partitions have waiting when one of its two transactions ends are applied
// together in the next one (group commit, through sql/groupcommit; with
// Config.Linger, a transaction that follows the one before closely waits a
// moment for more batches): first in two pipelines when the consumer has an
// EffectFunc (two round trips, pipeline.go), else, or when that does not fit
// the batch, message by message without savepoints (fewer round trips). Each
// event's effect is written once (effect.go) and runs the same either way. Errors
// are classified once (permanent, in classify.go): a message that can never be
// applied (an invalid "id" or "eventType" header or key, an Undecodable error
// from Apply, a Postgres data exception or check violation raised while
// applying it) sends the batch round again, this time with a savepoint per
// message, so that only that message's writes are undone and it is recorded in
// dead_letters in the same transaction; the partition moves on. Any other
// error is transient: it rolls the whole batch back, and the batch is retried
// with a capped backoff and its offsets are not marked.
//
// Headers and key are validated before they reach SQL: a traceparent that is
// not a W3C trace context is dropped, and Apply sees only valid UTF-8 text
// without NUL in Message's string fields.
//
// Effects dispatches on the event type and Unmarshal is the one decoding
// policy of every consumer: unknown JSON fields are ignored, so that a
// producer may add fields; the handler validates the required ones.
package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/cdc/kafkaclient"
	"shop/service"
)

// DefaultBatchSize is the batch size when Config.BatchSize is 0.
const DefaultBatchSize = 256

// Message is one Kafka message as Apply sees it.
type Message struct {
	// EventID is the header "id": the outbox row id of the producer.
	EventID uuid.UUID
	// Type is the header "eventType", e.g. "OrderCreated": printable
	// ASCII of at most MaxEventTypeLen bytes; may be empty.
	Type string
	// Key is the message key: the user id; UTF-8 without NUL.
	Key string
	// Value is the payload JSON, as written by the producer's outbox.
	Value     []byte
	Topic     string
	Partition int32
	Offset    int64
	// Traceparent is the header "traceparent" when it is a W3C trace
	// context, else empty.
	Traceparent string
	// CreatedAt is the header "createdAt": the producer's outbox row
	// created_at; zero when the header is absent or not an RFC 3339 time.
	CreatedAt time.Time
}

// ApplyFunc applies one event within tx. It must be deterministic in the
// message: it returns an error wrapped with Undecodable when the message can
// never be applied (bad JSON, unknown type, invalid fields); the message is
// then dead-lettered, as it is when a statement fails with a Postgres data
// exception (class 22) or check violation (23514). Any other error is
// treated as transient: the batch is rolled back and retried. Apply must not
// commit or roll back tx.
type ApplyFunc func(ctx context.Context, tx pgx.Tx, m Message) error

// Config configures a Consumer.
type Config struct {
	// Kafka is the brokers and the principal the consumer authenticates
	// as (package kafkaclient).
	Kafka service.Kafka
	// Group is the Kafka consumer group id, e.g. "payments".
	Group string
	// Topic is the topic consumed, e.g. "orders.events".
	Topic string
	// Pool is the service's database, holding the inbox and dead_letters tables.
	Pool *pgxpool.Pool
	// Effect applies a message (effect.go), on the pipelined path
	// (pipeline.go), where a batch usually costs two round trips to
	// Postgres instead of three plus one per message, and message by
	// message (Run). A consumer sets Effect or, to apply its messages
	// only message by message, Apply.
	Effect EffectFunc
	// Apply applies a message within the consumer's transaction, when
	// Effect is nil.
	Apply ApplyFunc
	// Logger receives structured logs; required.
	Logger *slog.Logger
	// BatchSize caps the messages of one partition's batch and of a
	// transaction that merges several partitions' batches (a single batch
	// may reach it alone); 0 means DefaultBatchSize.
	BatchSize int
	// Linger is how long a transaction that starts less than Linger after
	// the one before, while the other committer is idle, waits for more
	// batches to join it (group commit); 0 never waits.
	Linger time.Duration
	// NoMetrics leaves out the lag gauges, the delivery histogram and the
	// dead-letter counter (service.Process.Telemetry false).
	NoMetrics bool
	// Committed, when set, is called after each transaction of the
	// consumer committed, with the keys of its messages (each once, in no
	// particular order), before their offsets are marked: the hook of
	// what must follow a commit but not be part of it (orders announces
	// the status changes, sql/orders/0007). It must not block.
	Committed func(keys []string)
}

// Consumer is a Kafka consumer group member that applies events through the
// inbox. Create it with New and start it with Run.
type Consumer struct {
	cfg    Config
	sarama *sarama.Config
	log    *slog.Logger
}

// New validates cfg and returns a Consumer. It returns an error when a
// dependency is missing or a field is invalid. New does not contact Kafka.
func New(cfg Config) (*Consumer, error) {
	switch {
	case len(cfg.Kafka.Brokers) == 0:
		return nil, errors.New("inbox: no brokers")
	case cfg.Group == "":
		return nil, errors.New("inbox: no consumer group")
	case cfg.Topic == "":
		return nil, errors.New("inbox: no topic")
	case cfg.Pool == nil:
		return nil, errors.New("inbox: no database pool")
	case cfg.Apply == nil && cfg.Effect == nil:
		return nil, errors.New("inbox: no effect or apply func")
	case cfg.Apply != nil && cfg.Effect != nil:
		return nil, errors.New("inbox: both an effect and an apply func")
	case cfg.Logger == nil:
		return nil, errors.New("inbox: no logger")
	case cfg.BatchSize < 0:
		return nil, fmt.Errorf("inbox: negative batch size %d", cfg.BatchSize)
	case cfg.Linger < 0:
		return nil, fmt.Errorf("inbox: negative linger %v", cfg.Linger)
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Effect != nil {
		cfg.Apply = cfg.Effect.Apply
	}
	sc, err := saramaConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("inbox: kafka config: %w", err)
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("inbox: kafka config: %w", err)
	}
	return &Consumer{
		cfg:    cfg,
		sarama: sc,
		log:    cfg.Logger.With(slog.String("topic", cfg.Topic), slog.String("group", cfg.Group)),
	}, nil
}

func saramaConfig(cfg Config) (*sarama.Config, error) {
	sc, err := kafkaclient.Config(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	sc.ClientID = "shop-" + cfg.Group
	sc.Consumer.Return.Errors = true
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Enable = true
	sc.Consumer.Offsets.AutoCommit.Interval = time.Second
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
	// The broker answers a fetch as soon as one record is there (MinBytes
	// 1); the wait only bounds an empty fetch. 500 ms (sarama's default is
	// 250) adds no latency and keeps an idle consumer from sending the
	// broker ten empty fetches a second (docs/performance.md, "At rest").
	sc.Consumer.MaxWaitTime = 500 * time.Millisecond
	sc.Consumer.MaxProcessingTime = time.Second
	sc.ChannelBufferSize = max(cfg.BatchSize, 256)
	return sc, nil
}

// Run joins the consumer group and applies messages until ctx is cancelled,
// then returns nil. A batch in flight at cancellation is either committed or
// rolled back, never half applied; its offsets are marked only if it
// committed. Kafka or database outages are logged and retried, not returned.
// Run must be called at most once.
func (c *Consumer) Run(ctx context.Context) error {
	// The counter's series exists from the start, at 0, so that an
	// increase is seen from the first dead letter on.
	deadLettersWritten.WithLabelValues(c.cfg.Topic)
	group, err := c.connect(ctx)
	if err != nil || group == nil {
		return err
	}
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for err := range group.Errors() {
			c.log.Warn("kafka consumer error", slog.Any("error", err))
		}
	}()
	defer func() {
		// Close flushes the marked offsets and closes Errors, which ends the
		// logging goroutine.
		if err := group.Close(); err != nil {
			c.log.Error("close consumer group", slog.Any("error", err))
		}
		<-errsDone
	}()

	h := &handler{c: c}
	// The transactions run under ctx, not under the session of the
	// partition that submitted them: a rebalance lets a transaction in
	// flight finish.
	h.commits = newCommitter(func(_ context.Context, msgs []*sarama.ConsumerMessage) error {
		return h.apply(ctx, msgs)
	}, c.cfg.BatchSize, c.cfg.Linger)
	for {
		// Consume returns at every rebalance; loop to rejoin, with the
		// backoff restarted.
		_, err := backoff.Retry(ctx, func() (struct{}, error) {
			err := group.Consume(ctx, []string{c.cfg.Topic}, h)
			switch {
			case ctx.Err() != nil:
				return struct{}{}, backoff.Permanent(ctx.Err())
			case errors.Is(err, sarama.ErrClosedConsumerGroup):
				return struct{}{}, backoff.Permanent(fmt.Errorf("inbox: consumer group closed: %w", err))
			}
			return struct{}{}, err
		}, c.retrying("kafka consume failed, retrying")...)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// connect creates the consumer group, retrying while Kafka is unreachable.
// It returns nil, nil when ctx is cancelled first.
func (c *Consumer) connect(ctx context.Context) (sarama.ConsumerGroup, error) {
	group, err := backoff.Retry(ctx, func() (sarama.ConsumerGroup, error) {
		return sarama.NewConsumerGroup(c.cfg.Kafka.Brokers, c.cfg.Group, c.sarama)
	}, c.retrying("connect to kafka failed, retrying")...)
	if ctx.Err() != nil {
		return nil, nil
	}
	return group, err
}

// newBackOff returns the pauses between retries of the consumer: 100 ms
// doubling up to 5 s, without jitter.
func newBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Second}
}

// retrying returns the options of a backoff.Retry that retries with
// newBackOff for as long as its context lives, and logs each failure as msg
// with its attempt (from 0).
func (c *Consumer) retrying(msg string) []backoff.RetryOption {
	attempt := 0
	return []backoff.RetryOption{
		backoff.WithBackOff(newBackOff()),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, _ time.Duration) {
			c.log.Warn(msg, slog.Any("error", err), slog.Int("attempt", attempt))
			attempt++
		}),
	}
}
