package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/orders"
)

// fanout delivers the order changes announced on changesChannel to the
// subscriptions of each user, in memory, over one LISTEN connection of its
// own. It is safe for concurrent use.
//
// A subscriber that does not keep up is dropped, never waited for. An
// announcement is a wake-up, not the record: the fan-out keeps, per
// subscribed user, the number of the last change it delivered; an
// announcement numbered at or below it is dropped, and one numbered more
// than one above it is preceded by the missing changes, read from the
// change log. A subscription that cannot be kept without a hole ends
// (its channel closes).
type fanout struct {
	pool   *pgxpool.Pool // reads the changes an announcement skipped
	config *pgx.ConnConfig
	logger *slog.Logger
	buffer int
	// pollEvery is the interval of the poll of the change log.
	pollEvery time.Duration

	mu        sync.Mutex // guards the fields below
	subs      map[string]*userSubs
	listening bool
	ready     chan struct{} // closed once listening; replaced when the connection is lost
	stopped   bool
}

// userSubs are the subscriptions of one user.
type userSubs struct {
	chans map[chan *orders.Change]struct{}
	// last is the number of the last change delivered, or, before the
	// first, the user's latest number when the first subscriber came.
	last int64
}

// fillMax is the most changes one announcement is preceded by; with a
// longer gap the user's subscriptions end (their subscribers resume from
// the log).
const fillMax = 1000

// DefaultWatchPoll is how often a watcher reads the latest change numbers
// of its subscribed users from the log, in case an announcement was lost:
// the longest a lost announcement delays a change.
const DefaultWatchPoll = time.Second

// fillTimeout bounds the read of the changes an announcement skipped.
const fillTimeout = 10 * time.Second

// errNotListening is what start returns when the connection was lost:
// the subscriber waits for the next one.
var errNotListening = errors.New("order watcher: not listening")

func newFanout(pool *pgxpool.Pool, logger *slog.Logger, buffer int, pollEvery time.Duration) *fanout {
	return &fanout{
		pool:      pool,
		config:    pool.Config().ConnConfig,
		logger:    logger,
		buffer:    buffer,
		pollEvery: pollEvery,
		subs:      map[string]*userSubs{},
		ready:     make(chan struct{}),
	}
}

// reconnectBackOff is the pause before the connection is opened again: 0.5 s,
// doubling up to 5 s while it fails.
func reconnectBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: 500 * time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Second}
}

// run listens until ctx is done. A lost connection ends every subscription
// and is opened again after a pause of reconnectBackOff, which starts over
// once a connection got as far as listening.
func (f *fanout) run(ctx context.Context) {
	pauses := reconnectBackOff()
	for {
		listened, err := f.listen(ctx)
		f.lost()
		if ctx.Err() != nil {
			return
		}
		if listened {
			pauses.Reset()
		}
		pause := pauses.NextBackOff()
		f.logger.WarnContext(ctx, "order changes: listen connection lost, reconnecting",
			slog.Any("error", err), slog.Duration("pause", pause))
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// listen connects, listens and dispatches until the connection fails or
// ctx is done; listened reports whether it got as far as listening.
func (f *fanout) listen(ctx context.Context) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, f.config.Copy())
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx) //nolint:errcheck // the connection is abandoned either way
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	f.mu.Lock()
	f.listening = true
	close(f.ready)
	f.mu.Unlock()
	f.logger.DebugContext(ctx, "order changes: listening")
	// A first poll: a change announced before the LISTEN took effect is
	// not missed for a whole interval.
	nextPoll := time.Now()
	for {
		if !time.Now().Before(nextPoll) {
			f.poll(ctx)
			nextPoll = time.Now().Add(f.pollEvery)
		}
		wctx, cancel := context.WithDeadline(ctx, nextPoll)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && wctx.Err() != nil && !conn.IsClosed() {
				continue // time to poll: a timeout leaves the connection usable
			}
			return true, err
		}
		c, err := decodeChange(n.Payload)
		if err != nil {
			// Written by our own trigger: a defect, not a reason to stop.
			f.logger.ErrorContext(ctx, "order changes: undecodable notification", slog.Any("error", err))
			continue
		}
		f.dispatch(ctx, c)
	}
}

