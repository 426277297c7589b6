package stacktest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// pollInterval is how often WaitFor and WaitForNil look again.
const pollInterval = 20 * time.Millisecond

// errNotYet is what a WaitFor condition that does not hold yet amounts to.
var errNotYet = errors.New("condition not met")

// WaitFor polls cond every 20 ms until it returns true, and fails the test
// when timeout passes first. what names the awaited state in the failure.
// It is the one way tests wait here: never a bare time.Sleep loop. cond runs
// on the calling goroutine, so it may fail the test itself.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	WaitForNil(t, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

// WaitForNil is WaitFor for a check that can say why it does not hold yet:
// it polls check every 20 ms until it returns nil, and when timeout passes
// first it fails the test with what and the last error check returned (the
// state seen last, such as "3 of 5 rows").
func WaitForNil(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			if errors.Is(err, errNotYet) {
				t.Fatalf("timed out after %s waiting for %s", timeout, what)
			}
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		<-tick.C
	}
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago, for a server a test starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Count runs query, which selects one integer (a count), on pool and
// returns it; a failing query fails the test.
func Count(t testing.TB, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
