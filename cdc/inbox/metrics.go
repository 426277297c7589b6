package inbox

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"shop/service"
)

// The consumer's metrics. They are updated by every Consumer of the process
// whether or not they are registered; RegisterMetrics exposes them.
var (
	consumerLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shop_consumer_lag_messages",
		Help: "Messages of a claimed partition not yet applied: the partition's high-water mark minus the next offset the consumer will apply.",
	}, []string{"group", "topic", "partition"})

	eventDelivery = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "shop_event_delivery_seconds",
		Help: "Seconds from an outbox row's created_at (header createdAt) to the commit of its effect by the consumer, per event applied.",
		// 5 ms .. 60 s.
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"topic"})

	deadLettersWritten = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shop_dead_letters_total",
		Help: "Messages the consumer recorded in dead_letters, counted once their transaction committed.",
	}, []string{"topic"})
)

// lagInterval is how often a claimed partition's lag is refreshed between
// batches, so that a consumer stuck on a batch shows a growing lag.
const lagInterval = time.Second

// RegisterMetrics registers the consumer's metrics (shop_consumer_lag_messages,
// shop_event_delivery_seconds, shop_dead_letters_total) with reg. Registering
// them again with the same reg is not an error, so that several services
// running in one process may each call it.
func RegisterMetrics(reg prometheus.Registerer) error {
	return service.RegisterCollectors(reg, consumerLag, eventDelivery, deadLettersWritten)
}

// partitionLag keeps one claimed partition's lag gauge up to date.
type partitionLag struct {
	claim sarama.ConsumerGroupClaim
	gauge prometheus.Gauge
	// next is the next offset the consumer will apply; negative while
	// unknown (no committed offset and no message seen yet).
	next atomic.Int64
	stop chan struct{}
	done chan struct{}
}

// trackLag starts refreshing the lag of claim every lagInterval until
// the returned partitionLag's close, which also removes the series. With
// Config.NoMetrics it returns nil, whose methods do nothing.
func (c *Consumer) trackLag(claim sarama.ConsumerGroupClaim) *partitionLag {
	if c.cfg.NoMetrics {
		return nil
	}
	labels := []string{c.cfg.Group, claim.Topic(), strconv.Itoa(int(claim.Partition()))}
	l := &partitionLag{claim: claim, gauge: consumerLag.WithLabelValues(labels...), stop: make(chan struct{}), done: make(chan struct{})}
	l.next.Store(claim.InitialOffset()) // sarama.OffsetOldest/Newest (negative) when none was committed
	go func() {
		defer close(l.done)
		defer consumerLag.DeleteLabelValues(labels...)
		t := time.NewTicker(lagInterval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.update()
			}
		}
	}()
	return l
}

// seen records that the consumer received a message at offset: when the
// next offset was unknown, it is this one.
func (l *partitionLag) seen(offset int64) {
	if l == nil {
		return
	}
	if l.next.Load() < 0 {
		l.next.Store(offset)
	}
}

// applied records that every message before next has been applied.
func (l *partitionLag) applied(next int64) {
	if l == nil {
		return
	}
	l.next.Store(next)
	l.update()
}

func (l *partitionLag) update() {
	next := l.next.Load()
	hwm := l.claim.HighWaterMarkOffset()
	if next < 0 {
		return
	}
	l.gauge.Set(float64(max(hwm-next, 0)))
}

func (l *partitionLag) close() {
	if l == nil {
		return
	}
	close(l.stop)
	<-l.done
}

// observeCommitted records the metrics of a batch whose transaction
// committed: the delivery time of each event applied, and the dead letters
// written.
func (c *Consumer) observeCommitted(topic string, applied []time.Time, dead int) {
	if c.cfg.NoMetrics {
		return
	}
	now := time.Now()
	h := eventDelivery.WithLabelValues(topic)
	for _, created := range applied {
		if !created.IsZero() {
			h.Observe(max(now.Sub(created), 0).Seconds())
		}
	}
	if dead > 0 {
		deadLettersWritten.WithLabelValues(topic).Add(float64(dead))
	}
}