// poll reads the latest change number of every subscribed user and fills
// the subscriptions of those with changes beyond the last one delivered:
// an announcement is sent after its change committed, best effort
// (sql/orders/0007), so it may be lost, and the poll bounds the delay to
// f.pollEvery. A failed read is logged; the next poll tries again. Only
// the listening goroutine calls it.
func (f *fanout) poll(ctx context.Context) {
	users := f.users()
	if len(users) == 0 {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, fillTimeout)
	defer cancel()
	rows, _ := f.pool.Query(pctx, `SELECT user_id, seq FROM order_change_seqs WHERE user_id = ANY($1)`, users)
	latest := map[string]int64{}
	var (
		user string
		seq  int64
	)
	_, err := pgx.ForEachRow(rows, []any{&user, &seq}, func() error {
		latest[user] = seq
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			f.logger.WarnContext(ctx, "order changes: poll of the change log failed", slog.Any("error", err))
		}
		return
	}
	for user, seq := range latest {
		f.mu.Lock()
		u := f.subs[user]
		behind := u != nil && seq > u.last
		f.mu.Unlock()
		if behind {
			f.fill(ctx, user, u, seq)
		}
	}
}

// dispatch delivers c to the subscribers of its user, after the changes
// numbered between the last one delivered and c, read from the log; it
// drops c when a change with its number or a higher one was delivered.
// Only the listening goroutine calls it.
func (f *fanout) dispatch(ctx context.Context, c orders.Change) {
	user := c.Order.UserID
	f.mu.Lock()
	u := f.subs[user]
	if u == nil || c.Seq <= u.last {
		f.mu.Unlock()
		return
	}
	if c.Seq == u.last+1 {
		f.deliverLocked(user, u, c)
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	// An announcement was lost or is late.
	f.fill(ctx, user, u, c.Seq)
}

// fill delivers to u, the subscriptions of user, the changes numbered
// from the last one delivered up to upTo, read from the log: they are
// committed (a number commits after the ones below it). When they cannot
// all be read (an error, a gap over fillMax), the user's subscriptions
// end and their subscribers resume from the log. Only the listening
// goroutine calls it.
func (f *fanout) fill(ctx context.Context, user string, u *userSubs, upTo int64) {
	f.mu.Lock()
	from := u.last
	f.mu.Unlock()
	if upTo <= from {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, fillTimeout)
	list, err := readChanges(fctx, f.pool, user, from, int(min(upTo-from, fillMax)))
	cancel()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs[user] != u {
		return // the subscriptions ended meanwhile
	}
	if err != nil {
		f.logger.WarnContext(ctx, "order changes: read of skipped changes failed, ending the user's subscriptions",
			slog.String("user_id", user), slog.Int64("after", from), slog.Any("error", err))
	}
	for _, l := range list {
		if l.Seq == u.last+1 && l.Seq <= upTo {
			f.deliverLocked(user, u, l)
		}
	}
	if u.last < upTo {
		f.endLocked(user)
	}
}

// deliverLocked hands c to every subscriber of u, dropping those whose
// buffer is full, and records it as the last one delivered. Subscribers
// share one copy of c (read only): a buffer holds pointers, so that an
// idle subscription costs little (64 slots of 8 bytes, not of a whole
// order).
func (f *fanout) deliverLocked(user string, u *userSubs, c orders.Change) {
	u.last = c.Seq
	shared := &c
	for ch := range u.chans {
		select {
		case ch <- shared:
		default:
			f.removeLocked(user, ch)
		}
	}
}

// lost ends every subscription: the notifications they wait for may be
// gone with the connection.
func (f *fanout) lost() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listening {
		f.listening = false
		f.ready = make(chan struct{})
	}
	for user := range f.subs {
		f.endLocked(user)
	}
}

