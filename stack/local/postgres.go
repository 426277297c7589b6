package local

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
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
}

// Postgres is a running Postgres 15 cluster.
type Postgres struct {
	*Process
	cfg PostgresConfig
}

// AdminURL is the superuser's URL for database dbname.
func (p *Postgres) AdminURL(dbname string) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%s?sslmode=disable", p.cfg.SuperuserPassword, p.cfg.Port, dbname)
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

// StartPostgres initializes the cluster on first use and starts it with
// wal_level=logical. It returns when Postgres accepts connections.
func StartPostgres(ctx context.Context, cfg PostgresConfig, log *slog.Logger) (*Postgres, error) {
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
	args := []string{postgres, "-D", data,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(cfg.Port),
		"-c", "unix_socket_directories=" + sock,
		"-c", "wal_level=logical",
		"-c", "max_replication_slots=100",
		"-c", "max_wal_senders=100",
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
	start := logStart(log, "postgres", "port", cfg.Port, "data", data)
	p, err := startProcess("postgres", filepath.Join(cfg.Dir, "postgres.log"), cred, nil, "/", args...)
	if err != nil {
		return nil, err
	}
	pg := &Postgres{Process: p, cfg: cfg}
	err = waitReady(ctx, p, 60*time.Second, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, pg.AdminURL("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		p.Stop(syscall.SIGQUIT, 5*time.Second)
		return nil, err
	}
	log.Info("postgres ready", "port", cfg.Port, "took", time.Since(start).Round(time.Millisecond))
	return pg, nil
}

// Stop shuts Postgres down (fast mode: roll back sessions, checkpoint).
func (p *Postgres) Stop() { p.Process.Stop(syscall.SIGINT, 30*time.Second) }

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
