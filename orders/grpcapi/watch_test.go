package grpcapi

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"shop/orders"
	ordersv1 "shop/proto/orders/v1"
	"shop/service/fault"
)

// scriptWatcher announces the changes of script on the first subscription,
// one at a time, once the stream has sent its header, then ends it; a
// second subscription fails. Announcements are wake-ups: lost, late or
// repeated, as script says. The log (scriptLog) holds every change up to
// the highest number announced so far (a number commits after the ones
// below it, and is announced after its commit).
type scriptWatcher struct {
	script    []int64
	listening chan struct{}
	committed *atomic.Int64
	calls     int
}

func (w *scriptWatcher) Subscribe(ctx context.Context, _ string) (<-chan *orders.Change, func(), error) {
	w.calls++
	if w.calls > 1 {
		return nil, nil, fault.Errorf(fault.Unavailable, "script over")
	}
	ch := make(chan *orders.Change) // unbuffered: one announcement at a time
	go func() {
		defer close(ch)
		select {
		case <-w.listening:
		case <-ctx.Done():
			return
		}
		for _, seq := range w.script {
			if seq > w.committed.Load() {
				w.committed.Store(seq)
			}
			select {
			case ch <- new(change(seq)):
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, func() {}, nil
}

// scriptLog is the change log: every change up to committed, from oldest
// on (0: from the first).
type scriptLog struct {
	committed *atomic.Int64
	oldest    int64
}

func (l scriptLog) LatestChange(context.Context, string) (int64, error) {
	return l.committed.Load(), nil
}

func (l scriptLog) OldestChange(context.Context, string) (int64, error) {
	if l.committed.Load() == 0 {
		return 0, nil
	}
	return max(l.oldest, 1), nil
}

func (l scriptLog) ChangesAfter(_ context.Context, _ string, after int64, limit int) ([]orders.Change, error) {
	var list []orders.Change
	for seq := max(after+1, l.oldest); seq <= l.committed.Load() && len(list) < limit; seq++ {
		list = append(list, change(seq))
	}
	return list, nil
}

func change(seq int64) orders.Change {
	return orders.Change{Seq: seq, Order: orders.Order{UserID: "alice", Status: orders.StatusPending,
		Currency: "EUR", CreatedAt: time.Unix(seq, 0).UTC(), UpdatedAt: time.Unix(seq, 0).UTC()}}
}

// recordStream is the server side of one WatchOrders call.
type recordStream struct {
	grpc.ServerStream
	ctx       context.Context
	listening chan struct{}
	once      sync.Once
	header    metadata.MD
	sent      []int64
}

func (s *recordStream) Context() context.Context { return s.ctx }

func (s *recordStream) SendHeader(md metadata.MD) error {
	s.header = md
	s.once.Do(func() { close(s.listening) })
	return nil
}

func (s *recordStream) Send(c *ordersv1.OrderChange) error {
	s.sent = append(s.sent, c.GetSeq())
	return nil
}

// WatchOrders does not count on announcements: it sends every change
// once, in number order, whether its announcement is lost, late or
// repeated.
func TestWatchOrdersSendsEveryChangeOnceInOrder(t *testing.T) {
	tests := []struct {
		name   string
		script []int64 // the announcements, in the order they arrive
	}{
		{"InOrder", []int64{1, 2, 3}},
		{"Lost", []int64{1, 3, 4}},
		{"LostFirst", []int64{2, 3}},
		{"OutOfOrderPair", []int64{2, 1, 3}},
		{"Repeated", []int64{1, 1, 2, 2, 3}},
		{"LateAfterTwo", []int64{1, 3, 4, 2, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			committed := &atomic.Int64{}
			listening := make(chan struct{})
			s := newServer(t, &stubStore{})
			if err := s.EnableWatch(&scriptWatcher{script: tt.script, listening: listening, committed: committed},
				scriptLog{committed: committed}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			stream := &recordStream{ctx: ctx, listening: listening}
			err := s.WatchOrders(&ordersv1.WatchOrdersRequest{UserId: "alice"}, stream)
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("WatchOrders = %v, want Unavailable once the script is over", err)
			}
			var want []int64
			for seq := int64(1); seq <= committed.Load(); seq++ {
				want = append(want, seq)
			}
			if diff := cmp.Diff(want, stream.sent); diff != "" {
				t.Errorf("sent change numbers (-want +got):\n%s", diff)
			}
		})
	}
}

// A resume after 0, or from before the oldest change the log keeps, is a
// reset: the stream starts after the latest change, says so in its
// header, and sends none of the history. A resume the log can serve sends
// every change after it.
func TestWatchOrdersResetsAResumeTooFarBehind(t *testing.T) {
	const latest, oldest = 10, 5 // changes 5 to 10 are kept
	after := func(n int64) *int64 { return &n }
	tests := []struct {
		name      string
		after     *int64
		wantStart string
		wantReset bool
		wantSent  []int64
	}{
		{name: "FromNow", wantStart: "10"},
		{name: "Kept", after: after(7), wantStart: "7", wantSent: []int64{8, 9, 10}},
		{name: "JustBeforeTheOldest", after: after(4), wantStart: "4", wantSent: []int64{5, 6, 7, 8, 9, 10}},
		{name: "Purged", after: after(3), wantStart: "10", wantReset: true},
		{name: "Zero", after: after(0), wantStart: "10", wantReset: true},
		{name: "Latest", after: after(10), wantStart: "10"},
		{name: "BeyondTheLatest", after: after(12), wantStart: "10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			committed := &atomic.Int64{}
			committed.Store(latest)
			listening := make(chan struct{})
			s := newServer(t, &stubStore{})
			if err := s.EnableWatch(&scriptWatcher{listening: listening, committed: committed},
				scriptLog{committed: committed, oldest: oldest}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			stream := &recordStream{ctx: ctx, listening: listening}
			err := s.WatchOrders(&ordersv1.WatchOrdersRequest{UserId: "alice", After: tt.after}, stream)
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("WatchOrders = %v, want Unavailable once the script is over", err)
			}
			if got := stream.header.Get(ordersv1.HeaderChangeSeq); len(got) != 1 || got[0] != tt.wantStart {
				t.Errorf("header %s = %v, want %s", ordersv1.HeaderChangeSeq, got, tt.wantStart)
			}
			if got := len(stream.header.Get(ordersv1.HeaderChangeReset)) == 1; got != tt.wantReset {
				t.Errorf("reset %v, want %v (header %v)", got, tt.wantReset, stream.header)
			}
			if diff := cmp.Diff(tt.wantSent, stream.sent); diff != "" {
				t.Errorf("sent change numbers (-want +got):\n%s", diff)
			}
		})
	}
}
