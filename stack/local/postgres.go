package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/procfs"
)

// PostgresConfig configures the local Postgres.
type PostgresConfig struct {
	// Dir holds the cluster (data/) and its log; created when missing.
	Dir  string
	Port int
	// SuperuserPassword is the password of the "postgres" superuser.
	SuperuserPassword string
	// Durable false turns off fsync for throwaway test clusters.
	Durable bool
	// MaxSlotWALKeepSize is max_slot_wal_keep_size (default
	// DefaultMaxSlotWALKeepSize), such as "10GB".
	MaxSlotWALKeepSize string
}

// Postgres is a running Postgres 15 cluster.
type Postgres struct {
	*Process
	cfg PostgresConfig
}

// AdminURL is the superuser's URL for database dbname.
func (p *Postgres) AdminURL(dbname string) string {
	return adminURL(p.cfg.SuperuserPassword, p.cfg.Port, dbname)
}

// adminURL is the URL of the superuser with password for database dbname
// on 127.0.0.1:port.
func adminURL(password string, port int, dbname string) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%s?sslmode=disable", password, port, dbname)
}

// pgBin finds a Postgres program: on PATH, else in Debian's versioned directory.
func pgBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("%s not found: install PostgreSQL 15 (Debian: apt-get install postgresql-15)", name)
}

// runAs returns the credential to drop to when running as root: initdb and
// postgres refuse to run as root, so they run as the "postgres" system user.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a \"postgres\" system user to run Postgres as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// DefaultMaxSlotWALKeepSize bounds the WAL that a replication slot may hold
// back: a connector that falls further behind has its slot invalidated and
// must snapshot again, in exchange for a disk that never fills up with WAL.
// See docs/faults.md, "WAL: kept, but bounded", for the trade-off.
const DefaultMaxSlotWALKeepSize = "10GB"

// StartPostgres initializes the cluster on first use and starts it with
// wal_level=logical. It returns when Postgres accepts connections.
func StartPostgres(ctx context.Context, cfg PostgresConfig, log *slog.Logger) (*Postgres, error) {
	p, err := PostgresComponent(cfg, log).start(ctx, log)
	if err != nil {
		return nil, err
	}
	return &Postgres{Process: p, cfg: cfg}, nil
}

// PostgresComponent is Postgres as a Component named "postgres". Each start
// initializes the cluster on first use and first cleans up after a
// postmaster that was killed (kill -9): the backends it left, which keep
// its shared memory and would stop the new postmaster, and a
// postmaster.pid whose process id now belongs to another process. It
// refuses to start while another postmaster runs on the same directory.
func PostgresComponent(cfg PostgresConfig, log *slog.Logger) Component {
	if cfg.MaxSlotWALKeepSize == "" {
		cfg.MaxSlotWALKeepSize = DefaultMaxSlotWALKeepSize
	}
	if abs, err := filepath.Abs(cfg.Dir); err == nil {
		cfg.Dir = abs // the postmaster runs in /
	}
	data := filepath.Join(cfg.Dir, "data")
	return Component{
		Name:  NamePostgres,
		Attrs: []any{"port", cfg.Port, "data", data},
		Start: func(ctx context.Context) (*Process, error) { return startPostgres(ctx, cfg, log) },
		Ready: func(ctx context.Context) error {
			conn, err := pgx.Connect(ctx, adminURL(cfg.SuperuserPassword, cfg.Port, "postgres"))
			if err != nil {
				return err
			}
			return conn.Close(ctx)
		},
		ReadyTimeout: 2 * time.Minute, // crash recovery replays the WAL since the last checkpoint
		StopSignal:   syscall.SIGINT,  // fast shutdown: roll back sessions, checkpoint
		StopGrace:    30 * time.Second,
	}
}

