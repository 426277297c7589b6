// Package groupcommit runs the database transactions of concurrent callers
// together: group commit. Many small transactions (one order, one
// partition's batch of events) cost one BEGIN, one COMMIT and one WAL flush
// each; the callers that wait for a transaction slot go together in the
// next transaction instead, so that under load the transactions grow with
// the load rather than their number. At rest nothing waits: a lone
// submission starts its transaction at once.
//
// A Committer runs at most Config.Slots transactions at once. A submission
// that finds a slot free starts a group and leads it: its own goroutine runs
// the group's transaction (no goroutine of the Committer's own, nothing to
// start or stop). A submission that finds every slot taken, or a leader
// lingering, waits; when a transaction ends, its slot goes to what waits by
// then, as one group led by the first of them. Each member is answered with
// its own outcome; a transaction counts as in flight only while it runs,
// not while its members are answered.
//
// With a linger (Config.Linger), a group that starts soon after the one
// before waits that long before its transaction, and the submissions that
// come meanwhile join it. A submission that comes alone, a retry
// (DoAlone) and a group formed of members that waited already do not wait.
//
// A merged transaction that fails fails none of its members: each is tried
// again at once, alone, by its own caller under its caller's context, and
// gets its own outcome; a member whose context is done by then gets the
// merged transaction's error.
//
// orders/postgres commits order creations through it, cdc/inbox the
// consumers' batches. It lives beside the other Postgres helpers (sql) that
// both already use; it knows nothing of SQL itself (the commit func runs the transaction) and
// is safe for concurrent use.
package groupcommit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Committer.
type Config[T any] struct {
	// Slots is how many transactions run at once; at least 1.
	Slots int
	// Max caps the size of a merged transaction, by Size: a group takes
	// waiting members while its size is below Max (so one member may reach
	// it alone). 0: no cap.
	Max int
	// Size is the size of a member (for Max); nil counts each member as 1.
	Size func(T) int
	// Linger is how long a group that starts less than Linger after the
	// one before waits for more members before its transaction; 0: never.
	Linger time.Duration
	// LingerAfterGroup measures "after the one before" from the start of
	// the group before, instead of from the submission before: a group
	// that lingered is never followed by another lingering group at once.
	LingerAfterGroup bool
	// LingerWhenIdle lingers only while no other transaction runs. While
	// one does, the members that come meanwhile wait for a slot anyway and
	// merge without a linger: under heavy load nothing waits longer than
	// without it.
	LingerWhenIdle bool
}

// CommitFunc runs one transaction over items, in the order given. It must
// not keep items.
type CommitFunc[T any] func(ctx context.Context, items []T) error

// Committer is a group commit over T. It is safe for concurrent use.
type Committer[T any] struct {
	cfg    Config[T]
	commit CommitFunc[T]
	// busy counts the transactions running.
	busy atomic.Int32

	mu      sync.Mutex
	waiting []*member[T]
	// taken counts the slots held by a group.
	taken int
	// collecting: a leader lingers; what comes meanwhile waits to join it.
	collecting bool
	// last is when the submission before came (or, with
	// Config.LingerAfterGroup, when the group before started).
	last time.Time
}

// member is one submission.
type member[T any] struct {
	item  T
	alone bool
	// wake receives the group the member leads, or its outcome.
	wake chan answer[T]
}

// answer wakes a waiting member.
type answer[T any] struct {
	// lead is the group the member leads (itself first), when not nil.
	lead []*member[T]
	err  error
	// retry: the member's merged transaction failed with err; it is tried
	// again alone.
	retry bool
}

// New returns a Committer that runs transactions with commit. It returns
// an error when commit is nil or cfg is invalid.
func New[T any](cfg Config[T], commit CommitFunc[T]) (*Committer[T], error) {
	switch {
	case commit == nil:
		return nil, errors.New("groupcommit: nil commit func")
	case cfg.Slots < 1:
		return nil, errors.New("groupcommit: fewer than 1 slot")
	case cfg.Max < 0:
		return nil, errors.New("groupcommit: negative max")
	case cfg.Linger < 0:
		return nil, errors.New("groupcommit: negative linger")
	}
	if cfg.Size == nil {
		cfg.Size = func(T) int { return 1 }
	}
	return &Committer[T]{cfg: cfg, commit: commit}, nil
}

// Do commits item in a transaction alone or with others and returns its
// outcome: nil once committed. When ctx is done before item was taken into
// a transaction, Do returns ctx's error and nothing was committed; once
// taken, Do waits for the outcome. A transaction runs in the goroutine of
// the caller that leads its group: under that caller's ctx when it holds
// only the caller's item, else under ctx without its cancellation, so that
// one caller giving up does not fail the others (the commit func bounds
// such a transaction).
func (c *Committer[T]) Do(ctx context.Context, item T) error { return c.submit(ctx, item, false) }

// DoAlone is Do in a transaction of item's own, without a linger: a retry,
// whose failure must hold back no one else.
func (c *Committer[T]) DoAlone(ctx context.Context, item T) error { return c.submit(ctx, item, true) }

func (c *Committer[T]) submit(ctx context.Context, item T, alone bool) error {
	c.mu.Lock()
	now := time.Now()
	follows := now.Sub(c.last) < c.cfg.Linger
	if !c.cfg.LingerAfterGroup {
		c.last = now
	}
	if c.collecting || c.taken >= c.cfg.Slots {
		m := &member[T]{item: item, alone: alone, wake: make(chan answer[T], 1)}
		c.waiting = append(c.waiting, m)
		c.mu.Unlock()
		return c.wait(ctx, m)
	}
	c.taken++
	if c.cfg.LingerAfterGroup {
		c.last = now
	}
	if !follows || alone || (c.cfg.LingerWhenIdle && c.busy.Load() > 0) {
		// A group of one: its transaction under ctx, not retried.
		c.mu.Unlock()
		return c.transact(ctx, []T{item}, true)
	}
	// Collect a group: what comes within the linger joins it. ctx ending
	// ends the wait; the group is committed all the same.
	c.collecting = true
	c.mu.Unlock()
	sleep(ctx, c.cfg.Linger)
	c.mu.Lock()
	c.collecting = false
	group := c.take([]*member[T]{{item: item}})
	c.dispatch()
	c.mu.Unlock()
	return c.lead(ctx, group)
}

