package inbox

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// permanent reports whether err, returned while applying one message, means
// that the message can never be applied, so that it is dead-lettered and its
// partition moves on; every other error is transient: the batch is rolled
// back and retried with backoff, and the partition waits.
//
// Permanent are an Undecodable error (bad JSON, unknown type, invalid
// fields: the ApplyFunc says so), and the Postgres errors that the same
// statement with the same message would raise again: a data exception
// (SQLSTATE class 22: invalid text such as a NUL or bad UTF-8, a value out
// of range) and a check violation (23514). Everything else (lost
// connections, timeouts, deadlocks, serialization failures, unique or
// foreign-key violations, which a concurrent transaction can cause) may
// succeed on a retry: a database outage must stall a partition, never
// dead-letter it.
func permanent(err error) bool {
	if err == nil {
		return false
	}
	if IsUndecodable(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return len(pgErr.Code) == 5 && pgErr.Code[:2] == "22" || pgErr.Code == "23514"
}
