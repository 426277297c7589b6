package groupcommit

import (
	"cmp"
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

const ms = time.Millisecond

// submission is one call of a script: Do (or DoAlone) of item at a time
// after the start.
type submission struct {
	at    time.Duration
	item  string
	alone bool
}

// tx is one transaction: when it started and its items.
type tx struct {
	At    time.Duration
	Items string
}

// recorder is a commit func that records each transaction, with its
// items sorted (submissions made at one instant may queue in any order),
// and takes took per transaction. A transaction that holds an item
// starting with "!" fails; one that holds "slow" takes slow.
type recorder struct {
	start time.Time
	took  time.Duration
	slow  time.Duration

	mu  sync.Mutex
	txs []tx
}

func (r *recorder) commit(_ context.Context, items []string) error {
	sorted := slices.Sorted(slices.Values(items))
	r.mu.Lock()
	r.txs = append(r.txs, tx{At: time.Since(r.start), Items: strings.Join(sorted, ",")})
	r.mu.Unlock()
	d := r.took
	if slices.Contains(items, "slow") {
		d = r.slow
	}
	time.Sleep(d)
	for _, it := range items {
		if strings.HasPrefix(it, "!") {
			return errors.New("refused")
		}
	}
	return nil
}

// transactions returns the transactions in the order they started (by
// items within one instant).
func (r *recorder) transactions() []tx {
	r.mu.Lock()
	defer r.mu.Unlock()
	txs := slices.Clone(r.txs)
	slices.SortFunc(txs, func(a, b tx) int { return cmp.Or(cmp.Compare(a.At, b.At), strings.Compare(a.Items, b.Items)) })
	return txs
}

// runScript submits the script's items at their times, in a bubble whose
// clock moves only when every goroutine waits, and returns whether each
// failed.
func runScript(t *testing.T, c *Committer[string], script []submission) []bool {
	t.Helper()
	failed := make([]bool, len(script))
	var wg sync.WaitGroup
	for i, s := range script {
		wg.Go(func() {
			time.Sleep(s.at)
			var err error
			if s.alone {
				err = c.DoAlone(context.Background(), s.item)
			} else {
				err = c.Do(context.Background(), s.item)
			}
			failed[i] = err != nil
		})
	}
	wg.Wait()
	return failed
}

// TestCommit runs scripts of submissions and checks which transactions
// run when, and which submissions fail.
func TestCommit(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config[string]
		// took is each transaction's duration; "slow" takes slow.
		took, slow time.Duration
		script     []submission
		want       []tx
		wantFailed []bool
	}{
		{
			name:   "LoneSubmissionsDoNotWait",
			cfg:    Config[string]{Slots: 2, Linger: 3 * ms},
			took:   ms / 2,
			script: []submission{{at: 0, item: "a"}, {at: 10 * ms, item: "b"}},
			want:   []tx{{0, "a"}, {10 * ms, "b"}},
		},
		{
			name: "OneThatFollowsWaitsTheLingerAndOthersJoinIt",
			cfg:  Config[string]{Slots: 2, Linger: 3 * ms},
			took: ms / 2,
			script: []submission{
				{at: 0, item: "a"}, {at: 1 * ms, item: "b"}, {at: 2 * ms, item: "c"}, {at: 3 * ms, item: "d"},
			},
			want: []tx{{0, "a"}, {4 * ms, "b,c,d"}},
		},
		{
			name:   "ExactlyTheLingerAfterDoesNotWait",
			cfg:    Config[string]{Slots: 2, Linger: 3 * ms},
			took:   ms / 2,
			script: []submission{{at: 0, item: "a"}, {at: 3 * ms, item: "b"}},
			want:   []tx{{0, "a"}, {3 * ms, "b"}},
		},
		{
			name: "TheLingerIsBounded",
			cfg:  Config[string]{Slots: 2, Linger: 3 * ms},
			took: ms / 2,
			script: []submission{
				{at: 0, item: "a"}, {at: 1 * ms, item: "b"}, {at: 2 * ms, item: "c"}, {at: 3500 * time.Microsecond, item: "d"},
				{at: 4500 * time.Microsecond, item: "e"},
			},
			want: []tx{{0, "a"}, {4 * ms, "b,c,d"}, {7500 * time.Microsecond, "e"}},
		},
		{
			name:   "ARetryDoesNotWait",
			cfg:    Config[string]{Slots: 2, Linger: 3 * ms},
			took:   ms / 2,
			script: []submission{{at: 0, item: "a"}, {at: 1 * ms, item: "b", alone: true}},
			want:   []tx{{0, "a"}, {1 * ms, "b"}},
		},
		{
			name:   "WhenIdleDoesNotWaitWhileAnotherTransactionRuns",
			cfg:    Config[string]{Slots: 2, Linger: 3 * ms, LingerWhenIdle: true},
			took:   5 * ms,
			script: []submission{{at: 0, item: "a"}, {at: 1 * ms, item: "b"}},
			want:   []tx{{0, "a"}, {1 * ms, "b"}},
		},
		{
			name:   "WithoutWhenIdleItWaitsWhileAnotherRuns",
			cfg:    Config[string]{Slots: 2, Linger: 3 * ms},
			took:   5 * ms,
			script: []submission{{at: 0, item: "a"}, {at: 1 * ms, item: "b"}},
			want:   []tx{{0, "a"}, {4 * ms, "b"}},
		},
		{
			name: "WhenIdleWaitsOnceTheOtherTransactionEnded",
			cfg:  Config[string]{Slots: 2, Linger: 3 * ms, LingerWhenIdle: true},
			took: ms / 2,
			script: []submission{
				{at: 0, item: "a"}, {at: 1 * ms, item: "b"}, {at: 2 * ms, item: "c"},
			},
			want: []tx{{0, "a"}, {4 * ms, "b,c"}},
		},
		{
			name: "AfterGroupMeasuresFromTheGroupBefore",
			cfg:  Config[string]{Slots: 2, Linger: 3 * ms, LingerAfterGroup: true},
			took: ms / 2,
			script: []submission{
				{at: 0, item: "a"}, {at: 1 * ms, item: "b"}, {at: 2 * ms, item: "c"}, {at: 4500 * time.Microsecond, item: "d"},
			},
			// d comes 2.5 ms after c but 3.5 ms after b's group began.
			want: []tx{{0, "a"}, {4 * ms, "b,c"}, {4500 * time.Microsecond, "d"}},
		},
		{
			name: "WithoutAfterGroupItMeasuresFromTheSubmissionBefore",
			cfg:  Config[string]{Slots: 2, Linger: 3 * ms},
			took: ms / 2,
			script: []submission{
				{at: 0, item: "a"}, {at: 1 * ms, item: "b"}, {at: 2 * ms, item: "c"}, {at: 4500 * time.Microsecond, item: "d"},
			},
			want: []tx{{0, "a"}, {4 * ms, "b,c"}, {7500 * time.Microsecond, "d"}},
		},
		{
			name: "WaitingSubmissionsShareTheNextTransactionWithoutALinger",
			cfg:  Config[string]{Slots: 1, Linger: 3 * ms},
			took: 2 * ms,
			script: []submission{
				{at: 0, item: "a"}, {at: ms / 2, item: "b"}, {at: 1 * ms, item: "c"},
			},
			want: []tx{{0, "a"}, {2 * ms, "b,c"}},
		},
		{
			name: "MaxCapsAMergedTransaction",
			cfg:  Config[string]{Slots: 1, Max: 3, Size: func(s string) int { return len(s) }},
			took: 2 * ms,
			script: []submission{
				{at: 0, item: "h"}, {at: 1 * ms, item: "aa"}, {at: 1100 * time.Microsecond, item: "bb"}, {at: 1200 * time.Microsecond, item: "c"},
			},
			want: []tx{{0, "h"}, {2 * ms, "aa,bb"}, {4 * ms, "c"}},
		},
		{
			name: "WhatMaxLeavesGoesToAFreeSlotAtOnce",
			cfg:  Config[string]{Slots: 2, Max: 2, Linger: 3 * ms},
			took: ms / 2,
			script: []submission{
				{at: 0, item: "a"}, {at: 1 * ms, item: "b"}, {at: 2 * ms, item: "c"}, {at: 2100 * time.Microsecond, item: "d"},
			},
			want: []tx{{0, "a"}, {4 * ms, "b,c"}, {4 * ms, "d"}},
		},
		{
			name: "AWaitingRetryGoesAloneInItsTurn",
			cfg:  Config[string]{Slots: 1},
			took: 2 * ms,
			script: []submission{
				{at: 0, item: "h"}, {at: 1 * ms, item: "a", alone: true}, {at: 1100 * time.Microsecond, item: "b"},
				{at: 1200 * time.Microsecond, item: "c"},
			},
			want: []tx{{0, "h"}, {2 * ms, "a"}, {4 * ms, "b,c"}},
		},
		{
			name: "ARetryFurtherBackKeepsItsPlace",
			cfg:  Config[string]{Slots: 1},
			took: 2 * ms,
			script: []submission{
				{at: 0, item: "h"}, {at: 1 * ms, item: "b"}, {at: 1100 * time.Microsecond, item: "a", alone: true},
				{at: 1200 * time.Microsecond, item: "c"}, {at: 3 * ms, item: "d"},
			},
			want: []tx{{0, "h"}, {2 * ms, "b,c"}, {4 * ms, "a"}, {6 * ms, "d"}},
		},
		{
			name: "AFailedMergeIsTriedAgainMemberByMember",
			cfg:  Config[string]{Slots: 1},
			took: 2 * ms,
			script: []submission{
				{at: 0, item: "h"}, {at: 1 * ms, item: "a"}, {at: 1100 * time.Microsecond, item: "!b"},
				{at: 1200 * time.Microsecond, item: "c"},
			},
			want:       []tx{{0, "h"}, {2 * ms, "!b,a,c"}, {4 * ms, "!b"}, {4 * ms, "a"}, {4 * ms, "c"}},
			wantFailed: []bool{false, false, true, false},
		},
		{
			name: "AFailedTransactionOfOneIsNotTriedAgain",
			cfg:  Config[string]{Slots: 1},
			took: 2 * ms,
			script: []submission{
				{at: 0, item: "h"}, {at: 1 * ms, item: "!a"},
			},
			want:       []tx{{0, "h"}, {2 * ms, "!a"}},
			wantFailed: []bool{false, true},
		},
		{
			name: "ASlowTransactionHoldsOnlyItsSlot",
			cfg:  Config[string]{Slots: 2},
			took: ms, slow: 10 * ms,
			script: []submission{
				{at: 0, item: "slow"}, {at: 1 * ms, item: "a"}, {at: 3 * ms, item: "b"}, {at: 3500 * time.Microsecond, item: "c"},
			},
			want: []tx{{0, "slow"}, {1 * ms, "a"}, {3 * ms, "b"}, {4 * ms, "c"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := &recorder{start: time.Now(), took: tt.took, slow: tt.slow}
				c, err := New(tt.cfg, r.commit)
				if err != nil {
					t.Fatal(err)
				}
				failed := runScript(t, c, tt.script)
				if diff := gocmp.Diff(tt.want, r.transactions()); diff != "" {
					t.Errorf("transactions (-want +got):\n%s", diff)
				}
				wantFailed := tt.wantFailed
				if wantFailed == nil {
					wantFailed = make([]bool, len(tt.script))
				}
				if diff := gocmp.Diff(wantFailed, failed); diff != "" {
					t.Errorf("failed submissions (-want +got):\n%s", diff)
				}
				if n := c.busy.Load(); n != 0 {
					t.Errorf("%d transactions running at the end, want 0", n)
				}
				if c.taken != 0 || c.waiting != nil {
					t.Errorf("at the end %d slots taken and %d waiting, want none", c.taken, len(c.waiting))
				}
			})
		})
	}
}

