package faults

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"shop/stack/local"
)

// settleBound is how long after the shop is back every order must have
// ended PAID or CANCELLED and every request been answered (issue 8).
const settleBound = 60 * time.Second

// settings are the knobs of the matrix, from the environment so that
// `make faults` can run it longer and heavier than `make test`.
type settings struct {
	rate  float64       // FAULTS_RATE: orders per second
	step  time.Duration // FAULTS_STEP: load per fault, from the fault on
	lead  time.Duration // load before each fault: a quarter of the step
	hang  time.Duration // FAULTS_HANG: how long a SIGSTOP lasts
	users int           // FAULTS_USERS: accounts
	only  []string      // FAULTS_ONLY: run only these faults (comma-separated names; "none": no fault)
}

func loadSettings(t *testing.T) settings {
	t.Helper()
	s := settings{rate: 100, step: 10 * time.Second, hang: 10 * time.Second, users: 40}
	if v := os.Getenv("FAULTS_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			t.Fatalf("FAULTS_RATE=%q: want orders per second", v)
		}
		s.rate = r
	}
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{{"FAULTS_STEP", &s.step}, {"FAULTS_HANG", &s.hang}} {
		if v := os.Getenv(d.env); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x <= 0 {
				t.Fatalf("%s=%q: want a duration such as 60s", d.env, v)
			}
			*d.to = x
		}
	}
	if v := os.Getenv("FAULTS_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 4 {
			t.Fatalf("FAULTS_USERS=%q: want at least 4", v)
		}
		s.users = n
	}
	if v := os.Getenv("FAULTS_ONLY"); v != "" {
		s.only = strings.Split(v, ",")
	}
	s.lead = s.step / 4
	return s
}

// fault is one row of the matrix.
type fault struct {
	name string
	// inject hits the target and returns once it is back (restarted and
	// ready, or resumed), or an error when it does not come back.
	inject func(ctx context.Context, sh *shop, log *slog.Logger) error
}

// faults are the rows of the matrix, one at a time: a kill -9 of each
// process, a SIGSTOP of Kafka and of Postgres (a hang, not a crash), and
// the orders connector's slot lost under a backlog (loseSlot).
func faults(s settings) []fault {
	var out []fault
	kill := func(name string) fault {
		return fault{"kill -9 " + name, func(ctx context.Context, sh *shop, log *slog.Logger) error {
			return sh.kill(ctx, name, log)
		}}
	}
	hang := func(name string) fault {
		return fault{fmt.Sprintf("SIGSTOP %s %s", name, s.hang), func(ctx context.Context, sh *shop, log *slog.Logger) error {
			return sh.hang(ctx, name, s.hang, log)
		}}
	}
	for _, name := range []string{
		local.NameGateway,
		local.InstanceName(local.Orders, 1), local.InstanceName(local.Orders, 2),
		local.InstanceName(local.Payments, 1), local.InstanceName(local.Payments, 2),
		local.NameConnect, local.NameKafka, local.NamePostgres,
	} {
		out = append(out, kill(name))
	}
	out = append(out, hang(local.NameKafka), hang(local.NamePostgres))
	out = append(out, fault{"slot lost under backlog", func(ctx context.Context, sh *shop, log *slog.Logger) error {
		return sh.loseSlot(ctx, log)
	}})
	return out
}

// result is the row of one step in the printed table.
type result struct {
	name     string
	tally    tally
	back     time.Duration // from the fault until the target is back
	recovery time.Duration // from the fault until the last order it delayed settled
	p99      time.Duration // of the step's orders, from sent to settled
}

