package sse

import (
	"net"
	"testing"
	"time"
)

// userTimeout reads TCP_USER_TIMEOUT of conn.
func userTimeout(t *testing.T, conn net.Conn) time.Duration {
	t.Helper()
	d, err := UserTimeout(conn)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSetUserTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if got := userTimeout(t, server); got != 0 {
		t.Fatalf("before: %s, want the kernel's default 0", got)
	}
	if err := SetUserTimeout(server, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := userTimeout(t, server); got != 30*time.Second {
		t.Errorf("got %s, want 30s", got)
	}
	// A connection without a socket is left alone.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := SetUserTimeout(a, time.Second); err != nil {
		t.Errorf("pipe: %v, want nil", err)
	}
}
