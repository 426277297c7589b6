package stacktest_test

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"shop/stack/stacktest"
)

// fatalT records the failure of a wait and ends its goroutine, as
// testing.T.Fatalf does.
type fatalT struct {
	testing.TB
	failure string
}

func (f *fatalT) Helper() {}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.failure = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failure runs wait with a fatalT and returns how it failed ("" when it
// returned).
func failure(wait func(t testing.TB)) string {
	f := &fatalT{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait(f)
	}()
	<-done
	return f.failure
}

func TestWaitFor(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		calls := 0
		got := failure(func(tb testing.TB) {
			stacktest.WaitFor(tb, time.Minute, "the third call", func() bool { calls++; return calls == 3 })
		})
		if got != "" || calls != 3 {
			t.Errorf("failure %q after %d calls, want none after 3", got, calls)
		}
	})
	t.Run("ErrTimeout", func(t *testing.T) {
		start := time.Now()
		got := failure(func(tb testing.TB) {
			stacktest.WaitFor(tb, 100*time.Millisecond, "never", func() bool { return false })
		})
		if want := "timed out after 100ms waiting for never"; got != want {
			t.Errorf("failure %q, want %q", got, want)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("gave up after %s, before the timeout", d)
		}
	})
}

func TestWaitForNil(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		calls := 0
		got := failure(func(tb testing.TB) {
			stacktest.WaitForNil(tb, time.Minute, "the second call", func() error {
				if calls++; calls < 2 {
					return errors.New("first call")
				}
				return nil
			})
		})
		if got != "" || calls != 2 {
			t.Errorf("failure %q after %d calls, want none after 2", got, calls)
		}
	})
	t.Run("ErrTimeoutNamesLastState", func(t *testing.T) {
		calls := 0
		got := failure(func(tb testing.TB) {
			stacktest.WaitForNil(tb, 50*time.Millisecond, "rows", func() error {
				calls++
				return fmt.Errorf("%d rows", calls)
			})
		})
		if want := fmt.Sprintf("timed out after 50ms waiting for rows: %d rows", calls); got != want {
			t.Errorf("failure %q, want %q", got, want)
		}
	})
}

func TestFreeAddr(t *testing.T) {
	addr := stacktest.FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") || addr == "127.0.0.1:0" {
		t.Fatalf("FreeAddr = %q, want 127.0.0.1 with a port", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on the free address: %v", err)
	}
	ln.Close()
}
