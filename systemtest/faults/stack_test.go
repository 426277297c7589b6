package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"shop/stack/jars"
	"shop/stack/local"
)

// backTimeout bounds how long a killed component may take to be restarted
// and ready again.
const backTimeout = 3 * time.Minute

// shop is the whole system of the matrix on a stack of its own, the client
// that drives it and the pools that read its databases.
type shop struct {
	sys                  *local.System
	client               *client
	ordersDB, paymentsDB *pgxpool.Pool
	// reported holds the problems already reported, so that one that lasts
	// is reported once.
	reported map[string]bool
}

// startShop starts Postgres, Kafka, Kafka Connect with the connectors, two
// instances of orders and of payments and the gateway, all supervised, in a
// temporary directory on free ports without fsync; they are stopped and
// removed when the test ends. It never touches another stack.
func startShop(t *testing.T, log *slog.Logger) *shop {
	t.Helper()
	dir, err := os.MkdirTemp("", "shop-faults-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of the failed run kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	// Postgres runs as the postgres user when we are root: let it in.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	var sys *local.System
	// The free ports are chosen before they are bound: a test of another
	// package running meanwhile can take one first. Start again on new
	// ports then, in a fresh directory.
	for attempt := 1; ; attempt++ {
		data := filepath.Join(dir, fmt.Sprintf("try%d", attempt))
		if err := os.Mkdir(data, 0o755); err != nil {
			t.Fatal(err)
		}
		sys, err = local.StartSystem(ctx, local.SystemConfig{
			Config: local.Config{
				DataDir:           data,
				CacheDir:          jars.DefaultCacheDir(),
				SuperuserPassword: "postgres", ReplicationPassword: "debezium",
			},
			// The matrix drives FAULTS_RATE orders/s through FAULTS_USERS
			// accounts, with bursts of retries after each fault: it
			// measures the pipeline, not the edge, so the gateway's
			// per-identity rate limit is off.
			Env:               append(purgeEnv(), "GATEWAY_RATE_LIMIT=0"),
			Services:          true,
			Root:              root,
			BinDir:            filepath.Join(dir, "bin"),
			OrdersInstances:   2,
			PaymentsInstances: 2,
		}, log)
		_, taken := errors.AsType[*local.PortInUseError](err)
		if (taken || err != nil && strings.Contains(err.Error(), "already in use")) && attempt < 3 {
			log.Warn("a free port was taken meanwhile, starting again", "error", err)
			continue
		}
		break
	}
	if err != nil {
		t.Fatalf("start the shop: %v", err)
	}
	t.Cleanup(sys.Stop)
	log.Info("shop running", "took", time.Since(start).Round(time.Millisecond), "gateway", sys.GatewayURL(), "dir", dir)

	checkGOMAXPROCS(t, sys)
	checkNice(t, sys)
	sh := &shop{sys: sys, client: newClient(sys.GatewayURL()), reported: map[string]bool{}}
	for _, db := range []struct {
		name string
		to   **pgxpool.Pool
	}{{local.Orders, &sh.ordersDB}, {local.Payments, &sh.paymentsDB}} {
		pool, err := pgxpool.New(ctx, sys.ServiceURL(db.name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		*db.to = pool
	}
	return sh
}

// checkGOMAXPROCS fails t unless every service process runs with the
// GOMAXPROCS the stack gives it: 1, or this process's GOMAXPROCS when set
// (stack/local serviceRuntimeEnv). Each reports it on its admin listener's
// /metrics as go_sched_gomaxprocs_threads.
func checkGOMAXPROCS(t *testing.T, sys *local.System) {
	t.Helper()
	want := "1"
	if v, ok := os.LookupEnv("GOMAXPROCS"); ok {
		want = v
	}
	admins := append(append([]string{sys.GatewayAdminAddr}, sys.OrdersAdminAddrs...), sys.PaymentsAdminAddrs...)
	for _, addr := range admins {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := "none"
		for line := range strings.Lines(string(body)) {
			if v, ok := strings.CutPrefix(line, "go_sched_gomaxprocs_threads "); ok {
				got = strings.TrimSpace(v)
			}
		}
		if got != want {
			t.Errorf("the service on %s runs with GOMAXPROCS %s, want %s", addr, got, want)
		}
	}
}

// checkNice fails t unless Kafka and Kafka Connect run at nice 5 and
// Postgres at this process's nice value (stack/local pipelineNice). It
// checks nothing when this process runs niced itself.
func checkNice(t *testing.T, sys *local.System) {
	t.Helper()
	self := niceOf(t, os.Getpid())
	if self != "0" {
		return
	}
	for name, want := range map[string]string{local.NameKafka: "5", local.NameConnect: "5", local.NamePostgres: "0"} {
		p := sys.Process(name)
		if p == nil {
			t.Fatalf("no component %q (have %v)", name, sys.Names())
		}
		if got := niceOf(t, p.Pid()); got != want {
			t.Errorf("%s runs at nice %s, want %s", name, got, want)
		}
	}
}

// niceOf returns the nice value of process pid (field 19 of its stat).
func niceOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	return strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))[16]
}

// kill sends SIGKILL to the process of component name alone, as `kill -9
// pid` does (Postgres' backends outlive their postmaster), and waits until
// the supervisor has it running and ready again.
func (sh *shop) kill(ctx context.Context, name string, log *slog.Logger) error {
	p := sh.sys.Process(name)
	if p == nil {
		return fmt.Errorf("no component %q (have %v)", name, sh.sys.Names())
	}
	log.Info("kill -9", "component", name, "pid", p.Pid())
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill -9 %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, backTimeout)
	defer cancel()
	if _, err := sh.sys.Restarted(ctx, name, p); err != nil {
		return fmt.Errorf("%s not back after kill -9: %w", name, err)
	}
	return nil
}

// hang stops the process tree of component name with SIGSTOP (every
// Postgres backend too: a frozen machine, not a crash), continues it with
// SIGCONT after d, and waits until it is ready.
func (sh *shop) hang(ctx context.Context, name string, d time.Duration, log *slog.Logger) error {
	p := sh.sys.Process(name)
	if p == nil {
		return fmt.Errorf("no component %q (have %v)", name, sh.sys.Names())
	}
	log.Info("SIGSTOP", "component", name, "pid", p.Pid(), "for", d)
	if err := p.SignalTree(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("SIGSTOP %s: %w", name, err)
	}
	sleep(ctx, d)
	if err := p.SignalTree(syscall.SIGCONT); err != nil {
		return fmt.Errorf("SIGCONT %s: %w", name, err)
	}
	log.Info("SIGCONT", "component", name, "pid", p.Pid())
	ctx, cancel := context.WithTimeout(ctx, backTimeout)
	defer cancel()
	if _, err := sh.sys.Ready(ctx, name); err != nil {
		return fmt.Errorf("%s not ready after SIGCONT: %w", name, err)
	}
	return nil
}
