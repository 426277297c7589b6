package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/orders"
	"shop/proto/limits"
	"shop/service/fault"
	"shop/sql/pgfault"
)

// DefaultWatchBuffer is how many changes a subscription holds for a
// subscriber that has not taken them yet; one more drops it.
const DefaultWatchBuffer = 64

// Watcher fans the order changes that the database announces (pg_notify on
// the channel order_changes, raised by the transaction that changes an
// order) out to the subscribers of each user, in memory, over one LISTEN
// connection of its own: one per orders instance, not one per subscriber.
// Run listens; Subscribe registers a subscriber. It is safe for concurrent
// use.
//
// A subscriber that does not keep up is dropped, never waited for: one
// slow stream does not delay the others. A subscription that ends (its
// channel closed) is resumed by reading the change log (Store.ChangesAfter)
// after the last change its subscriber took: a subscription never loses a
// change silently.
//
// Notifications are wake-ups, not the record: the creation of an order is
// announced after its commit (sql/orders/0006), so an announcement may be
// lost or come after the next change of its user. The watcher therefore
// keeps, per subscribed user, the number of the last change it delivered:
// an announcement numbered at or below it is dropped, and one numbered
// more than one above it is preceded by the missing changes, read from
// the change log.
type Watcher struct {
	pool     *pgxpool.Pool
	config   *pgx.ConnConfig
	logger   *slog.Logger
	buffer   int
	instance uuid.UUID // this watcher's rows in order_watchers

	// register serializes the writes of order_watchers rows.
	register sync.Mutex

	mu        sync.Mutex
	subs      map[string]*userSubs
	listening bool
	ready     chan struct{} // closed once listening; replaced when the connection is lost
	stopped   bool
	// registered is when the row of each user was last written, by the
	// local clock; a row older than watchTTL/2 is written again.
	registered map[string]time.Time
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

// fillTimeout bounds the read of the changes an announcement skipped.
const fillTimeout = 10 * time.Second

// watchTTL is how long a row of order_watchers lives unless refreshed;
// Run refreshes the rows of its subscribed users every watchRefresh.
const (
	watchTTL     = 10 * time.Minute
	watchRefresh = time.Minute
)

// NewWatcher returns a watcher that listens on its own connection to the
// database of pool (with pool's connection settings). It returns an error
// when pool or logger is nil.
func NewWatcher(pool *pgxpool.Pool, logger *slog.Logger) (*Watcher, error) {
	if pool == nil || logger == nil {
		return nil, errors.New("order watcher: nil pool or logger")
	}
	return &Watcher{
		pool:       pool,
		config:     pool.Config().ConnConfig,
		logger:     logger,
		buffer:     DefaultWatchBuffer,
		instance:   uuid.New(),
		subs:       map[string]*userSubs{},
		ready:      make(chan struct{}),
		registered: map[string]time.Time{},
	}, nil
}

// errWatcherStopped is what Subscribe returns once Run has returned.
var errWatcherStopped = fault.Errorf(fault.Unavailable, "the orders service is stopping")

// Run listens until ctx is done and returns nil. A lost connection ends
// every subscription (their subscribers resume from the change log) and is
// opened again after a pause of 0.5 s, doubling up to 5 s while it fails.
// When Run returns, every subscription ends and Subscribe fails.
func (w *Watcher) Run(ctx context.Context) error {
	defer w.stop()
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		w.refreshLoop(ctx)
	}()
	defer func() { <-refreshed }()
	pause := 500 * time.Millisecond
	for {
		listened, err := w.listen(ctx)
		w.lost()
		if ctx.Err() != nil {
			return nil
		}
		if listened {
			pause = 500 * time.Millisecond
		}
		w.logger.WarnContext(ctx, "order changes: listen connection lost, reconnecting",
			slog.Any("error", err), slog.Duration("pause", pause))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// listen connects, listens and dispatches until the connection fails or
// ctx is done; listened reports whether it got as far as listening.
func (w *Watcher) listen(ctx context.Context) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, w.config.Copy())
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
	w.mu.Lock()
	w.listening = true
	close(w.ready)
	w.mu.Unlock()
	w.logger.DebugContext(ctx, "order changes: listening")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		c, err := decodeChange(n.Payload)
		if err != nil {
			// Written by our own trigger: a defect, not a reason to stop.
			w.logger.ErrorContext(ctx, "order changes: undecodable notification", slog.Any("error", err))
			continue
		}
		w.dispatch(ctx, c)
	}
}

