package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	schema "shop/sql"
)

// ErrUnconfirmed is returned by Purge when the connector's slot does not
// confirm that the rows are published: it is missing, has no consumer, or
// has not yet confirmed past the purge marker. Nothing was deleted; the
// outbox grows until the connector runs again.
var ErrUnconfirmed = errors.New("outbox rows not confirmed published by the connector's slot")

// batchSize bounds the rows one DELETE removes, so that a backlog is purged
// in short transactions.
var batchSize = 10_000

// Purge deletes the outbox rows created more than olderThan ago that the
// connector has published, in batches of batchSize, and returns how many it
// deleted. slot names the logical replication slot of the connector that
// publishes this database's outbox. Deletes are not published: the
// publication has inserts and updates only.
//
// A row is published once slot is active and has confirmed past the row's
// commit. A row's commit position is not stored; a marker stands for it
// (outbox_purge_marker, sql/cdc): a WAL position taken after every
// transaction below the marker's snapshot xmin had ended. A run deletes the
// rows of those transactions once slot is past the marker, then saves a new
// marker. A marker is kept until the slot passes it, so that a slot lagging
// more than a run still catches up, and saved only while slot is active, so
// that one taken before the slot existed cannot release rows its initial
// snapshot is still reading.
//
// A slot's confirmations count only for the slot the marker was taken
// with. A slot lost and created again under the same name (by a connector
// that then snapshots the outbox) starts past every old marker without
// having published a row before it: the marker records how much WAL the
// slot had decoded (pg_stat_replication_slots.total_bytes, which a new slot
// starts from zero), and a slot showing less is distrusted: Purge deletes
// nothing and saves a new marker, which the new slot passes only once its
// connector has published its snapshot and streams on. A marker taken while
// the slot showed nothing decoded (a new slot, or statistics lost in a
// crash) records no count and is distrusted the same way: a slot created
// again would match it.
//
// When slot is missing, inactive, not the marker's or not past the marker,
// Purge deletes nothing and returns an error wrapping ErrUnconfirmed.
// Several instances may run it at once: each DELETE checks the slot against
// the marker it uses, in the same statement.
func Purge(ctx context.Context, pool *pgxpool.Pool, slot string, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("purge outbox: retention must be positive, got %s", olderThan)
	}
	if slot == "" {
		return 0, errors.New("purge outbox: no replication slot named")
	}
	var (
		marked, exists, active, same, past bool
		markerLSN, confirmedLSN            string
	)
	err := pool.QueryRow(ctx, `SELECT m.wal_lsn IS NOT NULL, coalesce(m.wal_lsn::text, ''),
			s.slot_name IS NOT NULL, coalesce(s.active, false),
			coalesce(st.total_bytes >= m.slot_decoded_bytes, false),
			coalesce(s.confirmed_flush_lsn > m.wal_lsn, false), coalesce(s.confirmed_flush_lsn::text, '')
		FROM (SELECT 1) one
		LEFT JOIN outbox_purge_marker m ON true
		LEFT JOIN pg_replication_slots s ON s.slot_name = $1 AND s.database = current_database()
		LEFT JOIN pg_stat_replication_slots st ON st.slot_name = s.slot_name`,
		slot).Scan(&marked, &markerLSN, &exists, &active, &same, &past, &confirmedLSN)
	if err != nil {
		return 0, fmt.Errorf("purge outbox: %w", err)
	}
	switch {
	case !exists:
		return 0, fmt.Errorf("purge outbox: %w: slot %q does not exist in this database", ErrUnconfirmed, slot)
	case !active:
		return 0, fmt.Errorf("purge outbox: %w: slot %q is inactive (no connector streams from it)", ErrUnconfirmed, slot)
	case marked && !same:
		// Created again since the marker (or its statistics reset): its
		// confirmations say nothing of the rows before it. Start over.
		if err := mark(ctx, pool, slot); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("purge outbox: %w: slot %q is not the one the marker was taken with (created again, or its statistics reset); a new marker is saved", ErrUnconfirmed, slot)
	case marked && !past:
		return 0, fmt.Errorf("purge outbox: %w: slot %q has confirmed up to %s, not past the marker %s", ErrUnconfirmed, slot, confirmedLSN, markerLSN)
	}

	var deleted int64
	if marked {
		if deleted, err = deletePublished(ctx, pool, slot, olderThan); err != nil {
			return deleted, err
		}
	}
	if err := mark(ctx, pool, slot); err != nil {
		return deleted, err
	}
	return deleted, nil
}

// deletePublished deletes, batch by batch, the rows older than olderThan
// that the current marker covers, while slot confirms past it.
func deletePublished(ctx context.Context, pool *pgxpool.Pool, slot string, olderThan time.Duration) (int64, error) {
	// The marker and the slot are read by the statement that deletes:
	// another instance may replace the marker between batches.
	n, err := schema.DeleteInBatches(ctx, pool, batchSize, `DELETE FROM outbox WHERE id IN (
		SELECT o.id FROM outbox o
		JOIN outbox_purge_marker m ON o.txid < m.snapshot_xmin
		JOIN pg_replication_slots s ON s.slot_name = $1 AND s.database = current_database()
			AND s.active AND s.confirmed_flush_lsn > m.wal_lsn
		JOIN pg_stat_replication_slots st ON st.slot_name = s.slot_name
			AND st.total_bytes >= m.slot_decoded_bytes
		WHERE o.created_at < now() - make_interval(secs => $2)
		LIMIT $3)`, slot, olderThan.Seconds())
	if err != nil {
		return n, fmt.Errorf("purge outbox: %w", err)
	}
	return n, nil
}

// mark saves a new marker if slot is active, with the WAL the slot has
// decoded so far. The statement's snapshot is taken before it reads the WAL
// position, so every transaction below the snapshot's xmin had written its
// commit record before that position.
func mark(ctx context.Context, pool *pgxpool.Pool, slot string) error {
	_, err := pool.Exec(ctx, `INSERT INTO outbox_purge_marker AS m (wal_lsn, snapshot_xmin, slot_decoded_bytes)
		SELECT pg_current_wal_insert_lsn(), pg_snapshot_xmin(pg_current_snapshot()), nullif(st.total_bytes, 0)
		FROM pg_replication_slots s
		JOIN pg_stat_replication_slots st ON st.slot_name = s.slot_name
		WHERE s.slot_name = $1 AND s.database = current_database() AND s.active
		ON CONFLICT (id) DO UPDATE SET wal_lsn = excluded.wal_lsn,
			snapshot_xmin = excluded.snapshot_xmin, slot_decoded_bytes = excluded.slot_decoded_bytes,
			taken_at = now()`, slot)
	if err != nil {
		return fmt.Errorf("purge outbox: save marker: %w", err)
	}
	return nil
}
