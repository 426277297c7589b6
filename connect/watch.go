package connect

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// MaxRestartPause bounds the pause Watch leaves between two restarts of a
// connector that keeps failing.
const MaxRestartPause = 5 * time.Minute

// callTimeout bounds one REST call of Watch, so that a hung worker delays
// the watch of the other connectors by no more than that.
const callTimeout = 30 * time.Second

// Watch keeps the named connectors running without a person, as a
// supervisor restarts a process: every interval it reads each connector's
// status and, when the connector or one of its tasks is FAILED, restarts
// the failed parts (RestartFailed: POST
// /connectors/{name}/restart?includeTasks=true&onlyFailed=true). Debezium
// retries connection errors itself (errors.max.retries -1); Watch covers
// what it gives up on, such as a replication slot held by a dead
// connection or a publication missing for a while.
//
// A connector found FAILED again is restarted after a pause that doubles
// from interval up to MaxRestartPause, so a cause that persists is retried
// forever without hammering Connect; the pause starts over once the
// connector and all its tasks run. Every restart, and every status that
// cannot be read, is logged. Watch returns nil when ctx ends, and an error
// only for an interval that is not positive or no names.
func Watch(ctx context.Context, c *Client, names []string, interval time.Duration, logger *slog.Logger) error {
	if interval <= 0 {
		return errors.New("watch connectors: interval must be positive")
	}
	if len(names) == 0 {
		return errors.New("watch connectors: no connector named")
	}
	type restarts struct {
		n     int       // restarts since the connector last ran
		next  time.Time // no restart before
		pause *backoff.ExponentialBackOff
	}
	state := make(map[string]*restarts, len(names))
	for _, n := range names {
		state[n] = &restarts{pause: restartBackOff(interval)}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		for _, name := range names {
			r := state[name]
			callCtx, cancel := context.WithTimeout(ctx, callTimeout)
			s, err := c.Status(callCtx, name)
			cancel()
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				logger.WarnContext(ctx, "connector status unknown", slog.String("connector", name), slog.Any("error", err))
				continue
			case s.Running():
				if r.n > 0 {
					logger.InfoContext(ctx, "connector running again", slog.String("connector", name), slog.Int("restarts", r.n))
				}
				r.n, r.next = 0, time.Time{}
				r.pause.Reset()
				continue
			case !failed(s) || time.Now().Before(r.next):
				continue
			}
			r.n++
			pause := r.pause.NextBackOff()
			r.next = time.Now().Add(pause)
			logger.WarnContext(ctx, "restarting failed connector", slog.String("connector", name),
				slog.String("problem", s.Problem()), slog.Int("restart", r.n), slog.Duration("next_after", pause))
			callCtx, cancel = context.WithTimeout(ctx, callTimeout)
			err = c.RestartFailed(callCtx, name)
			cancel()
			if err != nil && ctx.Err() == nil {
				logger.ErrorContext(ctx, "restart failed connector", slog.String("connector", name), slog.Any("error", err))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// failed reports whether the connector or one of its tasks is FAILED.
func failed(s State) bool {
	if s.Connector.State == "FAILED" {
		return true
	}
	for _, t := range s.Tasks {
		if t.State == "FAILED" {
			return true
		}
	}
	return false
}

// restartBackOff gives the pauses after the restarts of a connector that
// keeps failing: interval, doubling up to MaxRestartPause (and never below
// interval).
func restartBackOff(interval time.Duration) *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: interval, Multiplier: 2, MaxInterval: max(MaxRestartPause, interval)}
}
