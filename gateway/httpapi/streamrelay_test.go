package httpapi

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	ordersv1 "shop/proto/orders/v1"
)

// A relay pauses 0.25 s before it opens a watch again, doubling up to 5 s
// and never giving up; a change relayed starts again from 0.25 s.
func TestRelayPauses(t *testing.T) {
	ms := time.Millisecond
	p := relayPauses()
	var got []time.Duration
	for range 8 {
		got = append(got, p.NextBackOff())
	}
	p.Reset()
	got = append(got, p.NextBackOff(), p.NextBackOff())
	want := []time.Duration{250 * ms, 500 * ms, 1000 * ms, 2000 * ms, 4000 * ms, 5000 * ms, 5000 * ms, 5000 * ms, 250 * ms, 500 * ms}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pauses (-want +got):\n%s", diff)
	}
}

// watchStep is what one WatchOrders call of fakeWatch does: start after
// seq, send changes, then end with end (nil: wait for the client to
// leave).
type watchStep struct {
	seq     int64
	reset   bool // the header says the watch is a reset
	changes []int64
	end     error
}

// fakeWatch serves WatchOrders by its script, one step per call.
type fakeWatch struct {
	ordersv1.UnimplementedOrderServiceServer
	script []watchStep

	mu     sync.Mutex
	afters []int64 // the After of each call, -1 for none
}

func (f *fakeWatch) WatchOrders(req *ordersv1.WatchOrdersRequest, stream grpc.ServerStreamingServer[ordersv1.OrderChange]) error {
	f.mu.Lock()
	after := int64(-1)
	if req.After != nil {
		after = req.GetAfter()
	}
	f.afters = append(f.afters, after)
	step := f.script[len(f.afters)-1]
	f.mu.Unlock()
	md := metadata.Pairs(ordersv1.HeaderChangeSeq, strconv.FormatInt(step.seq, 10))
	if step.reset {
		md.Set(ordersv1.HeaderChangeReset, "true")
	}
	if err := stream.SendHeader(md); err != nil {
		return err
	}
	for _, seq := range step.changes {
		if err := stream.Send(&ordersv1.OrderChange{Seq: seq}); err != nil {
			return err
		}
	}
	if step.end == nil {
		<-stream.Context().Done()
	}
	return step.end
}

// A relay opens its watch again after the orders service ends it as
// unavailable, from the last change relayed, after a pause; it ends for
// good on any other code.
func TestRelayRun(t *testing.T) {
	tests := []struct {
		name       string
		script     []watchStep
		want       []int64 // the changes relayed, -1 for a reset
		wantAfters []int64 // the After of each watch
		wantCode   codes.Code
	}{
		{
			name: "ReopensAfterUnavailable",
			script: []watchStep{
				{seq: 0, changes: []int64{1, 2}, end: status.Error(codes.Unavailable, "instance stopping")},
				{seq: 2, changes: []int64{2, 3}},
			},
			want:       []int64{1, 2, 3},
			wantAfters: []int64{-1, 2},
			wantCode:   codes.OK,
		},
		{
			name: "ResetWhenReopenedTooFarBehind",
			script: []watchStep{
				{seq: 0, changes: []int64{1, 2}, end: status.Error(codes.Unavailable, "instance stopping")},
				{seq: 9, reset: true, changes: []int64{10}},
			},
			want:       []int64{1, 2, -1, 10},
			wantAfters: []int64{-1, 2},
			wantCode:   codes.OK,
		},
		{
			name: "EndsOnInternal",
			script: []watchStep{
				{seq: 4, changes: []int64{5}, end: status.Error(codes.Internal, "bug")},
			},
			want:       []int64{5},
			wantAfters: []int64{-1},
			wantCode:   codes.Internal,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeWatch{script: tt.script}
			srv := grpc.NewServer()
			ordersv1.RegisterOrderServiceServer(srv, f)
			r := &relay{orders: ordersv1.NewOrderServiceClient(serve(t, srv)), user: "alice"}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			first, err := r.open(ctx, nil, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			start := time.Now()
			err = r.run(ctx, first, func(ch *ordersv1.OrderChange) error {
				if got = append(got, ch.GetSeq()); len(got) == len(tt.want) && tt.wantCode == codes.OK {
					cancel() // all relayed: the client leaves
				}
				return nil
			}, func() error {
				got = append(got, -1)
				return nil
			})
			r.close()
			if c := status.Code(err); c != tt.wantCode {
				t.Errorf("run ended with %v, want code %v", err, tt.wantCode)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("changes relayed (-want +got):\n%s", diff)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if diff := cmp.Diff(tt.wantAfters, f.afters); diff != "" {
				t.Errorf("watches opened after (-want +got):\n%s", diff)
			}
			if len(f.afters) > 1 && time.Since(start) < relayFirstPause {
				t.Errorf("opened again within %v, want a pause of %v first", time.Since(start), relayFirstPause)
			}
		})
	}
}