// holder holds a Committer's slots: its commit func blocks each
// transaction that holds "hold" until release is called, and records the
// others.
type holder struct {
	recorder
	held    chan struct{}
	release chan struct{}
	// cancel, when set, is called by a transaction that holds "cancel".
	cancel func()
}

func newHolder() *holder {
	return &holder{recorder: recorder{start: time.Now()}, held: make(chan struct{}, 8), release: make(chan struct{})}
}

func (h *holder) commit(ctx context.Context, items []string) error {
	if slices.Contains(items, "hold") {
		h.held <- struct{}{}
		<-h.release
	}
	if slices.Contains(items, "cancel") {
		h.cancel()
	}
	return h.recorder.commit(ctx, items)
}

// TestALeaderDoesNotWaitForARetry: a caller whose group a retry waits
// behind gets its outcome when its own transaction commits, not after the
// retry's (which may wait on a lock or keep failing).
func TestALeaderDoesNotWaitForARetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{start: time.Now(), took: 2 * ms, slow: time.Second}
		c, err := New(Config[string]{Slots: 1}, r.commit)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { _ = c.Do(context.Background(), "h") })
		time.Sleep(ms)
		var returned time.Duration
		wg.Go(func() {
			if err := c.Do(context.Background(), "b"); err != nil {
				t.Errorf("Do(b): %v", err)
			}
			returned = time.Since(r.start)
		})
		time.Sleep(ms / 10)
		wg.Go(func() { _ = c.DoAlone(context.Background(), "slow") })
		wg.Wait()
		if want := 4 * ms; returned != want {
			t.Errorf("Do(b) returned at %v, want %v (its own transaction ran 2ms to 4ms)", returned, want)
		}
		if diff := gocmp.Diff([]tx{{0, "h"}, {2 * ms, "b"}, {4 * ms, "slow"}}, r.transactions()); diff != "" {
			t.Errorf("transactions (-want +got):\n%s", diff)
		}
	})
}

