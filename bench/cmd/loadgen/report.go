package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"shop/bench/ceiling"
	"shop/bench/cpu"
)

// report is the JSON document of a run (bench/results/latest.json).
type report struct {
	RunID           string          `json:"run_id"`
	Started         time.Time       `json:"started"`
	Finished        time.Time       `json:"finished"`
	Gateway         string          `json:"gateway"`
	Stack           string          `json:"stack"` // "running" (found) or "started" (by loadgen)
	Accounts        int             `json:"accounts"`
	Amount          int64           `json:"amount"`
	PollIntervalMS  float64         `json:"poll_interval_ms"`
	ObserveMax      float64         `json:"observe_max_per_s"`
	StepDurationS   float64         `json:"step_duration_s"`
	DrainS          float64         `json:"drain_s"`
	MaxP99MS        float64         `json:"max_e2e_p99_ms"`
	FixedE2ERate    float64         `json:"fixed_e2e_rate"`
	FixedCreateRate float64         `json:"fixed_create_rate"`
	Ceiling         *ceiling.Result `json:"ceiling,omitempty"`
	// Processes are the stack's components found for the CPU accounting,
	// by name, with their pid; Rest is their CPU at rest before the load.
	Processes map[string]int `json:"processes,omitempty"`
	Rest      *cpu.Usage     `json:"rest,omitempty"`
	Steps     []stepReport   `json:"steps"`
	Summary   summary        `json:"summary"`
}

// summary is what the RESULT line says; -1 marks a value not measured.
type summary struct {
	MaxOrdersPerS float64 `json:"max_orders_per_s"`
	E2EP50MS      float64 `json:"e2e_p50_ms"`
	E2EP99MS      float64 `json:"e2e_p99_ms"`
	CreateP99MS   float64 `json:"create_p99_ms"`
	CeilingTPS    float64 `json:"ceiling_tps"`
	Ratio         float64 `json:"ratio"`
	// CPUMSPerOrder is the stack's CPU per order at the fixed create rate,
	// loadgen excluded; IdleCPUPct the whole stack's CPU at rest, in
	// percent of one core.
	CPUMSPerOrder float64 `json:"cpu_ms_per_order"`
	IdleCPUPct    float64 `json:"idle_cpu_pct"`
}

// summarize fills Summary: the highest rate sustained with every lower
// measured rate sustained too, the fixed points, the ceiling and the ratio.
func (r *report) summarize() {
	s := summary{E2EP50MS: -1, E2EP99MS: -1, CreateP99MS: -1, CeilingTPS: -1, Ratio: -1, CPUMSPerOrder: -1, IdleCPUPct: -1}
	steps := append([]stepReport(nil), r.Steps...)
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].Rate < steps[j].Rate })
	for _, st := range steps {
		if !st.Sustained {
			break
		}
		s.MaxOrdersPerS = st.Rate
	}
	for _, st := range r.Steps {
		if st.Rate == r.FixedE2ERate && st.E2E.Count > 0 {
			s.E2EP50MS, s.E2EP99MS = st.E2E.P50, st.E2E.P99
		}
		if st.Rate == r.FixedCreateRate && st.Create.Count > 0 {
			s.CreateP99MS = st.Create.P99
		}
		if st.Rate == r.FixedCreateRate && st.CPU != nil && st.Created > 0 {
			s.CPUMSPerOrder = st.CPU.TotalMS / float64(st.Created)
		}
	}
	if r.Rest != nil {
		s.IdleCPUPct = r.Rest.TotalPct
	}
	if r.Ceiling != nil && r.Ceiling.TPS > 0 {
		s.CeilingTPS = r.Ceiling.TPS
		s.Ratio = s.MaxOrdersPerS / r.Ceiling.TPS
	}
	r.Summary = s
}

