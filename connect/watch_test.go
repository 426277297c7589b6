package connect_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"shop/connect"
	schema "shop/sql"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// syncBuffer is a log sink that the test reads while Watch writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

// A task that FAILED (its publication is missing, which Debezium does not
// retry) is restarted by Watch, again while the cause persists, and runs
// once the cause is gone, with no call by hand.
func TestWatchRestartsFailedConnector(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := db.Owner.Exec(ctx, "DROP PUBLICATION "+schema.Publication); err != nil {
		t.Fatal(err)
	}
	conn, err := stacktest.Connector(db, env.ConnectorVars(db, env.NewTopic(t, "orders.events")))
	if err != nil {
		t.Fatal(err)
	}
	client, err := connect.NewClient(env.ConnectURL, env.ConnectCredentials())
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Apply(ctx, conn); err != nil {
		t.Fatalf("apply: %v", err)
	}
	t.Cleanup(func() {
		if err := client.Delete(context.Background(), conn.Name); err != nil && !connect.IsNotFound(err) {
			t.Logf("delete connector: %v", err)
		}
	})
	stacktest.WaitForNil(t, 2*time.Minute, "the task FAILED", func() error {
		s, err := client.Status(ctx, conn.Name)
		if err != nil {
			return err
		}
		if p := s.Problem(); !strings.Contains(p, "FAILED") {
			return fmt.Errorf("state: %q", p)
		}
		return nil
	})

	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- connect.Watch(ctx, client, []string{conn.Name}, 200*time.Millisecond, slog.New(slog.NewTextHandler(logs, nil)))
	}()
	// Restarted, failed again, restarted again: the cause is still there.
	stacktest.WaitFor(t, 2*time.Minute, "two restarts", func() bool { return logs.count("restarting failed connector") >= 2 })
	if s, err := client.Status(ctx, conn.Name); err != nil || s.Running() {
		t.Fatalf("status while the publication is missing = %+v, %v; want not running", s, err)
	}

	if _, err := db.Owner.Exec(ctx, "CREATE PUBLICATION "+schema.Publication+
		" FOR TABLE outbox, heartbeat WITH (publish = 'insert, update')"); err != nil {
		t.Fatal(err)
	}
	stacktest.WaitForNil(t, 2*time.Minute, "the connector running again", func() error {
		s, err := client.Status(ctx, conn.Name)
		if err != nil {
			return err
		}
		if p := s.Problem(); p != "" {
			return fmt.Errorf("%s", p)
		}
		return nil
	})
	stacktest.WaitFor(t, 30*time.Second, "Watch to log the recovery", func() bool { return logs.count("connector running again") == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch() = %v after ctx ended, want nil", err)
	}
}

func TestWatchNeedsIntervalAndNames(t *testing.T) {
	c, err := connect.NewClient("http://127.0.0.1:1", connect.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	if err := connect.Watch(context.Background(), c, []string{"x"}, 0, slog.Default()); err == nil {
		t.Error("Watch(interval 0) = nil, want an error")
	}
	if err := connect.Watch(context.Background(), c, nil, time.Second, slog.Default()); err == nil {
		t.Error("Watch(no names) = nil, want an error")
	}
}
