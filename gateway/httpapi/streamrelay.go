package httpapi

import (
	"context"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ordersv1 "shop/proto/orders/v1"
)

// The pauses of a relay between two watches: 0.25 s, doubling up to 5 s,
// back to 0.25 s once a change is relayed.
const (
	relayFirstPause = 250 * time.Millisecond
	relayMaxPause   = 5 * time.Second
	// relayOpenTimeout bounds the wait for a watch opened again.
	relayOpenTimeout = 5 * time.Second
)

// relayPauses returns the pauses of a relay between its watches; they
// never run out.
func relayPauses() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     relayFirstPause,
		RandomizationFactor: 0,
		Multiplier:          2,
		MaxInterval:         relayMaxPause,
	}
}

// relay holds one client's watch of the orders service, opened again after
// the orders service ends it (an instance stopping), from the last change
// relayed: the client sees one stream.
type relay struct {
	orders ordersv1.OrderServiceClient
	user   string
	// last is the number of the last change relayed, or the one the
	// current watch started after.
	last int64
	// reset is set when the current watch started with a reset: the
	// changes between the number asked for and last are not relayed (too
	// far behind: ordersv1.HeaderChangeReset).
	reset bool
	// stop ends the current watch.
	stop context.CancelFunc
}

type watchStream = grpc.ServerStreamingClient[ordersv1.OrderChange]

// open starts a watch after after (nil: from now on) and waits, at most
// timeout, for the orders service to listen; it sets r.last to the number
// the watch starts after, and r.reset.
func (r *relay) open(ctx context.Context, after *int64, timeout time.Duration) (watchStream, error) {
	wctx, cancel := context.WithCancel(ctx)
	stream, err := r.orders.WatchOrders(wctx, &ordersv1.WatchOrdersRequest{UserId: r.user, After: after})
	if err != nil {
		cancel()
		return nil, err
	}
	timer := time.AfterFunc(timeout, cancel)
	md, err := stream.Header()
	if !timer.Stop() || err != nil {
		cancel()
		if err == nil {
			err = status.Error(codes.DeadlineExceeded, "orders service did not start the watch in time")
		}
		return nil, err
	}
	seq := md.Get(ordersv1.HeaderChangeSeq)
	if len(seq) != 1 {
		cancel()
		return nil, status.Error(codes.Internal, "orders service sent no change-seq header")
	}
	n, err := strconv.ParseInt(seq[0], 10, 64)
	if err != nil || n < 0 {
		cancel()
		return nil, status.Errorf(codes.Internal, "orders service sent change-seq %q", seq[0])
	}
	r.last = n
	r.reset = len(md.Get(ordersv1.HeaderChangeReset)) > 0
	if r.stop != nil {
		r.stop()
	}
	r.stop = cancel
	return stream, nil
}

// close ends the current watch, if any.
func (r *relay) close() {
	if r.stop != nil {
		r.stop()
	}
}

// run relays the changes of stream to deliver until ctx is done (nil),
// deliver or reset fails (its error) or the watch fails for good. A watch
// that ends while the orders service is unavailable (an instance
// stopping, its database lost) is opened again after r.last, after a
// pause of relayPauses; when the orders service answers that with a
// reset, reset is called before the next change. A watch that cannot be
// opened again for another reason than Unavailable or DeadlineExceeded
// fails for good.
func (r *relay) run(ctx context.Context, stream watchStream, deliver func(*ordersv1.OrderChange) error, reset func() error) error {
	pauses := relayPauses()
	for {
		err := r.forward(stream, deliver, pauses)
		if ctx.Err() != nil {
			return nil
		}
		switch status.Code(err) {
		case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.DeadlineExceeded, codes.OK:
		default:
			return err
		}
		if stream, err = r.reopen(ctx, pauses); stream == nil {
			return err
		}
		if r.reset {
			if err := reset(); err != nil {
				return err
			}
		}
	}
}

// reopen opens the watch again after r.last, each attempt after the next
// of pauses, until one opens (the stream), ctx is done (nil, nil) or an
// attempt fails for good (its error).
func (r *relay) reopen(ctx context.Context, pauses backoff.BackOff) (watchStream, error) {
	for {
		t := time.NewTimer(pauses.NextBackOff())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		case <-t.C:
		}
		after := r.last
		stream, err := r.open(ctx, &after, relayOpenTimeout)
		if err == nil {
			return stream, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
			return nil, err
		}
	}
}

// forward relays one watch until it ends or deliver fails; each change
// relayed resets pauses.
func (r *relay) forward(stream watchStream, deliver func(*ordersv1.OrderChange) error, pauses backoff.BackOff) error {
	for {
		ch, err := stream.Recv()
		if err != nil {
			return err
		}
		if ch.GetSeq() <= r.last {
			continue // never expected: the orders service sends each change once
		}
		if err := deliver(ch); err != nil {
			return err
		}
		r.last = ch.GetSeq()
		pauses.Reset()
	}
}
