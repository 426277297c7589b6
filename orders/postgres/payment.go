package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"shop/orders"
	"shop/sql/pgfault"
)

// ApplyPayment moves the order of r from PENDING to PAID (r.Paid) or to
// CANCELLED with r.Reason, within tx (the consumer's inbox transaction). A
// terminal order never changes (orders.AlreadyTerminal); an order id that
// does not exist for r.UserID changes nothing (orders.UnknownOrder). Neither
// is an error: the caller decides. An invalid r is a fault.Invalid error;
// any other error is a database failure, and the caller rolls tx back.
func (s *Store) ApplyPayment(ctx context.Context, tx pgx.Tx, r orders.PaymentResult) (orders.ApplyOutcome, error) {
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
			return 0, pgfault.From(fmt.Sprintf("apply payment to order %s", r.OrderID), err)
		}
		if tag.RowsAffected() == 1 {
			return orders.Applied, nil
		}
		var status string
		err = tx.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1 AND user_id = $2`, r.OrderID, r.UserID).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return orders.UnknownOrder, nil
		}
		if err != nil {
			return 0, pgfault.From(fmt.Sprintf("look up order %s", r.OrderID), err)
		}
		if status != string(orders.StatusPending) {
			return orders.AlreadyTerminal, nil
		}
		if attempt == 3 {
			return 0, fmt.Errorf("apply payment to order %s: PENDING but not updatable", r.OrderID)
		}
	}
}
