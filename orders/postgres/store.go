// Package postgres is the orders store: orders, their idempotency keys and
// their OrderCreated outbox rows in the orders database.
//
// Every statement goes through pgx's statement cache (the default
// QueryExecModeCacheStatement): each SQL text is prepared once per
// connection and reused.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	"shop/cdc/outbox"
	"shop/orders"
	ordersv1 "shop/proto/orders/v1"
)

// Outbox row fields of the events this store writes (docs/CONTRACTS.md).
const (
	AggregateType     = "order"
	EventOrderCreated = "OrderCreated"
)

// DefaultIdempotencyWait bounds how long CreateOrder waits for a concurrent
// request with the same idempotency key before it gives up with
// IDEMPOTENCY_KEY_IN_USE.
const DefaultIdempotencyWait = 10 * time.Second

// Store is the orders store. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
	wait time.Duration
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes the store read the time from now instead of time.Now; the
// times it stores are now().UTC() truncated to microseconds.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithIdempotencyWait sets how long CreateOrder waits for a concurrent
// request with the same key (DefaultIdempotencyWait by default).
func WithIdempotencyWait(d time.Duration) Option { return func(s *Store) { s.wait = d } }

// New returns a store over pool, whose database must be migrated with
// schema.Orders. It returns an error when pool is nil.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("orders store: nil pool")
	}
	s := &Store{pool: pool, now: time.Now, wait: DefaultIdempotencyWait}
	for _, o := range opts {
		o(s)
	}
	if s.now == nil || s.wait <= 0 {
		return nil, errors.New("orders store: nil clock or non-positive idempotency wait")
	}
	return s, nil
}

func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// CreateOrder validates p and stores a PENDING order together with its
// OrderCreated outbox row and, when p has an idempotency key, the key with
// the serialized response, all in one transaction.
//
// With a key already recorded for the user: the same body (amount and
// description) returns the first response with Replayed set and writes
// nothing; another body is a KindFailedPrecondition error with reason
// IDEMPOTENCY_KEY_REUSED. A concurrent request with the same key waits until
// the first one commits (then replays) or rolls back (then proceeds); a wait
// longer than the idempotency wait is a KindConflict error with reason
// IDEMPOTENCY_KEY_IN_USE. Invalid parameters are KindInvalid errors.
func (s *Store) CreateOrder(ctx context.Context, p orders.CreateOrderParams) (orders.CreateOrderResult, error) {
	if err := p.Validate(); err != nil {
		return orders.CreateOrderResult{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return orders.CreateOrderResult{}, fmt.Errorf("create order: new id: %w", err)
	}
	eventID, err := uuid.NewV7()
	if err != nil {
		return orders.CreateOrderResult{}, fmt.Errorf("create order: new event id: %w", err)
	}
	now := s.clock()
	o := orders.Order{
		ID:          id,
		UserID:      p.UserID,
		Amount:      p.Amount,
		Currency:    orders.Currency,
		Description: p.Description,
		Status:      orders.StatusPending,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	// The order and its event go in one round trip: without an idempotency
	// key as one implicit transaction (a pipeline with one Sync), with a key
	// inside the transaction that claims it.
	batch := &pgx.Batch{}
	queueOrder(batch, o)
	err = outbox.Queue(batch, outbox.Event{
		ID:            eventID,
		AggregateType: AggregateType,
		AggregateID:   o.UserID,
		Type:          EventOrderCreated,
		Payload: &ordersv1.OrderCreated{
			OrderId:   o.ID.String(),
			UserId:    o.UserID,
			Amount:    o.Amount,
			Currency:  o.Currency,
			CreatedAt: timestamppb.New(o.CreatedAt),
		},
	})
	if err != nil {
		return orders.CreateOrderResult{}, fmt.Errorf("create order: %w", err)
	}
	res := orders.CreateOrderResult{Order: o}
	if p.IdempotencyKey == "" {
		if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
			return orders.CreateOrderResult{}, dbError("create order", fmt.Errorf("insert order %s and its event: %w", o.ID, err))
		}
		return res, nil
	}
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		replay, found, err := s.claimKey(ctx, tx, p, o)
		if err != nil || found {
			res = replay
			return err
		}
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("insert order %s and its event: %w", o.ID, err)
		}
		return nil
	})
	if err != nil {
		return orders.CreateOrderResult{}, dbError("create order", err)
	}
	return res, nil
}