// stop ends every subscription for good: join fails from now on.
func (f *fanout) stop() {
	f.lost()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	close(f.ready) // wakes the subscribers waiting for a connection
}

// join waits until the fan-out listens, as long as ctx allows, and adds a
// subscription to the user's existing ones. It returns nil and no error
// when the user has none: the first is installed by start. It returns
// errWatcherStopped once stopped, and ctx's error.
func (f *fanout) join(ctx context.Context, user string) (chan *orders.Change, error) {
	for {
		f.mu.Lock()
		if f.stopped {
			f.mu.Unlock()
			return nil, errWatcherStopped
		}
		if f.listening {
			break
		}
		ready := f.ready
		f.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer f.mu.Unlock()
	u := f.subs[user]
	if u == nil {
		return nil, nil
	}
	return f.addLocked(u), nil
}

// start adds a subscription of user, the first one unless another came
// meanwhile, with latest as the number of the last change delivered to the
// first. It returns errNotListening unless the fan-out listens.
func (f *fanout) start(user string, latest int64) (chan *orders.Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped || !f.listening {
		return nil, errNotListening
	}
	u := f.subs[user]
	if u == nil {
		u = &userSubs{chans: map[chan *orders.Change]struct{}{}, last: latest}
		f.subs[user] = u
	}
	return f.addLocked(u), nil
}

func (f *fanout) addLocked(u *userSubs) chan *orders.Change {
	ch := make(chan *orders.Change, f.buffer)
	u.chans[ch] = struct{}{}
	return ch
}

// leave ends the subscription ch of user, if it has not ended yet.
func (f *fanout) leave(user string, ch chan *orders.Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removeLocked(user, ch)
}

// users returns the users with subscriptions.
func (f *fanout) users() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	users := make([]string, 0, len(f.subs))
	for u := range f.subs {
		users = append(users, u)
	}
	return users
}

// end ends every subscription of user.
func (f *fanout) end(user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.endLocked(user)
}

func (f *fanout) endLocked(user string) {
	if u := f.subs[user]; u != nil {
		for ch := range u.chans {
			f.removeLocked(user, ch)
		}
	}
}

func (f *fanout) removeLocked(user string, ch chan *orders.Change) {
	u := f.subs[user]
	if u == nil {
		return
	}
	if _, ok := u.chans[ch]; !ok {
		return
	}
	delete(u.chans, ch)
	if len(u.chans) == 0 {
		delete(f.subs, user)
	}
	close(ch)
}

// changePayload is the JSON the trigger sends (record_order_change).
type changePayload struct {
	Seq          int64     `json:"seq"`
	ID           uuid.UUID `json:"id"`
	UserID       string    `json:"user_id"`
	Amount       int64     `json:"amount"`
	Currency     string    `json:"currency"`
	Description  string    `json:"description"`
	Status       string    `json:"status"`
	CancelReason *string   `json:"cancel_reason"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func decodeChange(payload string) (orders.Change, error) {
	var p changePayload
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		return orders.Change{}, fmt.Errorf("decode order change %.200q: %w", payload, err)
	}
	if p.Seq < 1 || p.UserID == "" || !orders.Status(p.Status).Valid() {
		return orders.Change{}, fmt.Errorf("decode order change %.200q: missing seq, user or status", payload)
	}
	c := orders.Change{Seq: p.Seq, Order: orders.Order{
		ID:          p.ID,
		UserID:      p.UserID,
		Amount:      p.Amount,
		Currency:    p.Currency,
		Description: p.Description,
		Status:      orders.Status(p.Status),
		CreatedAt:   p.CreatedAt.UTC(),
		UpdatedAt:   p.UpdatedAt.UTC(),
	}}
	if p.CancelReason != nil {
		c.Order.CancelReason = orders.CancelReason(*p.CancelReason)
	}
	return c, nil
}
