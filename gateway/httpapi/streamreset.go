package httpapi

import (
	"context"

	ordersv1 "shop/proto/orders/v1"
)

// resetPage is how many orders a reset event carries: the largest page of
// GET /api/v1/orders.
const resetPage = 100

// sendReset sends the event reset: the orders service started the watch
// after the user's latest change without the changes before it (the
// client resumed after 0, or from a change older than the change log
// keeps: ordersv1.HeaderChangeReset). Its id is that latest change, its
// data the current state instead of the history: the first page of the
// caller's orders, newest first, as GET /api/v1/orders?limit=100 answers
// (an OrderList; next_page_token fetches the rest). The page is read after
// the watch started, so it is at least as new as the id; a change after
// the id follows as an order event, possibly one the page already shows.
func (st *orderStream) sendReset(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, st.h.timeout)
	defer cancel()
	resp, err := st.h.orders.ListOrders(lctx, &ordersv1.ListOrdersRequest{UserId: st.user, Limit: resetPage})
	if err != nil {
		if ctx.Err() == nil {
			st.h.errs.logger.WarnContext(ctx, "stream: read of the orders for a reset failed", "user", st.user, "error", err)
		}
		return errStreamEnded // the client reconnects and is reset again
	}
	list, err := ordersFromProto(resp.GetOrders())
	if err != nil {
		st.h.errs.logger.ErrorContext(ctx, "stream: bad orders from the orders service", "error", err)
		return errStreamEnded
	}
	return st.send(ctx, st.relay.last, "reset", OrderList{Orders: list, NextPageToken: resp.GetNextPageToken()})
}
