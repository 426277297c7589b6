package service_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"shop/service"
)

// fakeServer is a GracefulStopper whose GracefulStop blocks until drained is
// closed or Stop is called, like a grpc.Server with calls in flight.
type fakeServer struct {
	drained     chan struct{}
	stopped     chan struct{}
	stopCalls   atomic.Int32
	gracefulRet atomic.Bool
}

func newFakeServer(drains bool) *fakeServer {
	s := &fakeServer{drained: make(chan struct{}), stopped: make(chan struct{})}
	if drains {
		close(s.drained)
	}
	return s
}

func (s *fakeServer) GracefulStop() {
	select {
	case <-s.drained:
	case <-s.stopped:
	}
	s.gracefulRet.Store(true)
}

func (s *fakeServer) Stop() {
	if s.stopCalls.Add(1) == 1 {
		close(s.stopped)
	}
}

func TestStopGracefully(t *testing.T) {
	tests := []struct {
		name     string
		drains   bool // the in-flight calls finish on their own
		timeout  time.Duration
		wantStop bool
	}{
		{name: "DrainsWithinTimeout", drains: true, timeout: time.Minute, wantStop: false},
		{name: "ForcedAfterTimeout", drains: false, timeout: 10 * time.Millisecond, wantStop: true},
		{name: "ZeroTimeoutForcesAtOnce", drains: false, timeout: 0, wantStop: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(tt.drains)
			returned := make(chan struct{})
			go func() {
				defer close(returned)
				service.StopGracefully(srv, tt.timeout)
			}()
			select {
			case <-returned:
			case <-time.After(10 * time.Second):
				t.Fatal("StopGracefully did not return: the server was never forced to stop")
			}
			if got := srv.stopCalls.Load() > 0; got != tt.wantStop {
				t.Errorf("Stop called = %t, want %t", got, tt.wantStop)
			}
			if !srv.gracefulRet.Load() {
				t.Errorf("StopGracefully returned before GracefulStop did")
			}
		})
	}
}

func TestRunEvery(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name          string
		interval      time.Duration
		cancelFirst   bool    // ctx is done before RunEvery starts
		results       []error // what run i returns; the last run cancels ctx first
		wantFailures  int     // "job failed" log lines
		wantErrLogged string
	}{
		{name: "FirstRunAtOnce", interval: time.Hour, results: []error{nil}},
		{name: "RunsEveryInterval", interval: time.Millisecond, results: []error{nil, nil, nil}},
		{name: "FailureLoggedAndRetried", interval: time.Millisecond, results: []error{errBoom, errBoom, nil}, wantFailures: 2, wantErrLogged: "boom"},
		{name: "ErrorWhileStoppingNotLogged", interval: time.Hour, results: []error{errBoom}},
		{name: "DoneBeforeStartRunsOnce", interval: time.Hour, cancelFirst: true, results: []error{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelFirst {
				cancel()
			}
			calls := 0
			done := make(chan struct{})
			go func() {
				defer close(done)
				service.RunEvery(ctx, tt.interval, logger, "job failed", func(context.Context) error {
					calls++
					if calls >= len(tt.results) {
						cancel()
						return tt.results[len(tt.results)-1]
					}
					return tt.results[calls-1]
				})
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("RunEvery did not return after ctx was cancelled")
			}
			if calls != len(tt.results) {
				t.Errorf("got %d runs, want %d", calls, len(tt.results))
			}
			if got := strings.Count(logs.String(), "job failed"); got != tt.wantFailures {
				t.Errorf("got %d failure log lines, want %d; logs:\n%s", got, tt.wantFailures, logs.String())
			}
			if tt.wantErrLogged != "" && !strings.Contains(logs.String(), "error="+tt.wantErrLogged) {
				t.Errorf("logs lack error=%s:\n%s", tt.wantErrLogged, logs.String())
			}
		})
	}
}

func TestPurgeLogsDeletedRows(t *testing.T) {
	tests := []struct {
		name    string
		rows    int64
		err     error
		wantLog string
	}{
		{name: "RowsLogged", rows: 3, wantLog: "rows=3"},
		{name: "NothingDeletedQuiet", rows: 0},
		{name: "FailureLogged", err: errors.New("boom"), wantLog: "error=boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			ctx, cancel := context.WithCancel(context.Background())
			calls := 0
			job := service.Purge("outbox purge", time.Millisecond, logger, func(context.Context) (int64, error) {
				if calls++; calls > 1 { // the second run ends the job
					cancel()
					return 0, nil
				}
				return tt.rows, tt.err
			})
			if err := job.Run(ctx); err != nil {
				t.Fatalf("Run() = %v, want nil", err)
			}
			if got := logs.String(); (tt.wantLog == "") != (got == "") || !strings.Contains(got, tt.wantLog) {
				t.Errorf("logs %q, want them to contain %q", got, tt.wantLog)
			}
		})
	}
}
