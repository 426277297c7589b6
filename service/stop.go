package service

import (
	"context"
	"log/slog"
	"time"
)

// GracefulStopper is a server that can drain in-flight calls or drop them;
// *grpc.Server is one.
type GracefulStopper interface {
	// GracefulStop stops accepting calls and blocks until the running ones
	// finish.
	GracefulStop()
	// Stop closes every connection and cancels the running calls.
	Stop()
}

// StopGracefully stops srv with GracefulStop, and if that has not returned
// within timeout, forces it with Stop. It returns once GracefulStop has
// returned, so the server is fully stopped either way. A timeout of zero or
// less forces the stop at once.
func StopGracefully(srv GracefulStopper, timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		srv.Stop()
		<-done
	}
}

// RunEvery runs job at once, then every interval, until ctx is done; it
// returns after the run in progress when ctx is done. A run that returns an
// error is logged at error level as failMsg with the error under "error",
// and the job simply runs again at the next tick: a failing dependency must
// not stop the service. An error returned once ctx is done is not logged,
// since the job was interrupted rather than failing.
//
// Runs never overlap: a tick missed while a run is in progress is dropped.
// interval must be positive; RunEvery panics otherwise, as time.NewTicker
// does.
func RunEvery(ctx context.Context, interval time.Duration, logger *slog.Logger, failMsg string, job func(context.Context) error) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := job(ctx); err != nil && ctx.Err() == nil {
			logger.ErrorContext(ctx, failMsg, slog.Any("error", err))
		}
		// A select with both cases ready picks one at random: without this
		// check a tick could start one more run after ctx is done.
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
