package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	"shop/cdc/kafkaclient"
	"shop/cdc/outbox"
	"shop/connect"
	ordersv1 "shop/proto/orders/v1"
	"shop/service"
	"shop/stack/local"
)

// bench is one running system and the clients drain uses on it.
type bench struct {
	cfg       config
	sys       *local.System
	connect   *connect.Client
	connector string
	topic     string
	pool      *pgxpool.Pool
	kafka     sarama.Client
}

func newBench(ctx context.Context, sys *local.System, c config) (_ *bench, err error) {
	b := &bench{cfg: c, sys: sys, connector: "orders-outbox", topic: service.Defaults[service.Topics]().Orders}
	if b.connect, err = connect.NewClient(sys.ConnectURL(), sys.ConnectCredentials()); err != nil {
		return nil, err
	}
	if b.pool, err = pgxpool.New(ctx, sys.ServiceURL("orders")); err != nil {
		return nil, err
	}
	// As the operator's principal, which may describe the topics.
	kc, err := kafkaclient.Config(sys.Kafka(local.KafkaShopctl))
	if err != nil {
		b.pool.Close()
		return nil, err
	}
	if b.kafka, err = sarama.NewClient(sys.Brokers(), kc); err != nil {
		b.pool.Close()
		return nil, err
	}
	return b, nil
}

func (b *bench) close() {
	b.kafka.Close()
	b.pool.Close()
}

// published is the number of messages the topic holds: the sum of its
// partitions' end offsets.
func (b *bench) published() (int64, error) {
	parts, err := b.kafka.Partitions(b.topic)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range parts {
		off, err := b.kafka.GetOffset(b.topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, err
		}
		n += off
	}
	return n, nil
}

// write inserts rows [from, to) of the round's backlog, cfg.perTx to a
// transaction, as order creation writes them (cdc/outbox).
func (b *bench) write(ctx context.Context, round, from, to int) error {
	for i := from; i < to; i += b.cfg.perTx {
		events := make([]outbox.Event, 0, b.cfg.perTx)
		for j := i; j < min(i+b.cfg.perTx, to); j++ {
			user := "drain-" + strconv.Itoa(j%1000)
			id := uuid.New()
			events = append(events, outbox.Event{
				ID: uuid.New(), AggregateType: "order", AggregateID: user, Type: "OrderCreated",
				Payload: &ordersv1.OrderCreated{
					OrderId: id.String(), UserId: user, Amount: int64(100 + j%900), Currency: "RUB",
					CreatedAt: timestamppb.Now(),
				},
			})
		}
		if err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error { return outbox.Insert(ctx, tx, events...) }); err != nil {
			return fmt.Errorf("round %d: write backlog: %w", round, err)
		}
	}
	return nil
}

// report prints each round and the median.
func report(w io.Writer, c config, rs []result) {
	fmt.Fprintf(w, "backlog of %d outbox rows (%d per transaction), one connector task, %d partitions\n", c.rows, c.perTx, c.partitions)
	fmt.Fprintf(w, "%-6s %10s %10s %12s %16s\n", "round", "write s", "drain s", "rows/s", "connect CPU µs/row")
	var rates, cpus []float64
	for i, r := range rs {
		perRow := r.connectMS * 1000 / float64(r.rows)
		fmt.Fprintf(w, "%-6d %10.1f %10.1f %12.0f %16.1f\n", i+1, r.write.Seconds(), r.drain.Seconds(), r.rate(), perRow)
		rates = append(rates, r.rate())
		cpus = append(cpus, perRow)
	}
	fmt.Fprintf(w, "median %10s %10s %12.0f %16.1f\n", "", "", median(rates), median(cpus))
}

// median is the middle value of xs (the mean of the two middle ones for an
// even count).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