// dispatch delivers c to the subscribers of its user, after the changes
// numbered between the last one delivered and c, read from the log; it
// drops c when a change with its number or a higher one was delivered.
// Only the listening goroutine calls it.
func (w *Watcher) dispatch(ctx context.Context, c orders.Change) {
	user := c.Order.UserID
	w.mu.Lock()
	u := w.subs[user]
	if u == nil || c.Seq <= u.last {
		w.mu.Unlock()
		return
	}
	if c.Seq == u.last+1 {
		w.deliverLocked(user, u, c)
		w.mu.Unlock()
		return
	}
	from := u.last
	w.mu.Unlock()

	// An announcement was lost or is late: the changes in between are
	// committed (a number commits after the ones below it), so in the log.
	fctx, cancel := context.WithTimeout(ctx, fillTimeout)
	list, err := readChanges(fctx, w.pool, user, from, int(min(c.Seq-from, fillMax)))
	cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.subs[user] != u {
		return // the subscriptions ended meanwhile
	}
	if err != nil {
		w.logger.WarnContext(ctx, "order changes: read of skipped changes failed, ending the user's subscriptions",
			slog.String("user_id", user), slog.Int64("after", from), slog.Any("error", err))
	}
	for _, l := range list {
		if l.Seq == u.last+1 && l.Seq <= c.Seq {
			w.deliverLocked(user, u, l)
		}
	}
	if u.last < c.Seq {
		// Not filled (an error, a gap over fillMax): the subscribers
		// resume from the log.
		for ch := range u.chans {
			w.removeLocked(user, ch)
		}
	}
}

// deliverLocked hands c to every subscriber of u, dropping those whose
// buffer is full, and records it as the last one delivered. Subscribers
// share one copy of c (read only): a buffer holds pointers, so that an
// idle subscription costs little (64 slots of 8 bytes, not of a whole
// order).
func (w *Watcher) deliverLocked(user string, u *userSubs, c orders.Change) {
	u.last = c.Seq
	shared := &c
	for ch := range u.chans {
		select {
		case ch <- shared:
		default:
			w.removeLocked(user, ch)
		}
	}
}

// lost ends every subscription: the notifications they wait for may be
// gone with the connection.
func (w *Watcher) lost() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.listening {
		w.listening = false
		w.ready = make(chan struct{})
	}
	for user, u := range w.subs {
		for ch := range u.chans {
			w.removeLocked(user, ch)
		}
	}
}

func (w *Watcher) stop() {
	w.lost()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	close(w.ready) // wakes the subscribers waiting for a connection
}

func (w *Watcher) removeLocked(user string, ch chan *orders.Change) {
	u := w.subs[user]
	if u == nil {
		return
	}
	if _, ok := u.chans[ch]; !ok {
		return
	}
	delete(u.chans, ch)
	if len(u.chans) == 0 {
		delete(w.subs, user)
	}
	close(ch)
}

// Subscribe registers a subscriber of the changes of user userID and
// returns the channel on which they arrive, in change order without a
// hole, and the function that ends the subscription (safe to call more
// than once). Every change committed after Subscribe returns arrives on
// the channel until it is closed; a change committed just before may
// arrive too. The watcher closes the channel when the subscriber falls
// more than the buffer behind, when the connection is lost, when a
// skipped change cannot be read from the log, and when Run returns.
//
// Subscribe waits for the watcher to listen, as long as ctx allows. It
// returns a fault.Invalid error for an invalid user id, a
// fault.Unavailable error once Run has returned, and ctx's error.
func (w *Watcher) Subscribe(ctx context.Context, userID string) (<-chan *orders.Change, func(), error) {
	if err := limits.UserID(userID); err != nil {
		return nil, nil, err
	}
	for {
		w.mu.Lock()
		if w.stopped {
			w.mu.Unlock()
			return nil, nil, errWatcherStopped
		}
		if !w.listening {
			ready := w.ready
			w.mu.Unlock()
			select {
			case <-ready:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			continue
		}
		if u := w.subs[userID]; u != nil {
			ch := w.addLocked(u)
			w.mu.Unlock()
			cancel := w.canceler(userID, ch)
			if err := w.ensureRegistered(ctx, userID); err != nil {
				cancel()
				return nil, nil, err
			}
			return ch, cancel, nil
		}
		w.mu.Unlock()
		ch, err := w.subscribeFirst(ctx, userID)
		if errors.Is(err, errNotListening) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		return ch, w.canceler(userID, ch), nil
	}
}

func (w *Watcher) addLocked(u *userSubs) chan *orders.Change {
	ch := make(chan *orders.Change, w.buffer)
	u.chans[ch] = struct{}{}
	return ch
}

func (w *Watcher) canceler(userID string, ch chan *orders.Change) func() {
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.removeLocked(userID, ch)
	}
}

// errNotListening is what subscribeFirst returns when the connection was
// lost meanwhile: Subscribe waits for the next one.
var errNotListening = errors.New("order watcher: not listening")

