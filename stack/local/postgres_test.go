package local_test

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"shop/stack/local"
	"shop/stack/stacktest"
)

// postgresConfig is a throwaway cluster in a directory of its own that the
// postgres user can reach when the test runs as root.
func postgresConfig(t *testing.T) local.PostgresConfig {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Postgres: skipped with -short")
	}
	dir, err := os.MkdirTemp("", "local-postgres-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	port, err := local.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return local.PostgresConfig{Dir: dir, Port: port, SuperuserPassword: "postgres"}
}

func adminURL(cfg local.PostgresConfig) string {
	return "postgres://postgres:" + cfg.SuperuserPassword + "@127.0.0.1:" + strconv.Itoa(cfg.Port) + "/postgres?sslmode=disable"
}

func exec1(t *testing.T, ctx context.Context, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// wantRows fails the test unless table kept holds exactly want.
func wantRows(t *testing.T, ctx context.Context, url string, want ...string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT v FROM kept ORDER BY v")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("rows %v, want %v", got, want)
	}
}

// busyBackend starts a backend in an endless loop, which never notices
// that its postmaster died: after a kill -9 of the postmaster it lives on
// and keeps the shared memory. It returns once the loop runs.
func busyBackend(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = conn.Exec(context.Background(), "DO $$BEGIN LOOP END LOOP; END$$")
		_ = conn.Close(context.Background())
	}()
	stacktest.WaitFor(t, 10*time.Second, "busy backend running", func() bool {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			return false
		}
		defer c.Close(ctx)
		var n int
		err = c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'DO $$BEGIN LOOP%' AND state = 'active'").Scan(&n)
		return err == nil && n == 1
	})
}

// kill -9 of the postmaster, with a backend left behind holding the shared
// memory: the supervisor brings Postgres back, with the committed data.
func TestPostgresComesBackAfterKill9(t *testing.T) {
	cfg := postgresConfig(t)
	ctx := within(t, 3*time.Minute)
	s, logs := newSupervisor(t, fast)
	if err := s.Start(ctx, local.PostgresComponent(cfg, stacktest.Logger())); err != nil {
		t.Fatal(err)
	}
	url := adminURL(cfg)
	exec1(t, ctx, url, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')")
	busyBackend(t, ctx, url)

	killed := s.Process(local.NamePostgres)
	if err := killed.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Restarted(ctx, local.NamePostgres, killed); err != nil {
		t.Fatalf("%v\nsupervisor log:\n%s", err, logs)
	}
	wantRows(t, ctx, url, "before")
	exec1(t, ctx, url, "INSERT INTO kept VALUES ('after')")
	wantRows(t, ctx, url, "after", "before")

	// A hang of the postmaster and every backend is no exit: a session that
	// was open waits, nothing is restarted, and SIGCONT resumes.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	hung := s.Process(local.NamePostgres)
	if err := hung.SignalTree(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err = conn.Exec(qctx, "SELECT 1")
	cancel()
	if err == nil {
		t.Error("a backend answered while its tree was stopped")
	}
	if err := hung.SignalTree(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	wantRows(t, ctx, url, "after", "before")
	if got := s.Restarts(local.NamePostgres); got != 1 || s.Process(local.NamePostgres) != hung {
		t.Errorf("restarts = %d (process replaced: %t), want 1 and the hung one kept", got, s.Process(local.NamePostgres) != hung)
	}
}

// A postmaster killed while nobody supervised it (the stack itself was
// killed) leaves its backends and postmaster.pid: the next start clears
// them.
func TestPostgresStartsAfterAKilledPostmaster(t *testing.T) {
	cfg := postgresConfig(t)
	ctx := within(t, 3*time.Minute)
	log := stacktest.Logger()
	pg, err := local.StartPostgres(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	url := adminURL(cfg)
	exec1(t, ctx, url, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')")
	busyBackend(t, ctx, url)
	if err := pg.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-pg.Done()
	t.Cleanup(pg.Kill) // the orphans, should the restart fail

	again, err := local.StartPostgres(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(again.Stop)
	wantRows(t, ctx, url, "before")
}

// A postmaster.pid left by a killed postmaster whose process id now belongs
// to another process (of the postgres user, as the new postmaster would
// be): Postgres alone refuses to start ("lock file already exists").
func TestPostgresStartsOverAStalePidFile(t *testing.T) {
	cfg := postgresConfig(t)
	ctx := within(t, 3*time.Minute)
	log := stacktest.Logger()
	pg, err := local.StartPostgres(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	pg.Kill() // the whole group: postmaster.pid stays

	// The stranger runs as the user Postgres runs as, so that Postgres'
	// kill(pid, 0) sees it alive.
	stranger := exec.Command("sleep", "600")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		stranger.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stranger.Process.Kill()
		_ = stranger.Wait()
	})
	pidFile := filepath.Join(cfg.Dir, "data", "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "\n")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(stranger.Process.Pid)+"\n"+rest), 0o600); err != nil {
		t.Fatal(err)
	}

	again, err := local.StartPostgres(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(again.Stop)
	if err := stranger.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the stranger with the stale pid is gone: %v", err)
	}
	exec1(t, ctx, adminURL(cfg), "SELECT 1")
}
