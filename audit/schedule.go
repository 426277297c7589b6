package audit

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

// DefaultInterval is how often the scheduled audit runs when
// JobConfig.Interval is 0: a violation is seen within minutes, and a run,
// which reads every debit and every PAID order, costs little at that pace.
const DefaultInterval = 5 * time.Minute

// Checks are the violation kinds, each a value of the check label of
// shop_audit_violations.
var Checks = []string{BalanceMismatch, NegativeBalance, PaidWithoutDebit, DebitMismatch, DebitWithoutOrder}

var (
	violationsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shop_audit_violations",
		Help: "Violations of a money invariant the last successful audit found, by check (0 when none).",
	}, []string{"check"})

	lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "shop_audit_last_success_timestamp_seconds",
		Help: "Unix time at which the last audit that could run over both databases finished.",
	})
)

// RegisterMetrics registers the audit's gauges with reg. Registering them
// again with the same reg is not an error.
func RegisterMetrics(reg prometheus.Registerer) error {
	return service.RegisterCollectors(reg, violationsGauge, lastSuccess)
}

// record sets the gauges from r, the report of a run that finished at at:
// every check gets its count, 0 when it found nothing.
func record(r Report, at time.Time) {
	counts := make(map[string]int, len(Checks))
	for _, v := range r.Violations {
		counts[v.Kind]++
	}
	for _, c := range Checks {
		violationsGauge.WithLabelValues(c).Set(float64(counts[c]))
	}
	lastSuccess.Set(float64(at.UnixNano()) / 1e9)
}

// JobConfig says what the scheduled audit reads and how often.
type JobConfig struct {
	// Payments and Orders are the two databases, best as the audit role
	// (schema.AuditRole), which may read the audit's tables and nothing
	// else; both required.
	Payments, Orders *pgxpool.Pool
	// Interval is the time between runs; 0 means DefaultInterval. A run
	// gets at most one interval.
	Interval time.Duration
	Logger   *slog.Logger
}

// NewJob returns the job that runs Check over both databases at once and
// then every interval, and exports each completed run's result as
// shop_audit_violations{check} and
// shop_audit_last_success_timestamp_seconds (register them with
// RegisterMetrics). Each violation is logged as a warning; a run that
// cannot complete is logged and changes no gauge, so that the time of the
// last success grows old. It returns an error when a field of cfg is
// missing.
func NewJob(cfg JobConfig) (service.Job, error) {
	switch {
	case cfg.Payments == nil || cfg.Orders == nil:
		return service.Job{}, errors.New("audit job: a database pool is missing")
	case cfg.Logger == nil:
		return service.Job{}, errors.New("audit job: no logger")
	case cfg.Interval < 0:
		return service.Job{}, fmt.Errorf("audit job: negative interval %v", cfg.Interval)
	case cfg.Interval == 0:
		cfg.Interval = DefaultInterval
	}
	return service.Every("money audit", cfg.Interval, cfg.Logger, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, cfg.Interval)
		defer cancel()
		r, err := Check(ctx, cfg.Payments, cfg.Orders)
		if err != nil {
			return err
		}
		record(r, time.Now())
		for _, v := range r.Violations {
			cfg.Logger.WarnContext(ctx, "audit violation", slog.String("check", v.Kind), slog.String("user_id", v.UserID),
				slog.String("order_id", v.OrderID), slog.String("detail", v.Detail))
		}
		cfg.Logger.InfoContext(ctx, "audit done", slog.Int("accounts", r.Accounts), slog.Int("debits", r.Debits),
			slog.Int("paid_orders", r.PaidOrders), slog.Int("in_flight", r.InFlight), slog.Int("violations", len(r.Violations)))
		return nil
	}), nil
}
