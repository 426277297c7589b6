package main

import (
	"slices"
	"strings"
	"testing"

	"shop/bench/ceiling"
	"shop/bench/cpu"
	"shop/bench/load"
	"shop/bench/stats"
)

func TestPlan(t *testing.T) {
	tests := []struct {
		name     string
		rates    []float64
		failFrom float64 // steps at or above this rate are not sustained; 0: none fail
		want     []float64
	}{
		{"AllSustained", []float64{100, 200, 400}, 0, []float64{100, 200, 400, 500}},
		{"StopsAtFirstFailureButRunsFixedPoints", []float64{100, 200, 300, 400, 600, 800}, 300, []float64{100, 200, 300, 500}},
		{"FixedPointsMergedInOrder", []float64{600, 50}, 0, []float64{50, 200, 500, 600}},
		{"FailsAtOnce", []float64{100}, 1, []float64{100, 200, 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran []float64
			got := plan(tt.rates, 200, 500, func(rate float64) bool {
				ran = append(ran, rate)
				return tt.failFrom == 0 || rate < tt.failFrom
			})
			if !slices.Equal(got, tt.want) || !slices.Equal(ran, tt.want) {
				t.Errorf("plan ran %v (returned %v), want %v", ran, got, tt.want)
			}
		})
	}
}

func TestSummarizeAndResultLine(t *testing.T) {
	step := func(rate float64, ok bool, e2e50, e2e99, create99 float64) stepReport {
		return stepReport{Result: load.Result{Rate: rate,
			E2E:    stats.Summary{Count: 10, P50: e2e50, P99: e2e99},
			Create: stats.Summary{Count: 10, P99: create99}}, Sustained: ok}
	}
	tests := []struct {
		name  string
		steps []stepReport
		ceil  *ceiling.Result
		want  string
	}{
		{"OK", []stepReport{step(100, true, 20, 40, 5), step(200, true, 25.4, 60.6, 6), step(500, true, 30, 90, 12.2), step(600, false, 900, 3000, 40)},
			&ceiling.Result{TPS: 1600},
			"RESULT max_orders_per_s=500 e2e_p50_ms=25 e2e_p99_ms=61 create_p99_ms=12 ceiling_tps=1600 ratio=0.31 cpu_ms_per_order=-1.00 idle_cpu_pct=-1.0"},
		{"FailureBelowAPassIsNotSustained", []stepReport{step(100, true, 20, 40, 5), step(200, false, 25, 2000, 6), step(500, true, 30, 90, 12)},
			&ceiling.Result{TPS: 1000},
			"RESULT max_orders_per_s=100 e2e_p50_ms=25 e2e_p99_ms=2000 create_p99_ms=12 ceiling_tps=1000 ratio=0.10 cpu_ms_per_order=-1.00 idle_cpu_pct=-1.0"},
		{"NothingMeasured", nil, nil,
			"RESULT max_orders_per_s=0 e2e_p50_ms=-1 e2e_p99_ms=-1 create_p99_ms=-1 ceiling_tps=-1 ratio=-1.00 cpu_ms_per_order=-1.00 idle_cpu_pct=-1.0"},
		{"CPUAtTheCreateRateAndAtRest", []stepReport{
			withCPU(step(200, true, 20, 40, 5), 200, 900),
			withCPU(step(500, true, 30, 90, 12), 5000, 15000)},
			nil,
			"RESULT max_orders_per_s=500 e2e_p50_ms=20 e2e_p99_ms=40 create_p99_ms=12 ceiling_tps=-1 ratio=-1.00 cpu_ms_per_order=3.00 idle_cpu_pct=4.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := report{FixedE2ERate: 200, FixedCreateRate: 500, Steps: tt.steps, Ceiling: tt.ceil}
			if tt.name == "CPUAtTheCreateRateAndAtRest" {
				r.Rest = &cpu.Usage{Seconds: 30, TotalMS: 1290, TotalPct: 4.3}
			}
			r.summarize()
			if got := r.resultLine(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// withCPU gives st created orders and a CPU total of ms over its window.
func withCPU(st stepReport, created int, ms float64) stepReport {
	st.Created = created
	st.CPU = &cpu.Usage{Seconds: 10, TotalMS: ms}
	st.CPUMSPerOrder = msPerOrder(st.CPU, created)
	return st
}

func TestMSPerOrder(t *testing.T) {
	tests := []struct {
		name    string
		u       *cpu.Usage
		created int
		want    float64
	}{
		{"OK", &cpu.Usage{TotalMS: 4500}, 1500, 3},
		{"NotMeasured", nil, 1500, -1},
		{"NoOrders", &cpu.Usage{TotalMS: 4500}, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := msPerOrder(tt.u, tt.created); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPrintCPUTable(t *testing.T) {
	r := report{
		Rest: &cpu.Usage{Seconds: 30, TotalPct: 10, Components: []cpu.ComponentUsage{{Name: "postgres", MS: 300, Pct: 1}, {Name: "connect", MS: 2700, Pct: 9}}},
		Steps: []stepReport{{Result: load.Result{Rate: 500, Created: 1000}, CPU: &cpu.Usage{Seconds: 13, TotalMS: 3000, TotalPct: 23.1, LoadgenPct: 4.2,
			Components: []cpu.ComponentUsage{{Name: "postgres", MS: 2000, Pct: 15.4}, {Name: "connect", MS: 1000, Pct: 7.7}, {Name: "orders-2", MS: 0, Pct: 0}}}}},
	}
	var b strings.Builder
	printCPUTable(&b, r)
	got := strings.Join(strings.Fields(b.String()), " ")
	for _, want := range []string{
		"window seconds postgres connect orders-2 total ms/order loadgen",
		"rest 30 1.0 9.0 - 10.0 - 0.0",
		"500/s 13 15.4 (2.00) 7.7 (1.00) 0.0 (0.00) 23.1 3.00 4.2",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	var empty strings.Builder
	printCPUTable(&empty, report{Steps: []stepReport{{Result: load.Result{Rate: 100}}}})
	if empty.Len() != 0 {
		t.Errorf("a run without CPU printed %q, want nothing", empty.String())
	}
}

func TestParseFlagsQuick(t *testing.T) {
	c, err := parseFlags([]string{"-quick", "-rates", "50, 20", "-drain", "7s", "-root", "/tmp"})
	if err != nil {
		t.Fatal(err)
	}
	if c.duration.Seconds() != 10 || c.drain.Seconds() != 7 || c.pgDuration.Seconds() != 5 {
		t.Errorf("duration %v drain %v pgbench %v, want 10s, 7s (explicit flag wins), 5s", c.duration, c.drain, c.pgDuration)
	}
	if !slices.Equal(c.rates, []float64{50, 20}) {
		t.Errorf("rates %v, want [50 20]", c.rates)
	}
	if _, err := parseFlags([]string{"-rates", "100,-5", "-root", "/tmp"}); err == nil {
		t.Error("negative rate accepted")
	}
}
