// Package idempotency records idempotency keys in the transaction of the
// effect they guard and replays the stored response of a repeated request.
// Both services' databases have the same idempotency_keys table (migrations
// sql/orders and sql/payments): each store keeps only its request hash and
// the type of its stored response, kept as JSON.
package idempotency

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/service/fault"
	"shop/sql/pgfault"

	schema "shop/sql"
)

// Key identifies one use of an idempotency key: the caller, the key, and the
// hash of the canonical request.
type Key struct {
	UserID, Key string
	Hash        []byte
}

// DefaultWait bounds how long a claim waits for a concurrent request holding
// the same key, for a caller whose deadline leaves more (see Claim).
const DefaultWait = 10 * time.Second

// A claim's wait leaves a margin of its caller's deadline for the answer to
// travel back (the rollback, the gRPC reply, the gateway's mapping), so that
// the caller gets IDEMPOTENCY_KEY_IN_USE rather than its own timeout: a
// quarter of the time left, at least deadlineMargin (250 ms was too little on
// a loaded 2-core machine: the gateway's 3 s deadline came first, seen in CI).
// It waits at least minWait, however close the deadline.
const (
	deadlineMargin = 250 * time.Millisecond
	minWait        = 10 * time.Millisecond
)

// Claim records k within tx (the transaction of the effect) with response,
// kept as JSON, and createdAt. response may be nil: the caller then stores
// it with SaveResponse in the same tx once it has one. R's JSON shape is
// persistent: change it compatibly.
//
// Claim returns (nil, nil) when this request is the first with the key: the
// caller then does the effect, and the key is recorded if tx commits. When
// an earlier request with the same hash committed, it returns that request's
// stored response and the caller does nothing. Errors:
//   - the key was used with another hash: fault.FailedPrecondition with
//     reason IDEMPOTENCY_KEY_REUSED;
//   - a concurrent first use holds the key: Claim waits until it commits or
//     rolls back, for at most wait (0: no bound; it must not be negative)
//     and, when ctx has a deadline, at most until deadlineMargin before it
//     (so the caller gets this answer, not its own timeout), then
//     fault.Aborted with reason IDEMPOTENCY_KEY_IN_USE;
//   - the key was purged between the insert and the read: fault.Aborted with
//     reason IDEMPOTENCY_KEY_IN_USE (a retry starts afresh).
//
// The bound applies to the claim only: the transaction's lock_timeout and
// statement_timeout are restored before Claim returns. The insert runs with
// a statement_timeout a second longer than its wait, so that a pool's
// shorter one does not turn the wait into a failure. On any error tx must
// be rolled back.
func Claim[R any](ctx context.Context, tx pgx.Tx, k Key, response *R, createdAt time.Time, wait time.Duration) (stored *R, err error) {
	encoded := []byte{} // the column is NOT NULL; SaveResponse fills it
	if response != nil {
		if encoded, err = json.Marshal(response); err != nil {
			return nil, fmt.Errorf("encode idempotent response: %w", err)
		}
	}
	// One round trip: save the timeouts in force, bound the insert, restore
	// them.
	wait = claimWait(ctx, wait)
	stmtTimeout := time.Duration(0)
	if wait > 0 {
		stmtTimeout = wait + time.Second
	}
	var inserted bool
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('shop.saved_lock_timeout', current_setting('lock_timeout'), true),
		set_config('shop.saved_statement_timeout', current_setting('statement_timeout'), true)`)
	b.Queue(`SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)`,
		setting(wait), setting(stmtTimeout))
	b.Queue(`INSERT INTO idempotency_keys (user_id, key, request_hash, response, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, key) DO NOTHING`,
		k.UserID, k.Key, k.Hash, encoded, createdAt).Exec(func(tag pgconn.CommandTag) error {
		inserted = tag.RowsAffected() == 1
		return nil
	})
	b.Queue(`SELECT set_config('lock_timeout', current_setting('shop.saved_lock_timeout'), true),
		set_config('statement_timeout', current_setting('shop.saved_statement_timeout'), true)`)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, pgfault.From("claim idempotency key", err)
	}
	if inserted {
		return nil, nil
	}
	// The key was committed by an earlier request. In READ COMMITTED this
	// statement sees it.
	var storedHash []byte
	err = tx.QueryRow(ctx, `SELECT request_hash, response FROM idempotency_keys WHERE user_id = $1 AND key = $2`,
		k.UserID, k.Key).Scan(&storedHash, &encoded)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fault.Errorf(fault.Aborted, "idempotency key is being replaced, retry").
			WithReason(fault.ReasonIdempotencyKeyInUse)
	}
	if err != nil {
		return nil, pgfault.From("read idempotency key", err)
	}
	if !bytes.Equal(storedHash, k.Hash) {
		return nil, fault.Errorf(fault.FailedPrecondition, "idempotency key was used with a different request").
			WithReason(fault.ReasonIdempotencyKeyReused)
	}
	if len(encoded) == 0 {
		return nil, fmt.Errorf("read idempotency key %q of %s: no stored response", k.Key, k.UserID)
	}
	stored = new(R)
	if err := json.Unmarshal(encoded, stored); err != nil {
		return nil, fmt.Errorf("decode idempotent response: %w", err)
	}
	return stored, nil
}

// claimWait is how long a claim bounded by wait may wait under ctx: wait,
// shortened to the time left before ctx's deadline less the margin (a
// quarter of it, at least deadlineMargin), but at least minWait.
func claimWait(ctx context.Context, wait time.Duration) time.Duration {
	deadline, ok := ctx.Deadline()
	if !ok {
		return wait
	}
	until := time.Until(deadline)
	left := max(until-max(deadlineMargin, until/4), minWait)
	if wait == 0 || left < wait {
		return left
	}
	return wait
}

// setting is d as a timeout setting, rounded up to the milliseconds
// Postgres counts, so that a positive d stays bounded (0 is no bound).
func setting(d time.Duration) string {
	ms := d.Milliseconds()
	if d > 0 && d%time.Millisecond != 0 {
		ms++
	}
	return fmt.Sprintf("%dms", ms)
}

// SaveResponse stores response, as JSON, with k, which Claim recorded
// earlier in tx without one. It returns an error when tx holds no such
// claim.
func SaveResponse[R any](ctx context.Context, tx pgx.Tx, k Key, response R) error {
	encoded, err := json.Marshal(response)
	if err != nil {
		return fmt.Errorf("encode idempotent response: %w", err)
	}
	tag, err := tx.Exec(ctx, `UPDATE idempotency_keys SET response = $3 WHERE user_id = $1 AND key = $2`,
		k.UserID, k.Key, encoded)
	if err != nil {
		return pgfault.From("save idempotent response", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("save idempotent response: key %q of %s not claimed", k.Key, k.UserID)
	}
	return nil
}

// PurgeBatch is how many keys one statement of Purge deletes at most. Each
// batch commits on its own, so that however many keys are due the purge
// holds its locks briefly and no statement nears the pool's
// statement_timeout.
const PurgeBatch = 1000

// Purge deletes the keys created more than olderThan before now (the
// clock the keys' createdAt came from), oldest first in batches of
// PurgeBatch, and returns how many it deleted, also when a batch fails. A
// repeat of a purged key is a new request. olderThan must be positive. It is
// safe to run concurrently with claims.
func Purge(ctx context.Context, pool *pgxpool.Pool, now time.Time, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("purge idempotency keys: retention must be positive, got %s", olderThan)
	}
	cutoff := now.Add(-olderThan)
	n, err := schema.DeleteInBatches(ctx, pool, PurgeBatch, `DELETE FROM idempotency_keys WHERE (user_id, key) IN (
			SELECT user_id, key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2)
		AND created_at < $1`, cutoff)
	if err != nil {
		return n, pgfault.From("purge idempotency keys", err)
	}
	return n, nil
}
