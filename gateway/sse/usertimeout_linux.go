package sse

import (
	"errors"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SetUserTimeout sets TCP_USER_TIMEOUT on conn: data the peer has not
// acknowledged for d ends the connection (its reads and writes fail). A
// stream whose client vanished without closing (a phone that changed
// networks: a half-open socket) is then noticed by its next heartbeat
// within d, instead of after the kernel's retransmissions give up (about
// 15 minutes with tcp_retries2 = 15). Linux only; elsewhere it does
// nothing. A conn without a socket (not a syscall.Conn) is left alone.
func SetUserTimeout(conn net.Conn, d time.Duration) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
	})
	return errors.Join(err, serr)
}

// UserTimeout returns conn's TCP_USER_TIMEOUT (0: the kernel's default),
// as SetUserTimeout left it. Linux only; elsewhere it returns 0.
func UserTimeout(conn net.Conn) (time.Duration, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, errors.New("user timeout: not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var ms int
	var gerr error
	err = raw.Control(func(fd uintptr) {
		ms, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	})
	return time.Duration(ms) * time.Millisecond, errors.Join(err, gerr)
}
