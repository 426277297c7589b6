package grpcapi

import (
	"context"
	"errors"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"shop/orders"
	"shop/proto/limits"
	ordersv1 "shop/proto/orders/v1"
	"shop/service/fault"
)

// Watcher delivers the live changes of a user's orders
// (postgres.Watcher): every change committed after Subscribe returns
// arrives on the channel, in change order, until the channel is closed.
type Watcher interface {
	Subscribe(ctx context.Context, userID string) (<-chan *orders.Change, func(), error)
}

// ChangeLog reads the change log of a user's orders (postgres.Store).
type ChangeLog interface {
	LatestChange(ctx context.Context, userID string) (int64, error)
	// OldestChange is the number of the user's oldest change still in
	// the log (the log keeps them for a while), 0 when it holds none.
	OldestChange(ctx context.Context, userID string) (int64, error)
	ChangesAfter(ctx context.Context, userID string, after int64, limit int) ([]orders.Change, error)
}

// backlogPage is how many changes of the log one read returns.
const backlogPage = 500

// EnableWatch makes the server answer WatchOrders with the live changes of
// w and the change log log; without it WatchOrders is Unimplemented. It
// returns an error when either is nil. Call it before serving.
func (s *Server) EnableWatch(w Watcher, log ChangeLog) error {
	if w == nil || log == nil {
		return errors.New("grpcapi: missing watcher or change log")
	}
	s.watcher, s.changes = w, log
	return nil
}

// WatchOrders streams the changes of the user's orders (see the proto):
// first those of the log after req.After, if set, then the live ones.
//
// The subscription comes before the read of the log, so that a change
// committed in between is in both, and is sent once: a change whose number
// is not above the last one sent is skipped. A subscription that ends
// (the stream fell behind, the listen connection was lost) is taken again
// and the log read from the last number sent; so is one that skips a
// number. A req.After too far behind (0, or older than the oldest change
// the log keeps) is a reset: the stream starts after the latest change,
// and its header ordersv1.HeaderChangeReset says so. Errors:
// InvalidArgument (user id, a negative after),
// Unavailable (the database, the instance stopping), Unimplemented.
func (s *Server) WatchOrders(req *ordersv1.WatchOrdersRequest, stream ordersv1.OrderService_WatchOrdersServer) error {
	ctx := stream.Context()
	fail := func(err error) error { return fault.StatusError(ctx, s.logger, "WatchOrders", err) }
	if s.watcher == nil {
		return status.Error(codes.Unimplemented, "WatchOrders is not enabled")
	}
	user := req.GetUserId()
	if err := limits.UserID(user); err != nil {
		return fail(err)
	}
	if req.After != nil && req.GetAfter() < 0 {
		return fail(fault.Errorf(fault.Invalid, "after must not be negative"))
	}
	last := int64(-1) // the number of the last change sent; -1 before the first subscription
	for {
		changes, cancel, err := s.watcher.Subscribe(ctx, user)
		if err != nil {
			return fail(err)
		}
		err = s.watchOnce(ctx, req, stream, changes, &last)
		cancel()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// watchOnce serves one subscription: it reads the log after *last, then
// sends the live changes, until changes is closed (nil error: subscribe
// again) or the stream fails.
func (s *Server) watchOnce(ctx context.Context, req *ordersv1.WatchOrdersRequest, stream ordersv1.OrderService_WatchOrdersServer,
	changes <-chan *orders.Change, last *int64) error {
	fail := func(err error) error { return fault.StatusError(ctx, s.logger, "WatchOrders", err) }
	user := req.GetUserId()
	if *last < 0 {
		latest, err := s.changes.LatestChange(ctx, req.GetUserId())
		if err != nil {
			return fail(err)
		}
		*last = latest
		reset := false
		if req.After != nil && req.GetAfter() < latest {
			*last = req.GetAfter()
			if reset, err = s.tooFarBehind(ctx, user, req.GetAfter()); err != nil {
				return fail(err)
			}
			if reset {
				*last = latest
			}
		}
		// Listening: the client may count on every change after *last.
		md := metadata.Pairs(ordersv1.HeaderChangeSeq, strconv.FormatInt(*last, 10))
		if reset {
			md.Set(ordersv1.HeaderChangeReset, "true")
		}
		if err := stream.SendHeader(md); err != nil {
			return err
		}
	}
	send := func(c orders.Change) error {
		if err := stream.Send(&ordersv1.OrderChange{Seq: c.Seq, Order: orderToProto(c.Order)}); err != nil {
			return err
		}
		*last = c.Seq
		return nil
	}
	catchUp := func() error {
		for {
			list, err := s.changes.ChangesAfter(ctx, user, *last, backlogPage)
			if err != nil {
				return fail(err)
			}
			for _, c := range list {
				if err := send(c); err != nil {
					return err
				}
			}
			if len(list) < backlogPage {
				return nil
			}
		}
	}
	if err := catchUp(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case c, ok := <-changes:
			if !ok {
				return nil
			}
			switch {
			case c.Seq <= *last:
				continue
			case c.Seq > *last+1:
				// A number was skipped (the watcher fills gaps, but the
				// stream does not count on it): read the log first.
				if err := catchUp(); err != nil {
					return err
				}
				if c.Seq <= *last {
					continue
				}
				if c.Seq > *last+1 {
					// Committed yet not in the log: never expected;
					// subscribe again rather than send a hole.
					return nil
				}
			}
			if err := send(*c); err != nil {
				return err
			}
		}
	}
}

// tooFarBehind reports whether a resume after after (below the user's
// latest change) must be a reset: after is 0 (a client that asks for the
// whole history gets the current state instead), or the changes just
// after it are no longer in the log (older than its retention).
func (s *Server) tooFarBehind(ctx context.Context, user string, after int64) (bool, error) {
	if after == 0 {
		return true, nil
	}
	oldest, err := s.changes.OldestChange(ctx, user)
	if err != nil {
		return false, err
	}
	return oldest == 0 || oldest > after+1, nil
}
