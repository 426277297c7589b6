package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

func printReport(w io.Writer, r report) {
	fmt.Fprintf(w, "\nstreambench %s  gateway %s (%s stack)  load average at start: %s\n\n", r.RunID, r.Gateway, r.Stack, r.LoadAvg)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tstreams\tusers\trate\tachieved\tcreated\tchange p50 ms\tp99 ms\tmax ms\tsamples\tmissing\tcreated-event p50 ms\tp99 ms\tclock\t")
	for _, l := range r.Latency {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%g\t%.1f\t%d\t%.1f\t%.1f\t%.1f\t%d\t%d\t%.1f\t%.1f\t%s\t\n", l.Name, l.Streams, l.Users, l.Rate,
			l.Achieved, l.Created, l.Change.P50, l.Change.P99, l.Change.Max, l.Change.Count, l.Missing, l.CreatedEvent.P50, l.CreatedEvent.P99, l.Clock)
	}
	tw.Flush()
	for _, l := range r.Latency {
		if l.CommitGap != nil {
			fmt.Fprintf(w, "%s: updated_at precedes the commit by p50 %.2f ms, p99 %.2f ms\n", l.Name, l.CommitGap.P50, l.CommitGap.P99)
		}
		if len(l.Waits) > 0 {
			fmt.Fprintf(w, "%s: the orders database's active sessions waited on", l.Name)
			for _, ws := range l.Waits {
				fmt.Fprintf(w, " %s %.1f%%", ws.Event, ws.Pct)
			}
			fmt.Fprintln(w)
		}
		if len(l.Errors) > 0 {
			fmt.Fprintf(w, "%s: errors %v\n", l.Name, l.Errors)
		}
	}
	if m := r.Memory; m != nil {
		fmt.Fprintf(w, "\n%d streams over %d users, opened in %.1f s\n", m.Streams, m.Users, m.OpenTookS)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "process\tRSS before MiB\tafter MiB\tRSS/stream KiB\theap in use/stream KiB\tlive heap/stream KiB\tstacks/stream KiB\tgoroutines/stream\t")
		for _, p := range []struct {
			name          string
			before, after memSample
			per           perStream
		}{{"gateway", m.GatewayBefore, m.GatewayAfter, m.Gateway}, {"orders", m.OrdersBefore, m.OrdersAfter, m.Orders}} {
			fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", p.name, mib(p.before.RSSBytes), mib(p.after.RSSBytes),
				p.per.RSSBytes/1024, p.per.HeapBytes/1024, p.per.HeapAlloc/1024, p.per.StackBytes/1024, p.per.GoroutinesPer)
		}
		tw.Flush()
	}
	if r.StreamEnd > 0 || r.BadFrames > 0 {
		fmt.Fprintf(w, "streams that ended early: %d, undecodable events: %d\n", r.StreamEnd, r.BadFrames)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
