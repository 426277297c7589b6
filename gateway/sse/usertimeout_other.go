//go:build !linux

package sse

import (
	"net"
	"time"
)

// SetUserTimeout does nothing outside Linux (see the Linux version).
func SetUserTimeout(conn net.Conn, d time.Duration) error { return nil }
