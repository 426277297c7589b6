package app

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"shop/gateway/httpapi"
)

// Stream configures the order status stream, GET /api/v1/orders/stream.
type Stream struct {
	// Heartbeat is the interval of the comment line sent on an idle stream.
	Heartbeat time.Duration `env:"GATEWAY_STREAM_HEARTBEAT, default=15s"`
	// Retry is the reconnection delay advised to clients (retry:).
	Retry time.Duration `env:"GATEWAY_STREAM_RETRY, default=2s"`
	// MaxPerUser is how many streams one identity may hold open on one
	// gateway; one more ends the identity's oldest.
	MaxPerUser int `env:"GATEWAY_STREAM_MAX_PER_USER, default=5"`
	// Max is how many streams one gateway holds open; one more is 503
	// with Retry-After.
	Max int `env:"GATEWAY_STREAM_MAX, default=10000"`
	// WriteTimeout drops a client that does not read an event for that
	// long.
	WriteTimeout time.Duration `env:"GATEWAY_STREAM_WRITE_TIMEOUT, default=10s"`
}

// Validate reports every invalid field of s.
func (s Stream) Validate() error {
	var errs []error
	if s.Heartbeat < 100*time.Millisecond || s.Heartbeat > 5*time.Minute {
		errs = append(errs, fmt.Errorf("GATEWAY_STREAM_HEARTBEAT must be 100ms to 5m, got %s", s.Heartbeat))
	}
	if s.Retry < 100*time.Millisecond || s.Retry > time.Minute {
		errs = append(errs, fmt.Errorf("GATEWAY_STREAM_RETRY must be 100ms to 1m, got %s", s.Retry))
	}
	if s.MaxPerUser < 1 || s.MaxPerUser > 1000 {
		errs = append(errs, fmt.Errorf("GATEWAY_STREAM_MAX_PER_USER must be 1 to 1000, got %d", s.MaxPerUser))
	}
	if s.Max < 1 || s.Max > 1000000 {
		errs = append(errs, fmt.Errorf("GATEWAY_STREAM_MAX must be 1 to 1000000, got %d", s.Max))
	}
	if s.WriteTimeout < 100*time.Millisecond || s.WriteTimeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("GATEWAY_STREAM_WRITE_TIMEOUT must be 100ms to 5m, got %s", s.WriteTimeout))
	}
	return errors.Join(errs...)
}

// options returns the router's stream options, ending the streams when
// stop is closed and counting them in running.
func (s Stream) options(stop <-chan struct{}, running *sync.WaitGroup) httpapi.StreamOptions {
	return httpapi.StreamOptions{
		Heartbeat:    s.Heartbeat,
		Retry:        s.Retry,
		MaxPerUser:   s.MaxPerUser,
		Max:          s.Max,
		WriteTimeout: s.WriteTimeout,
		Stop:         stop,
		Running:      running,
	}
}
