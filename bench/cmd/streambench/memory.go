package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// memSample is the memory of one Go process of the stack at one moment.
type memSample struct {
	// RSSBytes is VmRSS from /proc/<pid>/status (or, when the process is
	// not readable here, the process_resident_memory_bytes metric); -1:
	// unknown.
	RSSBytes int64 `json:"rss_bytes"`
	// From the admin listener's /metrics, read right after a GC
	// (/debug/pprof/heap?gc=1): the live heap, the heap spans in use, the
	// goroutine stacks, the goroutines.
	HeapAllocBytes int64 `json:"heap_alloc_bytes"`
	HeapInuseBytes int64 `json:"heap_inuse_bytes"`
	StackInuse     int64 `json:"stack_inuse_bytes"`
	Goroutines     int64 `json:"goroutines"`
	StreamsOpen    int64 `json:"streams_open"` // shop_gateway_streams_open; the gateway's only
}

// perStream is the memory one open stream costs, from two samples taken
// with n streams more open in the second.
type perStream struct {
	Streams       int     `json:"streams"`
	RSSBytes      float64 `json:"rss_bytes_per_stream"`
	HeapBytes     float64 `json:"heap_inuse_bytes_per_stream"`
	HeapAlloc     float64 `json:"heap_alloc_bytes_per_stream"`
	StackBytes    float64 `json:"stack_bytes_per_stream"`
	GoroutinesPer float64 `json:"goroutines_per_stream"`
}

// divide returns (after-before)/n per field; -1 where a sample is unknown.
func divide(before, after memSample, n int) perStream {
	d := func(a, b int64) float64 {
		if a < 0 || b < 0 || n <= 0 {
			return -1
		}
		return math.Round(float64(b-a)/float64(n)*10) / 10
	}
	return perStream{
		Streams:       n,
		RSSBytes:      d(before.RSSBytes, after.RSSBytes),
		HeapBytes:     d(before.HeapInuseBytes, after.HeapInuseBytes),
		HeapAlloc:     d(before.HeapAllocBytes, after.HeapAllocBytes),
		StackBytes:    d(before.StackInuse, after.StackInuse),
		GoroutinesPer: d(before.Goroutines, after.Goroutines),
	}
}

// readVmRSS returns VmRSS of process pid under procDir (/proc) in bytes.
// A process has no VmRSS line, or procfs could not read it, when it
// reads as 0: an error, since a live process of the stack holds memory.
func readVmRSS(procDir string, pid int) (int64, error) {
	fs, err := procfs.NewFS(procDir)
	if err != nil {
		return 0, err
	}
	p, err := fs.Proc(pid)
	if err != nil {
		return 0, err
	}
	st, err := p.NewStatus()
	if err != nil {
		return 0, err
	}
	if st.VmRSS == 0 {
		return 0, fmt.Errorf("pid %d: no VmRSS in kB", pid)
	}
	return int64(st.VmRSS), nil
}

// parseMetrics returns the values of the named unlabelled samples of a
// Prometheus text exposition. Names not present are absent from the map.
func parseMetrics(r io.Reader, names ...string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok || !want[name] {
			continue
		}
		f := strings.Fields(rest) // value [timestamp]
		if len(f) == 0 {
			return nil, fmt.Errorf("metric %s: no value", name)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", name, err)
		}
		out[name] = v
	}
	return out, sc.Err()
}

// process is a Go process of the stack: its pid (0: not found on this
// machine) and its admin listener.
type process struct {
	name     string
	pid      int
	adminURL string
	proc     string
}

// sample collects garbage in the process (the heap profile with gc=1 runs
// a GC first), lets the runtime settle, and reads its memory.
func (p process) sample(ctx context.Context, hc *http.Client) (memSample, error) {
	s := memSample{RSSBytes: -1}
	if err := get(ctx, hc, p.adminURL+"/debug/pprof/heap?gc=1", io.Discard); err != nil {
		return s, fmt.Errorf("%s: gc: %w", p.name, err)
	}
	time.Sleep(200 * time.Millisecond)
	var buf bytes.Buffer
	if err := get(ctx, hc, p.adminURL+"/metrics", &buf); err != nil {
		return s, fmt.Errorf("%s: metrics: %w", p.name, err)
	}
	m, err := parseMetrics(&buf, "go_memstats_heap_alloc_bytes", "go_memstats_heap_inuse_bytes",
		"go_memstats_stack_inuse_bytes", "go_goroutines", "process_resident_memory_bytes", "shop_gateway_streams_open")
	if err != nil {
		return s, fmt.Errorf("%s: metrics: %w", p.name, err)
	}
	s.HeapAllocBytes = int64(m["go_memstats_heap_alloc_bytes"])
	s.HeapInuseBytes = int64(m["go_memstats_heap_inuse_bytes"])
	s.StackInuse = int64(m["go_memstats_stack_inuse_bytes"])
	s.Goroutines = int64(m["go_goroutines"])
	s.StreamsOpen = int64(m["shop_gateway_streams_open"])
	if v, ok := m["process_resident_memory_bytes"]; ok {
		s.RSSBytes = int64(v)
	}
	if p.pid > 0 {
		if rss, err := readVmRSS(p.proc, p.pid); err == nil {
			s.RSSBytes = rss
		}
	}
	return s, nil
}

// streamsOpen reads the gateway's shop_gateway_streams_open.
func streamsOpen(ctx context.Context, hc *http.Client, adminURL string) (int, error) {
	var buf bytes.Buffer
	if err := get(ctx, hc, adminURL+"/metrics", &buf); err != nil {
		return 0, err
	}
	m, err := parseMetrics(&buf, "shop_gateway_streams_open")
	if err != nil {
		return 0, err
	}
	return int(m["shop_gateway_streams_open"]), nil
}

func get(ctx context.Context, hc *http.Client, url string, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// saveHeapProfile writes the heap profile of the process at adminURL to
// path (read it with go tool pprof -sample_index=inuse_space).
func saveHeapProfile(ctx context.Context, hc *http.Client, adminURL, path string) error {
	var buf bytes.Buffer
	if err := get(ctx, hc, adminURL+"/debug/pprof/heap", &buf); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
