package inbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"
)

// batchOf returns one partition's batch: partition p, offsets 0 to n-1.
func batchOf(p int32, n int) []*sarama.ConsumerMessage {
	var b []*sarama.ConsumerMessage
	for i := range n {
		b = append(b, &sarama.ConsumerMessage{Topic: "t", Partition: p, Offset: int64(i)})
	}
	return b
}

// describe names msgs as "p0:0,p0:1,p1:0".
func describe(msgs []*sarama.ConsumerMessage) string {
	var parts []string
	for _, m := range msgs {
		parts = append(parts, fmt.Sprintf("p%d:%d", m.Partition, m.Offset))
	}
	return strings.Join(parts, ",")
}

// TestCommitter queues requests before the committer starts, so that it
// finds them all waiting, and checks which transactions it runs and what
// each request is told.
func TestCommitter(t *testing.T) {
	type req struct {
		partition int32
		n         int
		alone     bool
	}
	tests := []struct {
		name string
		max  int
		reqs []req
		// failing partitions fail every transaction that holds one of
		// their messages.
		failing   []int32
		cancelled bool
		wantTxs   []string
		wantErr   []bool
	}{
		{
			name:    "waiting batches share one transaction",
			max:     256,
			reqs:    []req{{partition: 0, n: 2}, {partition: 1, n: 1}, {partition: 2, n: 1}},
			wantTxs: []string{"p0:0,p0:1,p1:0,p2:0"},
			wantErr: []bool{false, false, false},
		},
		{
			name:    "a lone batch goes alone",
			max:     256,
			reqs:    []req{{partition: 3, n: 2}},
			wantTxs: []string{"p3:0,p3:1"},
			wantErr: []bool{false},
		},
		{
			name:    "max caps a merged transaction",
			max:     3,
			reqs:    []req{{partition: 0, n: 2}, {partition: 1, n: 2}, {partition: 2, n: 1}},
			wantTxs: []string{"p0:0,p0:1,p1:0,p1:1", "p2:0"},
			wantErr: []bool{false, false, false},
		},
		{
			name:    "a retry gets a transaction of its own",
			max:     256,
			reqs:    []req{{partition: 0, n: 1, alone: true}, {partition: 1, n: 1}, {partition: 2, n: 1}},
			wantTxs: []string{"p1:0,p2:0", "p0:0"},
			wantErr: []bool{false, false, false},
		},
		{
			name:    "a failed merge is tried again batch by batch",
			max:     256,
			reqs:    []req{{partition: 0, n: 1}, {partition: 1, n: 2}, {partition: 2, n: 1}},
			failing: []int32{1},
			wantTxs: []string{"p0:0,p1:0,p1:1,p2:0", "p0:0", "p1:0,p1:1", "p2:0"},
			wantErr: []bool{false, true, false},
		},
		{
			name:      "at shutdown a failed merge is not tried again",
			max:       256,
			reqs:      []req{{partition: 0, n: 1}, {partition: 1, n: 1}},
			failing:   []int32{1},
			cancelled: true,
			wantTxs:   []string{"p0:0,p1:0"},
			wantErr:   []bool{true, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var txs []string
			apply := func(_ context.Context, msgs []*sarama.ConsumerMessage) error {
				mu.Lock()
				txs = append(txs, describe(msgs))
				mu.Unlock()
				for _, m := range msgs {
					if slices.Contains(tt.failing, m.Partition) {
						return errors.New("transient")
					}
				}
				return nil
			}
			c := newCommitter(apply, tt.max, 0)
			c.reqs = make(chan *commitRequest, len(tt.reqs)) // all waiting at the start
			var rs []*commitRequest
			for _, r := range tt.reqs {
				cr := &commitRequest{msgs: batchOf(r.partition, r.n), alone: r.alone, done: make(chan error, 1)}
				rs = append(rs, cr)
				c.reqs <- cr
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelled {
				// A shutdown while the first batch is taken: run would
				// stop before taking one after ctx is done.
				first := <-c.reqs
				cancel()
				merged, alone := c.gather(first)
				c.commit(ctx, merged, alone)
			} else {
				go c.run(ctx)
			}
			var gotErr []bool
			for _, r := range rs {
				gotErr = append(gotErr, <-r.done != nil)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tt.wantTxs, txs); diff != "" {
				t.Errorf("transactions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Errorf("failed requests (-want +got):\n%s", diff)
			}
		})
	}
}