// claimKey records p's idempotency key with o as the response. When the key
// is already recorded it returns the stored response (found is true) or the
// IDEMPOTENCY_KEY_REUSED error. The insert blocks on the primary key while a
// concurrent transaction holds the same key, for at most s.wait.
func (s *Store) claimKey(ctx context.Context, tx pgx.Tx, p orders.CreateOrderParams, o orders.Order) (res orders.CreateOrderResult, found bool, err error) {
	if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`,
		fmt.Sprintf("%dms", s.wait.Milliseconds())); err != nil {
		return res, false, fmt.Errorf("set lock timeout: %w", err)
	}
	response, err := encodeResponse(o)
	if err != nil {
		return res, false, err
	}
	hash := p.RequestHash()
	tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, response, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, key) DO NOTHING`,
		p.UserID, p.IdempotencyKey, hash, response, o.CreatedAt)
	if err != nil {
		return res, false, fmt.Errorf("insert idempotency key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return res, false, nil
	}
	// The key was committed by an earlier request. In READ COMMITTED this
	// statement sees it.
	var storedHash, stored []byte
	err = tx.QueryRow(ctx, `SELECT request_hash, response FROM idempotency_keys WHERE user_id = $1 AND key = $2`,
		p.UserID, p.IdempotencyKey).Scan(&storedHash, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		// Purged between the insert and the select: a retry starts afresh.
		return res, false, orders.Errorf(orders.KindConflict, "idempotency key is being replaced, retry").
			WithReason(orders.ReasonIdempotencyKeyInUse)
	}
	if err != nil {
		return res, false, fmt.Errorf("read idempotency key: %w", err)
	}
	if string(storedHash) != string(hash) {
		return res, false, orders.Errorf(orders.KindFailedPrecondition,
			"idempotency key was already used with a different request").WithReason(orders.ReasonIdempotencyKeyReused)
	}
	first, err := decodeResponse(stored)
	if err != nil {
		return res, false, err
	}
	return orders.CreateOrderResult{Order: first, Replayed: true}, true, nil
}

func queueOrder(batch *pgx.Batch, o orders.Order) {
	batch.Queue(`INSERT INTO orders
		(id, user_id, amount, currency, description, status, cancel_reason, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		o.ID, o.UserID, o.Amount, o.Currency, o.Description, string(o.Status), nullReason(o.CancelReason),
		o.CreatedAt, o.UpdatedAt)
}

const orderColumns = `id, user_id, amount, currency, description, status, cancel_reason, created_at, updated_at`

// GetOrder returns the order id of user userID. An unknown id and an order
// of another user are both a KindNotFound error; an invalid user id is a
// KindInvalid error.
func (s *Store) GetOrder(ctx context.Context, userID string, id uuid.UUID) (orders.Order, error) {
	if err := orders.ValidateUserID(userID); err != nil {
		return orders.Order{}, err
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1 AND user_id = $2`, id, userID)
	o, err := pgx.CollectExactlyOneRow(rows, scanOrder)
	if errors.Is(err, pgx.ErrNoRows) {
		return orders.Order{}, orders.Errorf(orders.KindNotFound, "order %s not found", id)
	}
	if err != nil {
		return orders.Order{}, dbError(fmt.Sprintf("get order %s", id), err)
	}
	return o, nil
}

