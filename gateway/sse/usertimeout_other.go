//go:build !linux

package sse

import (
	"net"
	"time"
)

// SetUserTimeout does nothing outside Linux (see the Linux version).
func SetUserTimeout(conn net.Conn, d time.Duration) error { return nil }

// UserTimeout returns 0 outside Linux (see the Linux version).
func UserTimeout(conn net.Conn) (time.Duration, error) { return 0, nil }