// subscribeFirst registers the first subscriber of userID. In a
// transaction that locks the user's counter row (see the migration), it
// writes the user's row of order_watchers, reads the latest number and,
// before the commit, installs the subscription with that number as the
// last delivered: a change committed before has a number at or below it
// and is in the log, one committed after is announced, after the
// subscription is in place.
func (w *Watcher) subscribeFirst(ctx context.Context, userID string) (chan *orders.Change, error) {
	w.register.Lock()
	defer w.register.Unlock()
	var ch chan *orders.Change
	start := time.Now()
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		var latest int64
		if err := tx.QueryRow(ctx, `INSERT INTO order_change_seqs AS c (user_id, seq) VALUES ($1, 0)
			ON CONFLICT (user_id) DO UPDATE SET seq = c.seq RETURNING c.seq`, userID).Scan(&latest); err != nil {
			return err
		}
		if err := w.upsertWatcher(ctx, tx, userID); err != nil {
			return err
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.stopped || !w.listening {
			return errNotListening
		}
		u := w.subs[userID]
		if u == nil {
			u = &userSubs{chans: map[chan *orders.Change]struct{}{}, last: latest}
			w.subs[userID] = u
		}
		ch = w.addLocked(u)
		return nil
	})
	if errors.Is(err, errNotListening) {
		return nil, err
	}
	if err != nil {
		if ch != nil {
			w.canceler(userID, ch)()
		}
		return nil, pgfault.From(fmt.Sprintf("register watcher of %q", userID), err)
	}
	w.mu.Lock()
	w.registered[userID] = start
	w.mu.Unlock()
	return ch, nil
}

// upsertWatcher writes the row of userID and this instance in
// order_watchers, to expire in watchTTL.
func (w *Watcher) upsertWatcher(ctx context.Context, tx pgx.Tx, userID string) error {
	_, err := tx.Exec(ctx, `INSERT INTO order_watchers (user_id, instance, expires_at)
		VALUES ($1, $2, now() + make_interval(secs => $3))
		ON CONFLICT (user_id, instance) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
		userID, w.instance, watchTTL.Seconds())
	return err
}

// ensureRegistered makes sure that the changes of userID are announced:
// it writes the user's row of order_watchers, unless written recently, in
// a transaction that locks the user's counter row (see the migration). A
// change that commits after it returns is announced; one that commits
// before is in the log.
func (w *Watcher) ensureRegistered(ctx context.Context, userID string) error {
	w.register.Lock()
	defer w.register.Unlock()
	w.mu.Lock()
	at, ok := w.registered[userID]
	w.mu.Unlock()
	if ok && time.Since(at) < watchTTL/2 {
		return nil
	}
	start := time.Now()
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO order_change_seqs AS c (user_id, seq) VALUES ($1, 0)
			ON CONFLICT (user_id) DO UPDATE SET seq = c.seq`, userID); err != nil {
			return err
		}
		return w.upsertWatcher(ctx, tx, userID)
	})
	if err != nil {
		return pgfault.From(fmt.Sprintf("register watcher of %q", userID), err)
	}
	w.mu.Lock()
	w.registered[userID] = start
	w.mu.Unlock()
	return nil
}

// refreshLoop keeps the rows of the subscribed users alive, forgets those
// of users without subscribers (their rows expire) and deletes expired
// rows, every watchRefresh until ctx is done.
func (w *Watcher) refreshLoop(ctx context.Context) {
	t := time.NewTicker(watchRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := w.refresh(ctx); err != nil && ctx.Err() == nil {
			w.logger.WarnContext(ctx, "order changes: refresh of watched users failed", slog.Any("error", err))
		}
	}
}

func (w *Watcher) refresh(ctx context.Context) error {
	w.register.Lock()
	defer w.register.Unlock()
	w.mu.Lock()
	users := make([]string, 0, len(w.subs))
	for u := range w.subs {
		users = append(users, u)
	}
	for u := range w.registered {
		if _, ok := w.subs[u]; !ok {
			delete(w.registered, u)
		}
	}
	w.mu.Unlock()
	start := time.Now()
	rows, _ := w.pool.Query(ctx, `UPDATE order_watchers SET expires_at = now() + make_interval(secs => $3)
		WHERE instance = $1 AND user_id = ANY($2) AND expires_at > now()
		RETURNING user_id`, w.instance, users, watchTTL.Seconds())
	alive, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	kept := make(map[string]bool, len(alive))
	for _, u := range alive {
		kept[u] = true
	}
	w.mu.Lock()
	for _, u := range users {
		if kept[u] {
			w.registered[u] = start
			continue
		}
		// Its row expired: changes may have gone unannounced. Its
		// subscribers resume from the log and register again.
		delete(w.registered, u)
		if s := w.subs[u]; s != nil {
			for ch := range s.chans {
				w.removeLocked(u, ch)
			}
		}
	}
	w.mu.Unlock()
	_, err = w.pool.Exec(ctx, `DELETE FROM order_watchers WHERE expires_at < now() - interval '1 minute'`)
	return err
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
