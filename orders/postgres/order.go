package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"shop/cdc/outbox"
	"shop/orders"
	"shop/proto/limits"
	ordersv1 "shop/proto/orders/v1"
	"shop/service/fault"
	"shop/service/tracing"
	"shop/sql/pgfault"
)

// CreateOrder validates p and stores a PENDING order together with its
// OrderCreated outbox row and, when p has an idempotency key, the key with
// the serialized response, all in one transaction.
//
// With a key already recorded for the user: the same body (amount and
// description) returns the first response with Replayed set and writes
// nothing; another body is a fault.FailedPrecondition error with reason
// IDEMPOTENCY_KEY_REUSED. A concurrent request with the same key waits until
// the first one commits (then replays) or rolls back (then proceeds); a wait
// longer than the idempotency wait is a fault.Aborted error with reason
// IDEMPOTENCY_KEY_IN_USE. Invalid parameters are fault.Invalid errors.
//
// The order and its event go in one round trip: with a key inside the
// transaction that claims it (idempotency.go), without one as one implicit
// transaction, merged with other creations under load (create.go). The
// trigger leaves the announcement of a watched user's new order in that
// transaction: read in the same round trip, sent once committed
// (announce.go).
func (s *Store) CreateOrder(ctx context.Context, p orders.CreateOrderParams) (orders.CreateOrderResult, error) {
	if err := p.Validate(); err != nil {
		return orders.CreateOrderResult{}, err
	}
	c, err := s.newCreation(ctx, p)
	if err != nil {
		return orders.CreateOrderResult{}, fmt.Errorf("create order: %w", err)
	}
	res := orders.CreateOrderResult{Order: c.order}
	if p.IdempotencyKey != "" {
		res, err = s.createWithKey(ctx, p, c)
	} else {
		err = s.create(ctx, c)
	}
	if err != nil {
		return orders.CreateOrderResult{}, err
	}
	if !res.Replayed {
		s.announce(ctx, c.order, c.announce)
	}
	return res, nil
}

// newCreation returns the PENDING order of p, with the statements that
// insert it and its OrderCreated event.
func (s *Store) newCreation(ctx context.Context, p orders.CreateOrderParams) (*creation, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("new id: %w", err)
	}
	eventID, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("new event id: %w", err)
	}
	now := s.clock()
	o := orders.Order{
		ID:          id,
		UserID:      p.UserID,
		Amount:      p.Amount,
		Currency:    limits.Currency,
		Description: p.Description,
		Status:      orders.StatusPending,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	c := &creation{order: o, stmts: &pgx.Batch{}}
	queueOrder(c.stmts, o)
	err = outbox.Queue(c.stmts, outbox.Event{
		ID:            eventID,
		AggregateType: ordersv1.AggregateType,
		AggregateID:   o.UserID,
		Type:          ordersv1.EventOrderCreated,
		// The trace of the call (the gateway's request) goes on in the
		// consumers of the event.
		Traceparent: tracing.Traceparent(ctx),
		Payload: &ordersv1.OrderCreated{
			OrderId:   o.ID.String(),
			UserId:    o.UserID,
			Amount:    o.Amount,
			Currency:  o.Currency,
			CreatedAt: timestamppb.New(o.CreatedAt),
		},
	})
	if err != nil {
		return nil, err
	}
	return c, nil
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
// of another user are both a fault.NotFound error; an invalid user id is a
// fault.Invalid error.
func (s *Store) GetOrder(ctx context.Context, userID string, id uuid.UUID) (orders.Order, error) {
	if err := limits.UserID(userID); err != nil {
		return orders.Order{}, err
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1 AND user_id = $2`, id, userID)
	o, err := pgx.CollectExactlyOneRow(rows, scanOrder)
	if errors.Is(err, pgx.ErrNoRows) {
		return orders.Order{}, fault.Errorf(fault.NotFound, "order %s not found", id)
	}
	if err != nil {
		return orders.Order{}, pgfault.From(fmt.Sprintf("get order %s", id), err)
	}
	return o, nil
}

// ListOrders returns one page of the user's orders, newest first (by
// created_at, then id, both descending), starting after p.PageToken.
// NextPageToken is empty on the last page; a token is valid for the user
// it was issued to only (see PageTokens). A bad user id, limit or page
// token (malformed, forged, another user's) is a fault.Invalid error.
func (s *Store) ListOrders(ctx context.Context, p orders.ListOrdersParams) (orders.Page, error) {
	tokens, err := s.PageTokens(ctx)
	if err != nil {
		return orders.Page{}, err
	}
	q, err := p.Query(tokens)
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
		return orders.Page{}, pgfault.From("list orders", err)
	}
	page := orders.Page{Orders: list}
	if len(list) > q.Limit {
		page.Orders = list[:q.Limit]
		last := page.Orders[q.Limit-1]
		page.NextPageToken = tokens.Encode(q.UserID, orders.Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	return page, nil
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
