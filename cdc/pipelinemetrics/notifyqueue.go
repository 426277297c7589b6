package pipelinemetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"shop/service"
)

// notifyQueueUsage is the fill of Postgres' notification queue, which
// every LISTEN/NOTIFY of the cluster shares. A session that LISTENs and
// stops reading (an orders instance under SIGSTOP, a session left in a
// transaction) keeps every notification after its position in the queue;
// when the queue is full, each notifying commit fails. The orders service
// notifies only after its commits (sql/orders/0007), so a full queue stops
// the live order streams' announcements, not the money; the alert
// NotifyQueueFilling finds the stuck listener first.
var notifyQueueUsage = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "shop_postgres_notify_queue_usage_ratio",
	Help: "Fraction of the Postgres notification queue in use (pg_notification_queue_usage()), 0 to 1.",
})

// NotifyQueueJob registers shop_postgres_notify_queue_usage_ratio with
// reg (again with the same reg is not an error) and returns the orders
// service's job that refreshes it from pool every interval (0 means
// DefaultInterval). It returns an error when pool or logger is nil or the
// registration fails.
func NotifyQueueJob(reg prometheus.Registerer, pool *pgxpool.Pool, interval time.Duration, logger *slog.Logger) (service.Job, error) {
	if pool == nil || logger == nil {
		return service.Job{}, errors.New("notify queue gauge: nil pool or logger")
	}
	if err := reg.Register(notifyQueueUsage); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) || are.ExistingCollector != notifyQueueUsage {
			return service.Job{}, fmt.Errorf("register notify queue gauge: %w", err)
		}
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	return service.Every("notify queue gauge", interval, logger, bounded(interval, func(ctx context.Context) error {
		var usage float64
		if err := pool.QueryRow(ctx, `SELECT pg_notification_queue_usage()`).Scan(&usage); err != nil {
			return fmt.Errorf("notification queue usage: %w", err)
		}
		notifyQueueUsage.Set(usage)
		return nil
	})), nil
}