// TestFaultMatrix runs the shop on a stack of its own with two instances of
// orders and of payments under a steady load of orders, and hits it with one
// fault at a time (see faults). After each fault the load pauses until every
// request is answered and every order settled, at most settleBound after the
// load stopped (once the target is back), and then the books are checked: every 201 is one order
// (no duplicate from a retry), every order PAID or CANCELLED, every balance
// its top-up minus its PAID orders, one debit per PAID order and none
// else, shop-audit clean, no dead letter. It ends with a table of the faults.
//
// FAULTS_RATE (orders/s, default 100), FAULTS_STEP (load per fault, default
// 10s), FAULTS_HANG (SIGSTOP length, default 10s), FAULTS_USERS (default 40)
// and FAULTS_ONLY (comma-separated fault names) change the run.
func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("fault matrix: skipped with -short")
	}
	cfg := loadSettings(t)
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	matrix := faults(cfg)
	if len(cfg.only) > 0 {
		names := []string{"none"}
		for _, f := range matrix {
			names = append(names, f.name)
		}
		for _, n := range cfg.only {
			if !slices.Contains(names, n) {
				t.Fatalf("FAULTS_ONLY: no fault %q; the faults are %q", n, names)
			}
		}
		matrix = slices.DeleteFunc(matrix, func(f fault) bool { return !slices.Contains(cfg.only, f.name) })
	}
	log.Info("fault matrix", "rate", cfg.rate, "step", cfg.step, "faults", len(matrix))
	sh := startShop(t, log)
	ctx := t.Context()

	// Accounts: most rich enough for the whole run, a quarter short of money
	// so that their orders end CANCELLED (INSUFFICIENT_FUNDS) part of the
	// way, and one user without an account (ACCOUNT_NOT_FOUND).
	run := fmt.Sprintf("f%d-", time.Now().UnixNano()%1e9)
	funds := map[string]int64{}
	var users []string
	wholeRun := time.Duration(len(matrix)+1) * (cfg.step + cfg.lead)
	perUser := cfg.rate / float64(cfg.users) * 500 // average amount spent per second
	for i := range cfg.users - 1 {
		u := fmt.Sprintf("%su%d", run, i)
		users = append(users, u)
		funds[u] = 1_000_000_000_000
		if i%4 == 0 {
			funds[u] = int64(perUser * wholeRun.Seconds() / 2)
		}
	}
	for _, u := range users {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := sh.client.openAccount(cctx, u, funds[u])
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	users = append(users, run+"noaccount")
	load := newLoad(sh.client, users, cfg.rate, run)

	steps := append([]fault{{name: "none"}}, matrix...)
	results := make([]result, len(steps))
	for i, f := range steps {
		// An order is delayed by a fault when it takes 3 times as long
		// as the p99 without one.
		results[i] = sh.step(t, log, load, funds, i, f, cfg, 3*results[0].p99)
		if t.Failed() && results[i].back < 0 {
			break // the target did not come back: the rest would measure nothing
		}
	}
	printTable(t, results, cfg)
}