// resultLine is the last line of stdout.
func (r *report) resultLine() string {
	s := r.Summary
	round := func(v float64) int64 { return int64(math.Round(v)) }
	return fmt.Sprintf("RESULT max_orders_per_s=%d e2e_p50_ms=%d e2e_p99_ms=%d create_p99_ms=%d ceiling_tps=%d ratio=%.2f cpu_ms_per_order=%.2f idle_cpu_pct=%.1f",
		round(s.MaxOrdersPerS), round(s.E2EP50MS), round(s.E2EP99MS), round(s.CreateP99MS), round(s.CeilingTPS), s.Ratio,
		s.CPUMSPerOrder, s.IdleCPUPct)
}

func printTable(w io.Writer, r report) {
	fmt.Fprintf(w, "\nshop end-to-end benchmark %s (stack %s, %d accounts, %.0fs steps, drain %.0fs, GET poll every %gms, observing up to %s orders/s)\n\n",
		r.RunID, r.Stack, r.Accounts, r.StepDurationS, r.DrainS, r.PollIntervalMS, observeText(r.ObserveMax))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rate/s\tsent\tok\terrors\tachieved/s\tcreate p50\tp90\tp99\tmax\te2e p50\tp90\tp99\tmax\tobserved\tGET/s\tsrv e2e p50\tsrv p99\tbacklog\tverdict\t")
	for _, st := range r.Steps {
		srv50, srv99 := "-", "-"
		if st.Server != nil {
			srv50, srv99 = f1(st.Server.P50), f1(st.Server.P99)
		}
		fmt.Fprintf(tw, "%g\t%d\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%.0f\t%s\t%s\t%d\t%s\t\n",
			st.Rate, st.Scheduled, st.Created, st.ErrorCount, st.Achieved,
			f1(st.Create.P50), f1(st.Create.P90), f1(st.Create.P99), f1(st.Create.Max),
			f1(st.E2E.P50), f1(st.E2E.P90), f1(st.E2E.P99), f1(st.E2E.Max),
			st.Observed, st.GETsPerS, srv50, srv99, st.Backlog, st.Verdict)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nlatencies in ms from the scheduled send time; e2e = POST sent until a GET sees PAID/CANCELLED (polling adds up to one interval);")
	fmt.Fprintln(w, "srv e2e = updated_at - created_at in the orders table over every order of the step; backlog = orders still PENDING after the drain.")
	for _, st := range r.Steps {
		if len(st.Errors) > 0 {
			var parts []string
			for k, v := range st.Errors {
				parts = append(parts, fmt.Sprintf("%s=%d", k, v))
			}
			sort.Strings(parts)
			fmt.Fprintf(w, "errors at %g/s: %s\n", st.Rate, strings.Join(parts, " "))
		}
		if st.Cancelled > 0 {
			fmt.Fprintf(w, "warning: %d observed orders CANCELLED at %g/s (accounts should be funded)\n", st.Cancelled, st.Rate)
		}
	}
	if c := r.Ceiling; c != nil {
		fmt.Fprintf(w, "\npgbench ceiling (order-creation transaction, scratch database %s):", c.Database)
		for _, run := range c.Runs {
			fmt.Fprintf(w, "  -c %d: %.0f tps (avg %.2f ms)", run.Clients, run.TPS, run.LatencyAvgMS)
		}
		fmt.Fprintln(w)
	}
	s := r.Summary
	fmt.Fprintf(w, "max sustained %g orders/s; e2e at %g/s p50 %s p99 %s ms; create p99 at %g/s %s ms; ceiling %.0f tps; ratio %.2f\n\n",
		s.MaxOrdersPerS, r.FixedE2ERate, f1(s.E2EP50MS), f1(s.E2EP99MS), r.FixedCreateRate, f1(s.CreateP99MS), s.CeilingTPS, s.Ratio)
}

func observeText(max float64) string {
	if max <= 0 {
		return "all"
	}
	return fmt.Sprintf("%g", max)
}

func f1(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", v)
}

// writeJSON writes r to path and a copy named after the run beside it.
func writeJSON(path, runID string, r report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(filepath.Dir(path), runID+".json"), b, 0o644)
}
