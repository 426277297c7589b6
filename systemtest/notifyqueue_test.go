package systemtest_test

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"shop/stack/stacktest"
	"shop/systemtest/system"
)

// stoppedListener starts psql on url, has it LISTEN on channel and, once
// pool sees it listening, stops it (SIGSTOP) until the test ends: a
// listener that no longer reads, as an orders instance under SIGSTOP.
func stoppedListener(t *testing.T, pool *pgxpool.Pool, url, channel string) {
	t.Helper()
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql not installed")
	}
	cmd := exec.Command(psql, "-X", "-q", url)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if _, err := io.WriteString(stdin, "LISTEN "+channel+";\n"); err != nil {
		t.Fatal(err)
	}
	stacktest.WaitForNil(t, 30*time.Second, "psql listening", func() error {
		var n int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle' AND query ILIKE $1`, "LISTEN "+channel+"%").Scan(&n)
		if err == nil && n == 0 {
			err = fmt.Errorf("no session listens on %s", channel)
		}
		return err
	})
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
}

// A listener that stops reading while Postgres' notification queue holds
// its notifications does not stop payments: orders are paid (the
// transaction that applies a payment result notifies nothing), and the
// order stream still gets the change. The queue is not filled to its 8 GB
// here; TestPaymentTransactionNotifiesNothing (orders/postgres) shows the
// money transaction has no NOTIFY left to fail.
func TestStoppedListenerDoesNotStopPayments(t *testing.T) {
	t.Parallel()
	s := startShop(t, system.Options{})
	ctx := context.Background()
	s.openAccount(t, "alice", 10_000)
	const channel = "stopped_listener_test"
	stoppedListener(t, s.OrdersDB.Pool, s.OrdersDB.URL, channel)
	// More than the socket buffers between the stopped psql and its
	// backend hold: the backend blocks on its socket, and the queue keeps
	// everything from its position on.
	if _, err := s.OrdersDB.Pool.Exec(ctx, `SELECT pg_notify($1, i || repeat('x', 7900))
		FROM generate_series(1, 4000) AS i`, channel); err != nil {
		t.Fatal(err)
	}
	var usage float64
	stacktest.WaitForNil(t, 30*time.Second, "the queue held by the stopped listener", func() error {
		if err := s.OrdersDB.Pool.QueryRow(ctx, `SELECT pg_notification_queue_usage()`).Scan(&usage); err != nil {
			return err
		}
		if usage == 0 {
			return fmt.Errorf("queue usage 0")
		}
		return nil
	})

	stream := openStream(t, s.URL, "alice", "", nil)
	stream.first(t)
	o, err := s.createOrder(ctx, "alice", 1_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PENDING", "PAID"} {
		c, ok := stream.next(t, settleTimeout)
		if !ok {
			t.Fatalf("stream ended: %v", stream.err)
		}
		if c.order.ID != o.ID || c.order.Status != want {
			t.Fatalf("stream: %+v, want order %s %s", c.order, o.ID, want)
		}
	}
	if rest := s.restOrder(t, "alice", o.ID); rest.Status != "PAID" {
		t.Errorf("order %s is %s, want PAID", o.ID, rest.Status)
	}
	var still float64
	if err := s.OrdersDB.Pool.QueryRow(ctx, `SELECT pg_notification_queue_usage()`).Scan(&still); err != nil || still == 0 {
		t.Errorf("queue usage %v (%v) after the payment, want the stopped listener still holding it", still, err)
	}
}
