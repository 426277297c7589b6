package main

import (
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"shop/gateway/sse"
)

// The frames of an order stream that the benchmark reads: those with an
// id or data.
func TestNextFrame(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []sse.Frame
	}{
		{"opening", "retry: 2000\n\nid: 0\n\n", []sse.Frame{{ID: "0", HasID: true}}},
		{"event", "id: 3\nevent: order\ndata: {\"a\":1}\n\n", []sse.Frame{{ID: "3", HasID: true, Event: "order", Data: `{"a":1}`, HasData: true}}},
		{"comments skipped", ": keep-alive\n\n: x\nid: 1\nevent: order\ndata: x\n\n", []sse.Frame{{ID: "1", HasID: true, Event: "order", Data: "x", HasData: true, Comments: []string{"x"}}}},
		{"CRLF and no space", "id:7\r\nevent:order\r\ndata:y\r\n\r\n", []sse.Frame{{ID: "7", HasID: true, Event: "order", Data: "y", HasData: true}}},
		{"data lines joined", "event: order\ndata: a\ndata: b\n\n", []sse.Frame{{Event: "order", Data: "a\nb", HasData: true}}},
		{"cut off frame dropped", "id: 1\nevent: order\ndata: x\n\nid: 2\nevent: order\ndata: y\n", []sse.Frame{{ID: "1", HasID: true, Event: "order", Data: "x", HasData: true}}},
		{"long line", "event: order\ndata: " + strings.Repeat("z", 40000) + "\n\n", []sse.Frame{{Event: "order", Data: strings.Repeat("z", 40000), HasData: true}}},
		{"two frames", "id: 1\n\nid: 2\nevent: order\ndata: q\n\n", []sse.Frame{{ID: "1", HasID: true}, {ID: "2", HasID: true, Event: "order", Data: "q", HasData: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sse.NewReader(strings.NewReader(tt.input))
			var got []sse.Frame
			for {
				f, err := nextFrame(r)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, f)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseOrderEvent(t *testing.T) {
	at := time.Date(2026, 11, 28, 9, 0, 0, 123456000, time.UTC)
	tests := []struct {
		name    string
		fr      sse.Frame
		want    orderEvent
		wantErr string
	}{
		{"paid", sse.Frame{Event: "order", Data: `{"id":"o1","user_id":"u","amount":100,"status":"PAID","created_at":"2026-11-28T08:59:59Z","updated_at":"2026-11-28T09:00:00.123456Z"}`},
			orderEvent{ID: "o1", UserID: "u", Status: "PAID", CreatedAt: at.Add(-time.Second - 123456000), UpdatedAt: at}, ""},
		{"other event", sse.Frame{Event: "ping", Data: "{}"}, orderEvent{}, `event "ping"`},
		{"bad json", sse.Frame{Event: "order", Data: "{"}, orderEvent{}, "event order:"},
		{"no updated_at", sse.Frame{Event: "order", Data: `{"id":"o1","status":"PAID"}`}, orderEvent{}, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOrderEvent(tt.fr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.UpdatedAt.Equal(tt.want.UpdatedAt) || !got.CreatedAt.Equal(tt.want.CreatedAt) || got.ID != tt.want.ID || got.Status != tt.want.Status || got.UserID != tt.want.UserID {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLatencies(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	reads := []read{
		{Order: "a", Status: "PENDING", Updated: ms(0), At: ms(3)},
		{Order: "a", Status: "PAID", Updated: ms(10), At: ms(15)},
		{Order: "a", Status: "PAID", Updated: ms(10), At: ms(17)}, // a second stream of the user
		{Order: "b", Status: "CANCELLED", Updated: ms(20), At: ms(40)},
		{Order: "x", Status: "PAID", Updated: ms(0), At: ms(1000)}, // not of this run
	}
	tests := []struct {
		name                string
		want                map[string]bool
		commits             map[changeKey]time.Time
		perOrder            int
		change, created     []time.Duration
		missing, fromCommit int
	}{
		{"updated_at", map[string]bool{"a": true, "b": true}, nil, 1,
			[]time.Duration{5 * time.Millisecond, 7 * time.Millisecond, 20 * time.Millisecond}, []time.Duration{3 * time.Millisecond}, 0, 0},
		{"two reads per order wanted", map[string]bool{"a": true, "b": true}, nil, 2,
			[]time.Duration{5 * time.Millisecond, 7 * time.Millisecond, 20 * time.Millisecond}, []time.Duration{3 * time.Millisecond}, 1, 0},
		{"order never read", map[string]bool{"a": true, "c": true}, nil, 1,
			[]time.Duration{5 * time.Millisecond, 7 * time.Millisecond}, []time.Duration{3 * time.Millisecond}, 1, 0},
		{"commit times win", map[string]bool{"a": true, "b": true}, map[changeKey]time.Time{{"a", "PAID"}: ms(12)}, 1,
			[]time.Duration{3 * time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond}, []time.Duration{3 * time.Millisecond}, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			change, created, missing, fromCommit := latencies(reads, tt.want, tt.commits, tt.perOrder)
			slices.Sort(change)
			if !slices.Equal(change, tt.change) || !slices.Equal(created, tt.created) || missing != tt.missing || fromCommit != tt.fromCommit {
				t.Errorf("got %v %v missing %d fromCommit %d; want %v %v %d %d", change, created, missing, fromCommit,
					tt.change, tt.created, tt.missing, tt.fromCommit)
			}
		})
	}
}

func TestCommitGaps(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	reads := []read{
		{Order: "a", Status: "PAID", Updated: t0, At: t0.Add(9 * time.Millisecond)},
		{Order: "a", Status: "PAID", Updated: t0, At: t0.Add(9 * time.Millisecond)}, // counted once
		{Order: "a", Status: "PENDING", Updated: t0.Add(-time.Second)},
		{Order: "b", Status: "PAID", Updated: t0},
	}
	commits := map[changeKey]time.Time{{"a", "PAID"}: t0.Add(2 * time.Millisecond), {"a", "PENDING"}: t0}
	got := commitGaps(reads, map[string]bool{"a": true, "b": true}, commits)
	if want := []time.Duration{2 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 2031
go_memstats_heap_inuse_bytes 1.2345e+07
go_memstats_heap_inuse_bytes_total 1
shop_gateway_streams_open 1000
http_requests_total{code="200"} 5
`
	tests := []struct {
		name    string
		text    string
		names   []string
		want    map[string]float64
		wantErr bool
	}{
		{"selected", text, []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "shop_gateway_streams_open"},
			map[string]float64{"go_goroutines": 2031, "go_memstats_heap_inuse_bytes": 12345000, "shop_gateway_streams_open": 1000}, false},
		{"absent name", text, []string{"process_resident_memory_bytes"}, map[string]float64{}, false},
		{"labelled samples are not matched", text, []string{"http_requests_total"}, map[string]float64{}, false},
		{"bad value", "go_goroutines x\n", []string{"go_goroutines"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMetrics(strings.NewReader(tt.text), tt.names...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDivide(t *testing.T) {
	before := memSample{RSSBytes: 30 << 20, HeapInuseBytes: 10 << 20, HeapAllocBytes: 8 << 20, StackInuse: 1 << 20, Goroutines: 20}
	after := memSample{RSSBytes: 30<<20 + 10_240_000, HeapInuseBytes: 10<<20 + 5_120_000, HeapAllocBytes: 8<<20 + 4_000_000, StackInuse: 1<<20 + 8_192_000, Goroutines: 2020}
	tests := []struct {
		name          string
		before, after memSample
		n             int
		want          perStream
	}{
		{"per stream", before, after, 1000, perStream{Streams: 1000, RSSBytes: 10240, HeapBytes: 5120, HeapAlloc: 4000, StackBytes: 8192, GoroutinesPer: 2}},
		{"unknown RSS", memSample{RSSBytes: -1}, after, 1000, perStream{Streams: 1000, RSSBytes: -1, HeapBytes: float64(after.HeapInuseBytes) / 1000,
			HeapAlloc: float64(after.HeapAllocBytes) / 1000, StackBytes: float64(after.StackInuse) / 1000, GoroutinesPer: 2.0}},
		{"no streams", before, after, 0, perStream{RSSBytes: -1, HeapBytes: -1, HeapAlloc: -1, StackBytes: -1, GoroutinesPer: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := divide(tt.before, tt.after, tt.n)
			near := func(a, b float64) bool { return a-b < 0.1 && b-a < 0.1 }
			if got.Streams != tt.want.Streams || !near(got.RSSBytes, tt.want.RSSBytes) || !near(got.HeapBytes, tt.want.HeapBytes) ||
				!near(got.HeapAlloc, tt.want.HeapAlloc) || !near(got.StackBytes, tt.want.StackBytes) || !near(got.GoroutinesPer, tt.want.GoroutinesPer) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestShift(t *testing.T) {
	tests := []struct {
		addr   string
		offset int
		want   string
	}{
		{"127.0.0.1:8080", 0, "127.0.0.1:8080"},
		{"127.0.0.1:8080", 10000, "127.0.0.1:18080"},
		{"[::1]:9101", 5, "[::1]:9106"},
		{"no-port", 5, "no-port"},
	}
	for _, tt := range tests {
		if got := shift(tt.addr, tt.offset); got != tt.want {
			t.Errorf("shift(%q, %d) = %q, want %q", tt.addr, tt.offset, got, tt.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		wantErr     string
		gateway     string
		ordersAdmin string
		ordersPort  int
	}{
		{"defaults", []string{"-root", "/r"}, "", "http://127.0.0.1:8080", "http://127.0.0.1:9111", 9101},
		{"offset", []string{"-root", "/r", "-port-offset", "10000"}, "", "http://127.0.0.1:18080", "http://127.0.0.1:19111", 19101},
		{"explicit gateway wins", []string{"-root", "/r", "-port-offset", "1", "-gateway", "http://localhost:1234"}, "", "http://localhost:1234", "http://127.0.0.1:9112", 9102},
		{"zero rate", []string{"-root", "/r", "-rate", "0"}, "-rate", "", "", 0},
		{"no users", []string{"-root", "/r", "-users", "0"}, "-users", "", "", 0},
		{"negative offset", []string{"-root", "/r", "-port-offset", "-1"}, "-port-offset", "", "", 0},
		{"stray argument", []string{"-root", "/r", "extra"}, "unexpected", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("POSTGRES_PORT", "")
			c, err := parseFlags(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.gatewayURL != tt.gateway || c.ordersAdmin != tt.ordersAdmin || c.ordersPort != tt.ordersPort {
				t.Errorf("got %s %s %d, want %s %s %d", c.gatewayURL, c.ordersAdmin, c.ordersPort, tt.gateway, tt.ordersAdmin, tt.ordersPort)
			}
		})
	}
}

func TestStackEnv(t *testing.T) {
	c := config{portOffset: 10000}
	got := c.stackEnv()
	for _, want := range []string{"AUTH_MODE=header", "POSTGRES_PORT=15432", "GATEWAY_HTTP_ADDR=127.0.0.1:18080",
		"ORDERS_GRPC_ADDR=127.0.0.1:19101", "GATEWAY_ADMIN_ADDR=127.0.0.1:19110", "CONNECT_PORT=18083"} {
		if !slices.Contains(got, want) {
			t.Errorf("stackEnv lacks %s: %v", want, got)
		}
	}
}

func TestShares(t *testing.T) {
	tests := []struct {
		name   string
		counts map[string]int
		top    int
		want   []waitShare
	}{
		{"none", map[string]int{}, 3, nil},
		{"sorted", map[string]int{"CPU": 1, "Lock:object": 6, "IO:WALSync": 3}, 3,
			[]waitShare{{"Lock:object", 60}, {"IO:WALSync", 30}, {"CPU", 10}}},
		{"top and ties by name", map[string]int{"b": 1, "a": 1, "c": 2}, 2, []waitShare{{"c", 50}, {"a", 25}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shares(tt.counts, tt.top); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
