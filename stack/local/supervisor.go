package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Component is one process of the system as the Supervisor sees it: how to
// start it, how to tell that it serves, how to stop it.
type Component struct {
	// Name identifies the component in logs and in the Supervisor's
	// lookups; unique within a Supervisor.
	Name string
	// Attrs are logged with "starting <name>".
	Attrs []any
	// Start prepares what a start needs (idempotent: it runs again on
	// every restart, and cleans up after a killed predecessor) and starts
	// a new process; it does not wait for readiness.
	Start func(ctx context.Context) (*Process, error)
	// Ready checks once whether the process serves. It is polled after each
	// start until it succeeds, the process exits or ReadyTimeout passes.
	Ready        func(ctx context.Context) error
	ReadyTimeout time.Duration
	// StopSignal and StopGrace stop the process for good: the signal to
	// its group, then SIGKILL after the grace.
	StopSignal syscall.Signal
	StopGrace  time.Duration
	// DependsOn names the components this one needs. While one of them is
	// not ready, an exit of this one is not counted as a failure and its
	// restart waits for them: orders crashing while Postgres restarts is
	// Postgres' fault, not orders'.
	DependsOn []string
}

// start starts a process of c and waits until it is ready; on failure it
// stops what it started and returns a *StartError naming c.
func (c Component) start(ctx context.Context, log *slog.Logger) (*Process, error) {
	begin := logStart(log, c.Name, c.Attrs...)
	p, err := c.Start(ctx)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, p, c.ReadyTimeout, c.Ready); err != nil {
		c.stop(p)
		return nil, err
	}
	log.Info(c.Name+" ready", "pid", p.Pid(), "took", time.Since(begin).Round(time.Millisecond))
	return p, nil
}

func (c Component) stop(p *Process) { p.Stop(c.StopSignal, c.StopGrace) }

// RestartPolicy says how a Supervisor restarts a component that exits.
type RestartPolicy struct {
	// MinBackoff is the wait before the first restart; it doubles with
	// each failure within Window, up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// MaxFailures failures within Window and the Supervisor gives up.
	MaxFailures int
	Window      time.Duration
}

// DefaultRestartPolicy restarts after 0.5 s, 1 s, 2 s, ... up to 10 s, and
// gives up at the fifth failure within a minute.
var DefaultRestartPolicy = RestartPolicy{MinBackoff: 500 * time.Millisecond, MaxBackoff: 10 * time.Second, MaxFailures: 5, Window: time.Minute}

// backoff is the wait before the restart that follows the failures-th
// failure within the window: the failures-th interval of an exponential
// backoff from MinBackoff, doubling up to MaxBackoff, without jitter. The
// window is the reset rule: a component that has not failed for a whole
// Window waits MinBackoff again.
func (r RestartPolicy) backoff(failures int) time.Duration {
	b := &backoff.ExponentialBackOff{InitialInterval: r.MinBackoff, Multiplier: 2, MaxInterval: r.MaxBackoff}
	d := b.NextBackOff()
	for i := 1; i < failures; i++ {
		d = b.NextBackOff()
	}
	return min(d, r.MaxBackoff)
}

// A Supervisor keeps components running, as Compose's `restart:
// unless-stopped` does: a component whose process exits is logged (name,
// exit status, last lines of its log) and started again after a backoff,
// until it fails Policy.MaxFailures times within Policy.Window; then the
// Supervisor gives up and Wait returns the error. A failure is an exit or
// a restart that does not become ready, while the component's
// dependencies are ready.
//
// Its methods are safe for concurrent use.
type Supervisor struct {
	log    *slog.Logger
	policy RestartPolicy
	ctx    context.Context // cancelled by Stop: ends the watchers
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	order    []*supervised // in start order
	byName   map[string]*supervised
	changed  chan struct{} // closed and replaced on every change of state
	failed   chan struct{} // closed when the Supervisor gives up
	err      error         // why it gave up
	stopping bool
}

// supervised is the state of one component; guarded by Supervisor.mu.
type supervised struct {
	c        Component
	proc     *Process // the current process; after an exit, the dead one until replaced
	ready    bool
	restarts int
	failures []time.Time // within the policy's window
}

