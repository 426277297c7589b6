package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"shop/bench/cpu"
)

// cpuMeter samples the CPU of the stack's processes (found from the
// gateway's listening port) and of loadgen itself. A nil *cpuMeter measures
// nothing: the stack's processes are not on this machine or not readable.
type cpuMeter struct {
	proc  cpu.Proc
	comps []cpu.Component
	self  int
	log   *slog.Logger
}

// newCPUMeter finds the stack's processes, or returns nil with a warning.
func newCPUMeter(procDir, gatewayURL string, log *slog.Logger) *cpuMeter {
	m, err := findStack(procDir, gatewayURL)
	if err != nil {
		log.Warn("CPU not measured: the stack's processes were not found", "err", err)
		return nil
	}
	m.log = log
	var found []string
	for _, c := range m.comps {
		found = append(found, c.Name+"="+strconv.Itoa(c.PID))
	}
	log.Info("measuring CPU from /proc", "processes", strings.Join(found, " "))
	return m
}

func findStack(procDir, gatewayURL string) (*cpuMeter, error) {
	u, err := url.Parse(gatewayURL)
	if err != nil {
		return nil, err
	}
	_, p, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", gatewayURL, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, err
	}
	proc := cpu.Proc{Dir: procDir}
	gw, err := proc.ListenerPID(port)
	if err != nil {
		return nil, err
	}
	comps, err := proc.Discover(gw)
	if err != nil {
		return nil, err
	}
	return &cpuMeter{proc: proc, comps: comps, self: os.Getpid()}, nil
}

// sample reads every component's CPU now; ok false when it could not.
func (m *cpuMeter) sample() (cpu.Sample, bool) {
	if m == nil {
		return cpu.Sample{}, false
	}
	s, err := m.proc.Sample(m.comps, m.self)
	if err != nil {
		m.log.Warn("CPU sample", "err", err)
		return cpu.Sample{}, false
	}
	return s, true
}

// window measures the CPU from now until f returns.
func (m *cpuMeter) window(f func()) *cpu.Usage {
	a, ok := m.sample()
	f()
	b, ok2 := m.sample()
	if !ok || !ok2 {
		return nil
	}
	u := cpu.Between(a, b)
	if len(u.Missing) > 0 {
		m.log.Warn("components restarted or gone during the window: not counted", "missing", u.Missing)
	}
	return &u
}

// rest measures the CPU of the idle stack for d after settle.
func (m *cpuMeter) rest(ctx context.Context, settle, d time.Duration) *cpu.Usage {
	if m == nil || d <= 0 {
		return nil
	}
	m.log.Info("measuring CPU at rest", "settle", settle, "duration", d)
	if !sleep(ctx, settle) {
		return nil
	}
	u := m.window(func() { sleep(ctx, d) })
	if ctx.Err() != nil {
		return nil
	}
	if u != nil {
		m.log.Info("CPU at rest", "pct_of_core", fmt.Sprintf("%.1f", u.TotalPct))
	}
	return u
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// msPerOrder is the stack's CPU (loadgen excluded) per created order of a
// step, -1 when not measured.
func msPerOrder(u *cpu.Usage, created int) float64 {
	if u == nil || created <= 0 {
		return -1
	}
	return u.TotalMS / float64(created)
}

// printCPUTable prints a row for the rest and each step: each component's
// CPU as a percentage of one core over the window and, for the steps, in ms
// per created order.
func printCPUTable(w io.Writer, r report) {
	var names []string
	seen := map[string]bool{}
	add := func(u *cpu.Usage) {
		if u == nil {
			return
		}
		for _, c := range u.Components {
			if !seen[c.Name] {
				seen[c.Name] = true
				names = append(names, c.Name)
			}
		}
	}
	add(r.Rest)
	for _, st := range r.Steps {
		add(st.CPU)
	}
	if len(names) == 0 {
		return
	}
	fmt.Fprintln(w, "CPU by component from /proc: % of one core over the window (ms per created order); total excludes loadgen")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "window\tseconds\t%s\ttotal\tms/order\tloadgen\t\n", strings.Join(names, "\t"))
	row := func(label string, u *cpu.Usage, created int) {
		if u == nil {
			return
		}
		by := map[string]cpu.ComponentUsage{}
		for _, c := range u.Components {
			by[c.Name] = c
		}
		cell := func(pct, ms float64) string {
			if created > 0 {
				return fmt.Sprintf("%.1f (%.2f)", pct, ms/float64(created))
			}
			return fmt.Sprintf("%.1f", pct)
		}
		cells := make([]string, len(names))
		for i, n := range names {
			c, ok := by[n]
			if !ok {
				cells[i] = "-"
				continue
			}
			cells[i] = cell(c.Pct, c.MS)
		}
		per := "-"
		if created > 0 {
			per = fmt.Sprintf("%.2f", msPerOrder(u, created))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%.1f\t\n", label, u.Seconds, strings.Join(cells, "\t"),
			fmt.Sprintf("%.1f", u.TotalPct), per, u.LoadgenPct)
	}
	row("rest", r.Rest, 0)
	for _, st := range r.Steps {
		row(fmt.Sprintf("%g/s", st.Rate), st.CPU, st.Created)
	}
	tw.Flush()
	fmt.Fprintln(w, "a step's window is its duration and drain, with the GET polling of the observed orders.")
	fmt.Fprintln(w)
}