// wait waits for m's turn to lead a group or for its outcome.
func (c *Committer[T]) wait(ctx context.Context, m *member[T]) error {
	var a answer[T]
	select {
	case a = <-m.wake:
	case <-ctx.Done():
		if c.withdraw(m) {
			return ctx.Err()
		}
		a = <-m.wake // taken already: its outcome is coming
	}
	if a.lead != nil {
		return c.lead(ctx, a.lead)
	}
	return c.answered(ctx, m, a)
}

// answered returns m's outcome, trying m again alone when its merged
// transaction failed and ctx is not done.
func (c *Committer[T]) answered(ctx context.Context, m *member[T], a answer[T]) error {
	if !a.retry || ctx.Err() != nil {
		return a.err
	}
	return c.transact(ctx, []T{m.item}, false)
}

// withdraw removes m from the waiting members and reports whether it was
// still there.
func (c *Committer[T]) withdraw(m *member[T]) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.waiting, m)
	if i < 0 {
		return false
	}
	c.waiting = slices.Delete(c.waiting, i, i+1)
	return true
}

// take appends to group the waiting members while the size of group's
// merged members is below Max, and returns it. A retry (an alone member)
// never joins a group led by another: whoever leads runs every transaction
// of its group before its own Do returns, so a slow or failing retry would
// hold it back. A retry first in line leads a group of its own (take(nil));
// one further back keeps its place and leads when it comes first, so that
// retries are not passed over for good under load. c.mu is held.
func (c *Committer[T]) take(group []*member[T]) []*member[T] {
	if len(group) == 0 && len(c.waiting) > 0 && c.waiting[0].alone {
		group = append(group, c.waiting[0])
		c.waiting = c.waiting[1:]
	} else {
		n := 0
		for _, m := range group {
			n += c.cfg.Size(m.item)
		}
		kept := c.waiting[:0]
		for _, m := range c.waiting {
			if m.alone || (c.cfg.Max != 0 && n >= c.cfg.Max) {
				kept = append(kept, m)
				continue
			}
			group = append(group, m)
			n += c.cfg.Size(m.item)
		}
		clear(c.waiting[len(kept):])
		c.waiting = kept
	}
	if len(c.waiting) == 0 {
		c.waiting = nil
	}
	return group
}

// dispatch hands the waiting members, while slots are free, to groups led
// by their first member. c.mu is held.
func (c *Committer[T]) dispatch() {
	for c.taken < c.cfg.Slots && len(c.waiting) > 0 {
		c.taken++
		if c.cfg.LingerAfterGroup {
			c.last = time.Now()
		}
		group := c.take(nil)
		group[0].wake <- answer[T]{lead: group}
	}
}

// release frees a slot and hands it to what waits.
func (c *Committer[T]) release() {
	c.mu.Lock()
	c.taken--
	c.dispatch()
	c.mu.Unlock()
}

// lead runs the transactions of group, whose first member is the caller's
// (it holds a slot): the merged members in one, then each alone member in
// its own. It answers the others and returns the caller's outcome. The
// slot is freed and the others answered even if a transaction panics
// (they then try again alone).
func (c *Committer[T]) lead(ctx context.Context, group []*member[T]) error {
	self := group[0]
	var merged, alone []*member[T]
	for _, m := range group {
		if m.alone {
			alone = append(alone, m)
		} else {
			merged = append(merged, m)
		}
	}
	var own answer[T]
	replied, released := 0, false // members of order answered; slot freed
	order := append(merged, alone...)
	defer func() {
		if !released {
			c.release()
		}
		for _, m := range order[replied:] {
			if m != self {
				m.wake <- answer[T]{err: errPanicked, retry: true}
			}
		}
	}()
	reply := func(a answer[T]) {
		m := order[replied]
		replied++
		if m == self {
			own = a
			return
		}
		m.wake <- a
	}
	txs := len(alone)
	if len(merged) > 0 {
		txs++
	}
	// run runs one transaction over ms; the last one frees the slot before
	// anyone is answered.
	run := func(ms []*member[T]) error {
		txs--
		released = txs == 0
		tctx := ctx
		if len(ms) > 1 || ms[0] != self {
			tctx = context.WithoutCancel(ctx)
		}
		items := make([]T, len(ms))
		for i, m := range ms {
			items[i] = m.item
		}
		return c.transact(tctx, items, released)
	}
	if len(merged) > 0 {
		err := run(merged)
		for range merged {
			reply(answer[T]{err: err, retry: err != nil && len(merged) > 1})
		}
	}
	for _, m := range alone {
		reply(answer[T]{err: run([]*member[T]{m})})
	}
	return c.answered(ctx, self, own)
}

// errPanicked answers the members of a transaction that panicked.
var errPanicked = errors.New("groupcommit: transaction panicked")

// transact runs one transaction over items, counted in busy while it runs.
// With last, it frees the leader's slot before busy goes down. busy is down
// before the caller answers the members, so that a submission made on an
// answer finds the transaction over, as it is.
func (c *Committer[T]) transact(ctx context.Context, items []T, last bool) error {
	c.busy.Add(1)
	defer c.busy.Add(-1)
	if last {
		defer c.release()
	}
	return c.commit(ctx, items)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