// TestContext checks what a submission's context does at each stage.
func TestContext(t *testing.T) {
	t.Run("CancelledWhileWaitingIsNotCommitted", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHolder()
			c, _ := New(Config[string]{Slots: 1}, h.commit)
			done := make(chan error)
			go func() { done <- c.Do(context.Background(), "hold") }()
			<-h.held
			ctx, cancel := context.WithTimeout(context.Background(), 200*ms)
			defer cancel()
			if err := c.Do(ctx, "quitter"); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Do of a waiting item whose context ended = %v, want %v", err, context.DeadlineExceeded)
			}
			close(h.release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if err := c.Do(context.Background(), "stayer"); err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff([]tx{{200 * ms, "hold"}, {200 * ms, "stayer"}}, h.transactions()); diff != "" {
				t.Errorf("transactions (-want +got):\n%s", diff)
			}
		})
	})
	t.Run("CancelledWhileALeaderCollectsIsNotCommitted", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := &recorder{start: time.Now()}
			c, _ := New(Config[string]{Slots: 2, Linger: 3 * time.Second}, r.commit)
			if err := c.Do(context.Background(), "first"); err != nil {
				t.Fatal(err)
			}
			leader := make(chan error, 1)
			go func() { leader <- c.Do(context.Background(), "leader") }()
			time.Sleep(300 * ms)
			ctx, cancel := context.WithTimeout(context.Background(), 200*ms)
			defer cancel()
			if err := c.Do(ctx, "quitter"); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Do of an item whose context ended while it waited for its leader = %v, want %v", err, context.DeadlineExceeded)
			}
			select {
			case err := <-leader:
				t.Fatalf("the leader finished (%v) before the quitter gave up", err)
			default:
			}
			if err := <-leader; err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff([]tx{{0, "first"}, {3 * time.Second, "leader"}}, r.transactions()); diff != "" {
				t.Errorf("transactions (-want +got):\n%s", diff)
			}
		})
	})
	t.Run("TheLeadersContextEndsItsLinger", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := &recorder{start: time.Now()}
			c, _ := New(Config[string]{Slots: 2, Linger: 3 * time.Second}, r.commit)
			if err := c.Do(context.Background(), "first"); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			joined := make(chan error, 1)
			go func() {
				time.Sleep(500 * ms)
				joined <- c.Do(context.Background(), "joiner")
			}()
			// The leader's own transaction holds another's item: it runs
			// without the leader's cancellation, and commits.
			if err := c.Do(ctx, "leader"); err != nil {
				t.Errorf("leader: %v", err)
			}
			if err := <-joined; err != nil {
				t.Errorf("joiner: %v", err)
			}
			if diff := gocmp.Diff([]tx{{0, "first"}, {time.Second, "joiner,leader"}}, r.transactions()); diff != "" {
				t.Errorf("transactions (-want +got):\n%s", diff)
			}
		})
	})
	t.Run("ATransactionOfOneRunsUnderItsCallersContext", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var got error
			c, _ := New(Config[string]{Slots: 1}, func(ctx context.Context, _ []string) error {
				got = ctx.Err()
				return got
			})
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := c.Do(ctx, "a"); !errors.Is(err, context.Canceled) {
				t.Errorf("Do with a cancelled context = %v, want %v", err, context.Canceled)
			}
		})
	})
	// At a shutdown (the members' contexts end while their merged
	// transaction runs) a failed merge is not tried again: each member
	// gets its error.
	t.Run("AtShutdownAFailedMergeIsNotTriedAgain", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHolder()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h.cancel = cancel
			c, _ := New(Config[string]{Slots: 1}, h.commit)
			done := make(chan error)
			go func() { done <- c.Do(context.Background(), "hold") }()
			<-h.held
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i, item := range []string{"cancel", "!b"} {
				wg.Go(func() { errs[i] = c.Do(ctx, item) })
				synctest.Wait() // queued in this order
			}
			close(h.release)
			wg.Wait()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			for i, err := range errs {
				if err == nil || errors.Is(err, context.Canceled) {
					t.Errorf("member %d: %v, want the merged transaction's error", i, err)
				}
			}
			if diff := gocmp.Diff([]tx{{0, "!b,cancel"}, {0, "hold"}}, h.transactions()); diff != "" {
				t.Errorf("transactions (-want +got):\n%s", diff)
			}
		})
	})
}