// startPostgres is one start of PostgresComponent.
func startPostgres(ctx context.Context, cfg PostgresConfig, log *slog.Logger) (*Process, error) {
	if err := checkPort("postgres", cfg.Port, "POSTGRES_PORT"); err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	initdb, err := pgBin("initdb")
	if err != nil {
		return nil, err
	}
	postgres, err := pgBin("postgres")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(cfg.Dir, "data")
	sock := filepath.Join(cfg.Dir, "run")
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(sock, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := chownTree(cfg.Dir, cred); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		log.Info("initializing postgres cluster", "dir", data)
		pw := filepath.Join(cfg.Dir, "pwfile")
		if err := os.WriteFile(pw, []byte(cfg.SuperuserPassword+"\n"), 0o600); err != nil {
			return nil, err
		}
		if cred != nil {
			_ = os.Chown(pw, int(cred.Uid), int(cred.Gid))
		}
		cmd := exec.CommandContext(ctx, initdb, "-D", data, "-U", "postgres", "--pwfile", pw,
			"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		os.Remove(pw)
		if err != nil {
			return nil, &StartError{Component: "postgres", Err: fmt.Errorf("initdb: %w", err), Tail: string(out)}
		}
	}
	if err := clearStalePostmaster(data, sock); err != nil {
		return nil, &StartError{Component: "postgres", Err: err}
	}
	args := []string{postgres, "-D", data,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(cfg.Port),
		"-c", "unix_socket_directories=" + sock,
		"-c", "wal_level=logical",
		"-c", "max_replication_slots=100",
		"-c", "max_wal_senders=100",
		"-c", "max_slot_wal_keep_size=" + cfg.MaxSlotWALKeepSize,
		"-c", "max_connections=400",
		"-c", "shared_buffers=256MB",
		"-c", "shared_preload_libraries=pg_stat_statements",
		"-c", "wal_sender_timeout=60s",
		"-c", "logging_collector=off",
		"-c", "log_min_messages=warning",
	}
	if !cfg.Durable {
		// Throwaway clusters skip fsync. synchronous_commit stays on: the
		// walsender decodes only flushed WAL, so deferring the flush would
		// add up to wal_writer_delay to every event's latency.
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off")
	}
	return startProcess("postgres", filepath.Join(cfg.Dir, "postgres.log"), procOptions{cred: cred, dir: "/"}, args...)
}

// Stop shuts Postgres down (fast mode: roll back sessions, checkpoint).
func (p *Postgres) Stop() { p.Process.Stop(syscall.SIGINT, 30*time.Second) }

// clearStalePostmaster makes way for a postmaster on data after one that
// was killed. The backends of a killed postmaster live on (each in a
// session of its own, with data as its working directory) and keep its
// shared memory: they are killed. A lock file (postmaster.pid, the
// socket's) whose pid now belongs to another process is removed; one whose
// process is gone is left to Postgres, which recognizes it and releases the
// old shared memory it names. It returns an error when a postmaster still
// runs on data.
func clearStalePostmaster(data, sock string) error {
	lockFiles, _ := filepath.Glob(filepath.Join(sock, ".s.PGSQL.*.lock"))
	lockFiles = append([]string{filepath.Join(data, "postmaster.pid")}, lockFiles...)
	for _, f := range lockFiles {
		pid, ok := lockFilePid(f)
		if !ok {
			continue
		}
		if isPostmasterOf(pid, data) {
			return fmt.Errorf("another postgres (pid %d) runs on %s; stop it first", pid, data)
		}
		if st, alive := readProcStat(pid); alive && st.state != 'Z' {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("stale lock file: %w", err)
			}
		}
	}
	return killOrphans(data)
}

// lockFilePid reads the pid on the first line of a Postgres lock file.
func lockFilePid(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	return pid, err == nil && pid > 0
}

// isPostmasterOf reports whether process pid is a postmaster started with
// -D data.
func isPostmasterOf(pid int, data string) bool {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return false
	}
	args, err := p.CmdLine()
	if err != nil || len(args) == 0 {
		return false
	}
	return slices.Contains(args, "-D") && slices.Contains(args, data) && filepath.Base(args[0]) == "postgres"
}

// cwdOf returns the working directory of process pid.
func cwdOf(pid int) (string, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return "", err
	}
	return p.Cwd()
}

// killOrphans kills the postgres processes working in data, the orphans
// of a postmaster that was killed, and waits up to 10 s until they are
// gone. The caller has checked that no postmaster runs on data.
func killOrphans(data string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []int
		for _, st := range processes() {
			if st.comm != "postgres" || st.state == 'Z' {
				continue
			}
			if cwd, err := cwdOf(st.pid); err == nil && cwd == data {
				left = append(left, st.pid)
				_ = syscall.Kill(st.pid, syscall.SIGKILL)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v of a killed postmaster on %s do not exit", left, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func chownTree(dir string, cred *syscall.Credential) error {
	// The cluster's own directories belong to the postgres user; every
	// directory above them must be traversable by it.
	if err := checkTraversable(dir); err != nil {
		return err
	}
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(cred.Uid), int(cred.Gid))
	})
}

func checkTraversable(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("postgres runs as the postgres user and cannot reach %s: %s is not traversable by others (chmod o+x %s, or set STACK_DATA_DIR elsewhere)", abs, d, d)
		}
		if d == "/" {
			return nil
		}
	}
}

// quoteIdent quotes a SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