// NewSupervisor returns a Supervisor with no component, restarting by
// policy (DefaultRestartPolicy when zero).
func NewSupervisor(log *slog.Logger, policy RestartPolicy) *Supervisor {
	if policy == (RestartPolicy{}) {
		policy = DefaultRestartPolicy
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Supervisor{
		log: log, policy: policy, ctx: ctx, cancel: cancel,
		byName: map[string]*supervised{}, changed: make(chan struct{}), failed: make(chan struct{}),
	}
}

// Start starts c, waits until it is ready and from then on keeps it
// running. A first start that fails is not retried: Start returns the
// *StartError (name, cause, last log lines), as a component that cannot
// start at all needs a person. Start returns an error for a name already
// supervised, or after Stop.
func (s *Supervisor) Start(ctx context.Context, c Component) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return errors.New("supervisor stopped")
	}
	if _, ok := s.byName[c.Name]; ok {
		s.mu.Unlock()
		return fmt.Errorf("component %s already supervised", c.Name)
	}
	sc := &supervised{c: c}
	s.byName[c.Name] = sc
	s.order = append(s.order, sc)
	s.mu.Unlock()

	p, err := c.start(ctx, s.log)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		delete(s.byName, c.Name)
		s.order = slices.DeleteFunc(s.order, func(x *supervised) bool { return x == sc })
		return err
	}
	if s.stopping { // Stop ran meanwhile and did not see p
		go c.stop(p)
		return errors.New("supervisor stopped")
	}
	sc.proc, sc.ready = p, true
	s.notifyLocked()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.watch(sc)
	}()
	return nil
}

// Names returns the supervised components in start order.
func (s *Supervisor) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, len(s.order))
	for i, sc := range s.order {
		names[i] = sc.c.Name
	}
	return names
}

// Process returns the current process of component name: the running one,
// or, between an exit and the restart, the one that exited. It returns nil
// for a name not supervised.
//
// To crash a component: p.Signal(syscall.SIGKILL) (the process alone, as
// `kill -9 pid`: Postgres' backends live on) or p.Kill() (with every
// process below it); then Restarted(ctx, name, p). To hang one:
// p.SignalTree(syscall.SIGSTOP), later SIGCONT (the supervisor sees no
// exit and does nothing).
func (s *Supervisor) Process(name string) *Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.byName[name]; ok {
		return sc.proc
	}
	return nil
}

// Restarts returns how often component name has been restarted.
func (s *Supervisor) Restarts(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.byName[name]; ok {
		return sc.restarts
	}
	return 0
}

// Ready waits until component name has a ready process and returns it. It
// returns an error when ctx is done first, the Supervisor gives up or is
// stopped, or name is not supervised.
func (s *Supervisor) Ready(ctx context.Context, name string) (*Process, error) {
	return s.Restarted(ctx, name, nil)
}

// Restarted waits until component name runs a ready process other than
// old, as after old was killed, and returns it; with old nil it is Ready.
// Errors as Ready.
func (s *Supervisor) Restarted(ctx context.Context, name string, old *Process) (*Process, error) {
	for {
		s.mu.Lock()
		sc, ok := s.byName[name]
		changed, err, stopping := s.changed, s.err, s.stopping
		var p *Process
		if ok && sc.ready && sc.proc != old {
			p = sc.proc
		}
		s.mu.Unlock()
		switch {
		case !ok:
			return nil, fmt.Errorf("component %s not supervised", name)
		case p != nil:
			return p, nil
		case err != nil:
			return nil, err
		case stopping:
			return nil, errors.New("supervisor stopped")
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("%s not ready: %w", name, ctx.Err())
		}
	}
}

// Wait returns nil when ctx is done, or the error of the component the
// Supervisor gave up on, which names it and quotes the end of its log.
func (s *Supervisor) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.failed:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.err
	}
}

// Stop ends the supervision (no more restarts) and stops the components in
// reverse start order, each with its StopSignal and StopGrace. It returns
// when all have exited. Stop is idempotent.
func (s *Supervisor) Stop() {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.stopping = true
	s.notifyLocked()
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait() // a restart in progress is cancelled and stops its process
	s.mu.Lock()
	order := slices.Clone(s.order)
	s.mu.Unlock()
	for i := len(order) - 1; i >= 0; i-- {
		sc := order[i]
		if sc.proc == nil {
			continue
		}
		if ok, _ := sc.proc.Exited(); !ok {
			s.log.Info("stopping " + sc.c.Name)
		}
		sc.c.stop(sc.proc)
	}
}