// TestCommitterIsIdleWhenItAnswers: once a submission is answered, its
// transaction no longer counts as running. Were it still counted, a
// submission made on that answer would skip a LingerWhenIdle linger for
// the wrong reason (as the consumer's close-batches test once saw in CI).
// In real time with eight Ps, as a race on a busy machine would be.
func TestCommitterIsIdleWhenItAnswers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	c, err := New(Config[string]{Slots: 2}, func(context.Context, []string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20000 {
		if err := c.Do(context.Background(), "a"); err != nil {
			t.Fatal(err)
		}
		if n := c.busy.Load(); n != 0 {
			t.Fatalf("after answer %d: %d transactions running, want 0", i, n)
		}
	}
}

func TestNew(t *testing.T) {
	commit := func(context.Context, []int) error { return nil }
	tests := []struct {
		name   string
		cfg    Config[int]
		commit CommitFunc[int]
	}{
		{name: "NoCommitFunc", cfg: Config[int]{Slots: 1}},
		{name: "NoSlot", cfg: Config[int]{}, commit: commit},
		{name: "NegativeMax", cfg: Config[int]{Slots: 1, Max: -1}, commit: commit},
		{name: "NegativeLinger", cfg: Config[int]{Slots: 1, Linger: -1}, commit: commit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, tt.commit); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
}