// step runs the load for one row of the matrix: lead without a fault, the
// fault, the load until step has passed since the fault and the target is
// back; then it lets the shop go quiet and checks the books. An order that
// takes longer than slow from sent to settled was delayed by the fault.
func (sh *shop) step(t *testing.T, log *slog.Logger, l *load, funds map[string]int64, i int, f fault, cfg settings, slow time.Duration) result {
	t.Helper()
	res := result{name: f.name}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		l.run(ctx, i, stop)
	}()

	start := time.Now()
	sleep(ctx, cfg.lead)
	faultAt := time.Now()
	if f.inject != nil {
		log.Info("fault", "step", i, "fault", f.name)
		if err := f.inject(ctx, sh, log); err != nil {
			res.back = -1
			t.Errorf("%s: %v", f.name, err)
		} else {
			res.back = time.Since(faultAt)
			log.Info("back", "fault", f.name, "after", res.back.Round(time.Millisecond))
		}
	}
	sleep(ctx, time.Until(faultAt.Add(cfg.step)))
	close(stop)
	<-loadDone
	quietFrom := time.Now()
	// Every request answered and every order settled within settleBound of
	// the later of the target being back and the load stopping.
	deadline := quietFrom.Add(settleBound)
	timer := time.AfterFunc(time.Until(deadline), cancel) // the clients give up
	defer timer.Stop()
	sent := l.wait()
	// Not stacktest.WaitFor: orders still PENDING at the deadline are a
	// result (stuck), counted and reported with the rest below.
	var b *books
	for {
		var err error
		rctx, rcancel := context.WithTimeout(t.Context(), 10*time.Second)
		b, err = readBooks(rctx, sh.ordersDB, sh.paymentsDB)
		rcancel()
		if err == nil && b.pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("after %s: read the books: %v", f.name, err)
			}
			break
		}
		sleep(t.Context(), 200*time.Millisecond)
	}
	tallies, problems := check(sent, b, funds, i+1)
	res.tally = tallies[i]
	actx, acancel := context.WithTimeout(t.Context(), 30*time.Second)
	ap, err := auditProblems(actx, sh.ordersDB, sh.paymentsDB)
	acancel()
	if err != nil {
		problems = append(problems, "audit: "+err.Error())
	}
	problems = append(problems, ap...)
	for _, p := range problems {
		if !sh.reported[p] { // a problem that lasts is reported once
			sh.reported[p] = true
			t.Errorf("after %s: %s", f.name, p)
		}
	}

	// Recovery: from the fault until the target is back and the last order
	// it delayed (one that took longer than normal from sent to settled)
	// settled.
	res.recovery = max(res.back, 0)
	var lat []time.Duration
	settled := settledAt(b)
	slow = max(2*time.Second, slow)
	for _, o := range sent {
		if o.Step != i || o.Acked.IsZero() {
			continue
		}
		at, ok := settled[o.ID]
		if !ok {
			continue
		}
		d := at.Sub(o.Sent)
		lat = append(lat, d)
		if f.inject != nil && d > slow && at.Sub(faultAt) > res.recovery {
			res.recovery = at.Sub(faultAt)
		}
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		res.p99 = lat[len(lat)*99/100]
	}
	log.Info("step done", "step", i, "fault", f.name, "orders", res.tally.orders,
		"rate", fmt.Sprintf("%.0f/s", float64(res.tally.orders)/quietFrom.Sub(start).Seconds()),
		"retried", res.tally.retried, "recovery", res.recovery.Round(time.Millisecond), "p99", res.p99.Round(time.Millisecond),
		"quiet after", time.Since(quietFrom).Round(time.Millisecond),
		"lost", res.tally.lost, "doubled", res.tally.doubled, "stuck", res.tally.stuck, "problems", len(problems))
	return res
}

// settledAt returns when each settled order left PENDING.
func settledAt(b *books) map[string]time.Time {
	out := make(map[string]time.Time, len(b.orders))
	for _, o := range b.orders {
		if o.Status != "PENDING" {
			out[o.ID] = o.Updated
		}
	}
	return out
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}

func printTable(t *testing.T, results []result, cfg settings) {
	var b strings.Builder
	fmt.Fprintf(&b, "fault matrix: %.0f orders/s, %s per fault\n", cfg.rate, cfg.step)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "fault\torders\tretried\tback\trecovery\tp99\tlost\tdoubled\tstuck\t")
	var total tally
	for _, r := range results {
		back := "-"
		switch {
		case r.back < 0:
			back = "never"
		case r.name != "none":
			back = r.back.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t\n", r.name, r.tally.orders, r.tally.retried, back,
			r.recovery.Round(100*time.Millisecond), r.p99.Round(10*time.Millisecond), r.tally.lost, r.tally.doubled, r.tally.stuck)
		total.add(r.tally)
	}
	fmt.Fprintf(w, "total\t%d\t%d\t\t\t\t%d\t%d\t%d\t\n", total.orders, total.retried, total.lost, total.doubled, total.stuck)
	w.Flush()
	t.Log("\n" + b.String())
}
