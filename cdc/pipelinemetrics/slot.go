package pipelinemetrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// slotWatch refreshes the gauges of one replication slot and of the
// connector streaming it: shop_replication_slot_active,
// shop_replication_slot_lag_bytes and shop_connector_up. Only its job uses
// it, one refresh at a time.
type slotWatch struct {
	pool      *pgxpool.Pool
	slot      string
	connector string
	progress  progress
}

// slotState is a slot's row of pg_replication_slots, as a refresh sees it.
type slotState struct {
	// exists is false when the database has no such slot.
	exists bool
	// active is true while a walsender streams the slot to its consumer.
	active bool
	// confirmed is confirmed_flush_lsn as text, empty while NULL.
	confirmed string
	// lag is the WAL bytes the slot holds (pg_current_wal_lsn() minus
	// confirmed_flush_lsn), nil while confirmed_flush_lsn is NULL.
	lag *int64
}

func (w *slotWatch) refresh(ctx context.Context) error {
	var (
		st        = slotState{exists: true}
		confirmed *string
	)
	err := w.pool.QueryRow(ctx, `SELECT active, confirmed_flush_lsn::text, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
		FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()`, w.slot).Scan(&st.active, &confirmed, &st.lag)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		st = slotState{}
	case err != nil:
		// Unknown is not streaming: the alert would rather fire than miss.
		connectorUp.WithLabelValues(w.connector).Set(0)
		return fmt.Errorf("read replication slot %s: %w", w.slot, err)
	case confirmed != nil:
		st.confirmed = *confirmed
	}
	slotActive.WithLabelValues(w.slot).Set(boolValue(st.active))
	switch {
	case !st.exists:
		slotLag.DeleteLabelValues(w.slot)
	case st.lag != nil:
		slotLag.WithLabelValues(w.slot).Set(float64(max(*st.lag, 0)))
	}
	connectorUp.WithLabelValues(w.connector).Set(boolValue(w.progress.streaming(time.Now(), st)))
	return nil
}

// progress remembers since when a slot's confirmed_flush_lsn has stood
// still, to tell a connector that streams from one that holds the slot
// open but confirms nothing (paused, or stuck on Kafka).
type progress struct {
	stallAfter time.Duration
	seen       bool      // the slot was active at the last refresh
	lsn        string    // confirmed_flush_lsn then
	since      time.Time // when lsn was first seen
}

// streaming reports whether the connector streams the slot st at now: the
// slot is active (a walsender streams it) and either holds no WAL or has
// confirmed some within the last stallAfter. The first sight of an active
// slot counts as progress, so a service that starts, or a connector that
// comes back, is given a full stallAfter.
func (p *progress) streaming(now time.Time, st slotState) bool {
	if !st.exists || !st.active {
		p.seen = false
		return false
	}
	if !p.seen || st.confirmed != p.lsn {
		p.seen, p.lsn, p.since = true, st.confirmed, now
	}
	if st.lag == nil || *st.lag <= 0 {
		return true
	}
	return now.Sub(p.since) < p.stallAfter
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
