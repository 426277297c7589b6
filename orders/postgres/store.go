// Package postgres is the orders store: orders, their idempotency keys,
// their OrderCreated outbox rows and the payment results applied to them,
// in the orders database (schema.Orders). Errors are service/fault errors
// (through sql/pgfault); callers never see driver types.
//
// Every statement goes through pgx's statement cache (the default
// QueryExecModeCacheStatement): each SQL text is prepared once per
// connection and reused.
package postgres

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"shop/orders"
	"shop/sql/groupcommit"
	"shop/sql/idempotency"
)

// Store is the orders store. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
	wait time.Duration
	// logger reports what is not returned to a caller (a failed
	// announcement of a new order).
	logger *slog.Logger
	// tokens is the page token codec, read from the database on first
	// use (PageTokens).
	tokens atomic.Pointer[orders.PageTokens]
	// createPipelines and createLinger configure creates.
	createPipelines int
	createLinger    time.Duration
	// creates is the group commit of creations (create.go).
	creates *groupcommit.Committer[*creation]
	// announcer, when set, announces the status changes that the store
	// commits itself (ApplyParkedPayments).
	announcer *Announcer
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes the store read the time from now instead of time.Now; the
// times it stores are now().UTC() truncated to microseconds.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithLogger makes the store log to logger instead of slog.Default().
func WithLogger(logger *slog.Logger) Option { return func(s *Store) { s.logger = logger } }

// WithAnnouncer makes the store hand the users of the status changes it
// commits itself (ApplyParkedPayments) to a, once committed.
func WithAnnouncer(a *Announcer) Option { return func(s *Store) { s.announcer = a } }

// New returns a store over pool, whose database must be migrated with
// schema.Orders. It returns an error when pool is nil or an option is
// invalid.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("orders store: nil pool")
	}
	s := &Store{pool: pool, now: time.Now, wait: idempotency.DefaultWait, logger: slog.Default(), createPipelines: defaultCreatePipelines}
	for _, o := range opts {
		o(s)
	}
	creates, err := s.newCreates(s.createPipelines, s.createLinger)
	if s.now == nil || s.wait <= 0 || s.logger == nil || err != nil {
		return nil, errors.New("orders store: nil clock or logger, non-positive idempotency wait or creation pipelines, or negative creation linger")
	}
	s.creates = creates
	return s, nil
}

// clock is the store's time: UTC, truncated to the microseconds Postgres
// keeps.
func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }
