package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// Process is a child process with its output in a log file. It leads a
// process group of its own, and Kill and Stop act on the whole group: what
// it forks, unless a child leaves the group (Postgres' backends do; see
// PostgresComponent). Its methods are safe for concurrent use.
type Process struct {
	Name    string
	LogPath string
	// Started is when the process was started.
	Started time.Time
	cmd     *exec.Cmd
	done    chan struct{}
	mu      sync.Mutex
	err     error
}

// procOptions are how a child process runs.
type procOptions struct {
	// cred, when set, is the user the child runs as.
	cred *syscall.Credential
	// env is added to this process's environment.
	env []string
	// dir is the working directory.
	dir string
	// timerSlack, when positive, is the child's timer slack (see
	// startWithTimerSlack).
	timerSlack time.Duration
	// nice, when positive, is the child's nice value (see startNiced).
	nice int
}

// startProcess starts name with its output appended to logPath. The child
// gets its own process group (Ctrl-C reaches the stack, which stops children
// in order) and SIGKILL when the stack dies, so none is left behind.
func startProcess(name, logPath string, o procOptions, argv ...string) (*Process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = o.dir
	cmd.Env = append(os.Environ(), o.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: o.cred}
	start := func() error { return startWithTimerSlack(cmd, o.timerSlack) }
	if o.nice > 0 {
		err = startNiced(o.nice, start)
	} else {
		err = start()
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, Started: time.Now(), cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// StartCommand starts argv in dir, with env added to this process's
// environment and its output appended to logPath, as the stack starts each
// of its components (see startProcess). The caller stops it with Stop.
func StartCommand(name, logPath, dir string, env []string, argv ...string) (*Process, error) {
	return startProcess(name, logPath, procOptions{env: env, dir: dir}, argv...)
}

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Pid returns the process id, which is also its process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process alone, as `kill -SIG pid` does: with
// SIGKILL, Postgres' postmaster dies and its backends live on.
func (p *Process) Signal(sig syscall.Signal) error {
	if ok, _ := p.Exited(); ok {
		return errors.New(p.Name + ": process already exited")
	}
	return syscall.Kill(p.cmd.Process.Pid, sig)
}

// SignalGroup sends sig to every process of the group, as `kill -SIG
// -pgid` does.
func (p *Process) SignalGroup(sig syscall.Signal) error {
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// SignalTree sends sig to the process and then to every descendant, in
// whatever session or group: SIGSTOP of Postgres' tree hangs the postmaster
// and every backend, as a frozen machine would.
func (p *Process) SignalTree(sig syscall.Signal) error {
	if err := p.Signal(sig); err != nil {
		return err
	}
	for _, pid := range descendants(p.Pid()) {
		_ = syscall.Kill(pid, sig)
	}
	return nil
}

// descendants returns the processes below pid, parents before children.
func descendants(pid int) []int {
	children := map[int][]int{}
	for _, st := range processes() {
		children[st.ppid] = append(children[st.ppid], st.pid)
	}
	var out []int
	for todo := children[pid]; len(todo) > 0; todo = todo[1:] {
		out = append(out, todo[0])
		todo = append(todo, children[todo[0]]...)
	}
	return out
}

// Stop sends sig to the process group, waits up to grace, then kills the
// group and every descendant. A stopped (SIGSTOP) tree is continued so
// that it can act on sig.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) {
	if ok, _ := p.Exited(); ok {
		p.killGroup()
		return
	}
	_ = p.SignalTree(syscall.SIGCONT)
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	p.killGroup()
}

// Kill ends the process, its group and its descendants at once (kill -9 of
// every one), and returns when the process has exited and nothing of its
// group is left.
func (p *Process) Kill() { p.killGroup() }

// killGroup kills the process's descendants (while it lives, they can be
// found) and what is left of its group, and waits, up to 10 s, until none
// of the group runs. A process group id is not reused while a member
// lives, so the signal reaches no stranger.
func (p *Process) killGroup() {
	pgid := p.cmd.Process.Pid
	var below []int
	if ok, _ := p.Exited(); !ok {
		below = descendants(pgid)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	for _, pid := range below {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	<-p.done
	deadline := time.Now().Add(10 * time.Second)
	for len(groupMembers(pgid)) > 0 && time.Now().Before(deadline) {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(20 * time.Millisecond)
	}
}

// groupMembers returns the live (not zombie) processes of group pgid.
// Orphans are reaped by init, which in a container may be slow or never:
// a zombie holds no resources, so it does not count.
func groupMembers(pgid int) []procStat {
	var members []procStat
	for _, st := range processes() {
		if st.pgrp == pgid && st.state != 'Z' {
			members = append(members, st)
		}
	}
	return members
}

// procStat is what /proc/<pid>/stat says about a process.
type procStat struct {
	pid, ppid, pgrp int
	comm            string
	state           byte
}

// processes lists the processes of this machine from /proc.
func processes() []procStat {
	procs, err := procfs.AllProcs()
	if err != nil {
		return nil
	}
	var out []procStat
	for _, p := range procs {
		if st, ok := statOf(p); ok {
			out = append(out, st)
		}
	}
	return out
}

// readProcStat reads /proc/<pid>/stat; ok is false when the process is
// gone or its stat does not parse.
func readProcStat(pid int) (procStat, bool) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return procStat{}, false
	}
	return statOf(p)
}

func statOf(p procfs.Proc) (procStat, bool) {
	st, err := p.Stat()
	if err != nil || len(st.State) != 1 {
		return procStat{}, false
	}
	return procStat{pid: p.PID, ppid: st.PPID, pgrp: st.PGRP, comm: st.Comm, state: st.State[0]}, true
}

// Tail returns the last n lines of the process log.
func (p *Process) Tail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// StartError is a component that did not come up: its name, the cause and the
// tail of its log.
type StartError struct {
	Component string
	Err       error
	LogPath   string
	Tail      string
}

func (e *StartError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s did not start: %v", e.Component, e.Err)
	if e.Tail != "" {
		fmt.Fprintf(&b, "\n--- last lines of %s ---\n%s", e.LogPath, e.Tail)
	}
	return b.String()
}

func (e *StartError) Unwrap() error { return e.Err }

// waitReady polls check until it succeeds, the process exits or the timeout
// passes; the error names the component and carries its log tail.
func waitReady(ctx context.Context, p *Process, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if exited, err := p.Exited(); exited {
			if err == nil {
				err = errors.New("exited")
			}
			return &StartError{Component: p.Name, Err: fmt.Errorf("process ended: %w", err), LogPath: p.LogPath, Tail: p.Tail(30)}
		}
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return &StartError{Component: p.Name, Err: fmt.Errorf("not ready after %s: %w", timeout, last), LogPath: p.LogPath, Tail: p.Tail(30)}
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func logStart(log *slog.Logger, component string, attrs ...any) time.Time {
	log.Info("starting "+component, attrs...)
	return time.Now()
}

// startWithTimerSlack starts cmd with the timer slack slack when it is
// positive: Linux may then fire the child's timed waits up to slack late,
// and coalesce them (prctl PR_SET_TIMERSLACK; every thread the child
// creates inherits it). A child is forked from the calling thread and
// inherits that thread's slack, so it is set on a locked thread around
// the start and restored after. Where the slack cannot be set, cmd starts
// with the default (50 µs).
//
// Why: Debezium's change-event queue waits for records in whole
// milliseconds and spins through the fraction of a millisecond left of
// each poll interval (docs/performance.md, "At rest"): with the
// default slack, that spin is most of what an idle connector costs.
func startWithTimerSlack(cmd *exec.Cmd, slack time.Duration) error {
	if slack <= 0 {
		return cmd.Start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return cmd.Start()
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack.Nanoseconds()), 0, 0, 0); err != nil {
		return cmd.Start()
	}
	defer func() { _ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0) }()
	return cmd.Start()
}

// launchers are the goroutines that start children at a nice value, one
// per value (startNiced).
var launchers = struct {
	mu     sync.Mutex
	byNice map[int]chan func()
}{byNice: map[int]chan func(){}}

// startNiced runs start, which forks a child, on an OS thread whose nice
// value is nice: the child, and every thread it creates, inherits it.
// Where the nice value cannot be set, the child gets this process's.
//
// Linux keeps the nice value per thread, and only a privileged process
// may lower it again, so the thread is not given back to the Go runtime:
// one goroutine per nice value keeps its thread locked for the life of
// this process and starts every child of that value. The thread must not
// end either: a child started with Pdeathsig gets its signal when the
// thread that forked it exits. (Threads the runtime creates while a
// goroutine is locked are cloned from its template thread, not from the
// locked one, so no other thread of this process inherits the value.)
func startNiced(nice int, start func() error) error {
	launchers.mu.Lock()
	jobs, ok := launchers.byNice[nice]
	if !ok {
		jobs = make(chan func())
		launchers.byNice[nice] = jobs
		go launch(nice, jobs)
	}
	launchers.mu.Unlock()
	done := make(chan error, 1)
	jobs <- func() { done <- start() }
	return <-done
}

// launch runs jobs on a thread of its own at nice value nice, for good.
func launch(nice int, jobs <-chan func()) {
	runtime.LockOSThread() // never unlocked: see startNiced
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), nice)
	for job := range jobs {
		job()
	}
}