// ListOrders returns one page of the user's orders, newest first (by
// created_at, then id, both descending), starting after p.PageToken.
// NextPageToken is empty on the last page. A bad user id, limit or page
// token is a KindInvalid error.
func (s *Store) ListOrders(ctx context.Context, p orders.ListOrdersParams) (orders.Page, error) {
	q, err := p.Query()
	if err != nil {
		return orders.Page{}, err
	}
	// One row more than the page tells whether another page follows.
	var rows pgx.Rows
	if q.After == nil {
		rows, _ = s.pool.Query(ctx, `SELECT `+orderColumns+` FROM orders
			WHERE user_id = $1
			ORDER BY created_at DESC, id DESC LIMIT $2`, q.UserID, q.Limit+1)
	} else {
		rows, _ = s.pool.Query(ctx, `SELECT `+orderColumns+` FROM orders
			WHERE user_id = $1 AND (created_at, id) < ($2, $3)
			ORDER BY created_at DESC, id DESC LIMIT $4`, q.UserID, q.After.CreatedAt, q.After.ID, q.Limit+1)
	}
	list, err := pgx.CollectRows(rows, scanOrder)
	if err != nil {
		return orders.Page{}, dbError("list orders", err)
	}
	page := orders.Page{Orders: list}
	if len(list) > q.Limit {
		page.Orders = list[:q.Limit]
		last := page.Orders[q.Limit-1]
		page.NextPageToken = orders.EncodePageToken(orders.Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	return page, nil
}

// ApplyOutcome says what ApplyPayment did.
type ApplyOutcome int

// The outcomes of ApplyPayment.
const (
	// Applied: the order moved from PENDING to PAID or CANCELLED.
	Applied ApplyOutcome = iota + 1
	// AlreadyTerminal: the order was PAID or CANCELLED already and is unchanged.
	AlreadyTerminal
	// UnknownOrder: no order has the id (or it belongs to another user).
	UnknownOrder
)

func (o ApplyOutcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case AlreadyTerminal:
		return "already terminal"
	case UnknownOrder:
		return "unknown order"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// ApplyPayment moves the order of r from PENDING to PAID (r.Paid) or to
// CANCELLED with r.Reason, within tx (the consumer's inbox transaction). A
// terminal order never changes (AlreadyTerminal); an order id that does not
// exist for r.UserID changes nothing (UnknownOrder). Neither is an error: the
// caller logs them. An invalid r is a KindInvalid error; any other error is
// a database failure, and the caller rolls tx back.
func (s *Store) ApplyPayment(ctx context.Context, tx pgx.Tx, r orders.PaymentResult) (ApplyOutcome, error) {
	if err := r.Validate(); err != nil {
		return 0, err
	}
	// An order whose commit is not yet visible to the UPDATE's snapshot may
	// be visible to the next statement's (logical decoding can deliver the
	// payment result that early): a PENDING order found after a miss is
	// updated again, never reported as terminal.
	for attempt := 0; ; attempt++ {
		tag, err := tx.Exec(ctx, `UPDATE orders SET status = $3, cancel_reason = $4, updated_at = $5
			WHERE id = $1 AND user_id = $2 AND status = 'PENDING'`,
			r.OrderID, r.UserID, string(r.Status()), nullReason(r.Reason), s.clock())
		if err != nil {
			return 0, dbError(fmt.Sprintf("apply payment to order %s", r.OrderID), err)
		}
		if tag.RowsAffected() == 1 {
			return Applied, nil
		}
		var status string
		err = tx.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1 AND user_id = $2`, r.OrderID, r.UserID).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return UnknownOrder, nil
		}
		if err != nil {
			return 0, dbError(fmt.Sprintf("look up order %s", r.OrderID), err)
		}
		if status != string(orders.StatusPending) {
			return AlreadyTerminal, nil
		}
		if attempt == 3 {
			return 0, fmt.Errorf("apply payment to order %s: PENDING but not updatable", r.OrderID)
		}
	}
}

// PurgeIdempotencyKeys deletes idempotency keys recorded more than olderThan
// ago (by the store's clock) and returns how many it deleted. A repeat of a
// purged key creates a new order.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("purge idempotency keys: retention must be positive, got %s", olderThan)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, s.clock().Add(-olderThan))
	if err != nil {
		return 0, dbError("purge idempotency keys", err)
	}
	return tag.RowsAffected(), nil
}

func scanOrder(row pgx.CollectableRow) (orders.Order, error) {
	var (
		o                orders.Order
		status           string
		reason           *string
		created, updated time.Time
	)
	err := row.Scan(&o.ID, &o.UserID, &o.Amount, &o.Currency, &o.Description, &status, &reason, &created, &updated)
	if err != nil {
		return orders.Order{}, err
	}
	o.Status = orders.Status(status)
	if reason != nil {
		o.CancelReason = orders.CancelReason(*reason)
	}
	o.CreatedAt, o.UpdatedAt = created.UTC(), updated.UTC()
	return o, nil
}

func nullReason(r orders.CancelReason) *string {
	if r == orders.CancelReasonNone {
		return nil
	}
	s := string(r)
	return &s
}

// storedResponse is the serialized first response of CreateOrder kept with
// an idempotency key. Its JSON shape is persistent: change it compatibly.
type storedResponse struct {
	Version int         `json:"v"`
	Order   storedOrder `json:"order"`
}

type storedOrder struct {
	ID           uuid.UUID `json:"id"`
	UserID       string    `json:"user_id"`
	Amount       int64     `json:"amount"`
	Currency     string    `json:"currency"`
	Description  string    `json:"description"`
	Status       string    `json:"status"`
	CancelReason string    `json:"cancel_reason,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func encodeResponse(o orders.Order) ([]byte, error) {
	b, err := json.Marshal(storedResponse{Version: 1, Order: storedOrder{
		ID: o.ID, UserID: o.UserID, Amount: o.Amount, Currency: o.Currency, Description: o.Description,
		Status: string(o.Status), CancelReason: string(o.CancelReason), CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}})
	if err != nil {
		return nil, fmt.Errorf("encode idempotent response: %w", err)
	}
	return b, nil
}

func decodeResponse(b []byte) (orders.Order, error) {
	var r storedResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return orders.Order{}, fmt.Errorf("decode idempotent response: %w", err)
	}
	if r.Version != 1 {
		return orders.Order{}, fmt.Errorf("decode idempotent response: unknown version %d", r.Version)
	}
	so := r.Order
	return orders.Order{
		ID: so.ID, UserID: so.UserID, Amount: so.Amount, Currency: so.Currency, Description: so.Description,
		Status: orders.Status(so.Status), CancelReason: orders.CancelReason(so.CancelReason),
		CreatedAt: so.CreatedAt.UTC(), UpdatedAt: so.UpdatedAt.UTC(),
	}, nil
}

// dbError turns a database error into an error kind: a domain *Error stays
// as it is, a lock timeout (a concurrent request holding the idempotency
// key) is KindConflict, an unreachable database is KindUnavailable, and
// anything else is internal. Context errors stay visible to errors.Is.
func dbError(op string, err error) error {
	if _, ok := errors.AsType[*orders.Error](err); ok {
		return err
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "55P03" { // lock_not_available
		return &orders.Error{
			Kind:    orders.KindConflict,
			Reason:  orders.ReasonIdempotencyKeyInUse,
			Message: "a request with this idempotency key is still in flight",
			Err:     fmt.Errorf("%s: %w", op, err),
		}
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return &orders.Error{Kind: orders.KindUnavailable, Message: "database unavailable", Err: fmt.Errorf("%s: %w", op, err)}
	}
	return fmt.Errorf("%s: %w", op, err)
}