// notifyLocked wakes every Ready and Restarted waiting; s.mu is held.
func (s *Supervisor) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// watch restarts sc each time its process exits, until Stop or until it
// gives up.
func (s *Supervisor) watch(sc *supervised) {
	c := sc.c
	for {
		s.mu.Lock()
		p := sc.proc
		s.mu.Unlock()
		select {
		case <-p.Done():
		case <-s.ctx.Done():
			return
		}
		if s.ctx.Err() != nil {
			return
		}
		_, status := p.Exited()
		if status == nil {
			status = errors.New("exit status 0")
		}
		// What is left of its process group dies with it.
		p.Kill()
		s.mu.Lock()
		sc.ready = false
		s.notifyLocked()
		s.mu.Unlock()
		s.log.Warn(c.Name+" exited; restarting", "component", c.Name, "pid", p.Pid(), "status", status.Error(),
			"uptime", time.Since(p.Started).Round(time.Millisecond), "log", p.LogPath, "last_lines", p.Tail(10))
		if !s.failure(sc, p, status) {
			return
		}
		if !s.restart(sc) {
			return
		}
	}
}

// restart starts sc again after the backoff, as often as needed; it
// returns false when the Supervisor stops or gives up.
func (s *Supervisor) restart(sc *supervised) bool {
	c := sc.c
	for {
		if !s.waitDependencies(c) {
			return false
		}
		s.mu.Lock()
		wait := s.policy.backoff(len(sc.failures))
		s.mu.Unlock()
		select {
		case <-time.After(wait):
		case <-s.ctx.Done():
			return false
		}
		p, err := c.start(s.ctx, s.log)
		if s.ctx.Err() != nil {
			if p != nil {
				c.stop(p)
			}
			return false
		}
		if err == nil {
			s.mu.Lock()
			sc.proc, sc.ready = p, true
			sc.restarts++
			// Logged before the waiters wake, so that whoever sees the
			// restart (Restarted) finds it in the log too.
			s.log.Info(c.Name+" restarted", "component", c.Name, "pid", p.Pid(), "restarts", sc.restarts)
			s.notifyLocked()
			s.mu.Unlock()
			return true
		}
		s.log.Warn(c.Name+" restart failed", "component", c.Name, "err", err.Error())
		var tail *Process
		if se := (*StartError)(nil); errors.As(err, &se) && se.LogPath != "" {
			tail = &Process{Name: c.Name, LogPath: se.LogPath}
		}
		if !s.failure(sc, tail, err) {
			return false
		}
	}
}

// failure counts a failure of sc unless one of its dependencies is not
// ready; at the policy's limit it gives up and returns false. p, when
// known, is the process whose log the error quotes.
func (s *Supervisor) failure(sc *supervised, p *Process, cause error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dependenciesReadyLocked(sc.c) {
		return true
	}
	now := time.Now()
	sc.failures = slices.DeleteFunc(append(sc.failures, now), func(t time.Time) bool { return now.Sub(t) > s.policy.Window })
	if len(sc.failures) < s.policy.MaxFailures {
		return true
	}
	msg := fmt.Sprintf("%s stopped unexpectedly (%d failures within %s, last: %v) and was not restarted again",
		sc.c.Name, len(sc.failures), s.policy.Window, cause)
	if p != nil && p.LogPath != "" {
		msg += fmt.Sprintf("; last lines of %s:\n%s", p.LogPath, p.Tail(30))
	}
	if s.err == nil {
		s.err = errors.New(msg)
		close(s.failed)
	}
	s.notifyLocked()
	return false
}

// dependenciesReadyLocked reports whether every dependency of c is ready;
// s.mu is held.
func (s *Supervisor) dependenciesReadyLocked(c Component) bool {
	for _, d := range c.DependsOn {
		if dep, ok := s.byName[d]; ok && !dep.ready {
			return false
		}
	}
	return true
}

// waitDependencies waits until every dependency of c is ready; false when
// the Supervisor stops first.
func (s *Supervisor) waitDependencies(c Component) bool {
	for {
		s.mu.Lock()
		ok, changed := s.dependenciesReadyLocked(c), s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-s.ctx.Done():
			return false
		}
	}
}
