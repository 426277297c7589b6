package cpu

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

// statLine is a /proc/<pid>/stat line with the given fields and zeros
// elsewhere (52 fields as on Linux 5.x).
func statLine(pid int, comm string, ppid int, utime, stime, cutime, cstime, start uint64) string {
	f := make([]string, 52)
	for i := range f {
		f[i] = "0"
	}
	f[0], f[1], f[2], f[3] = strconv.Itoa(pid), "("+comm+")", "S", strconv.Itoa(ppid)
	f[13], f[14], f[15], f[16] = fmt.Sprint(utime), fmt.Sprint(stime), fmt.Sprint(cutime), fmt.Sprint(cstime)
	f[21] = fmt.Sprint(start)
	return strings.Join(f, " ") + "\n"
}

func TestReadStat(t *testing.T) {
	tests := []struct {
		name    string
		pid     int
		in      string
		want    Stat
		wantErr bool
	}{
		{"OK", 42, statLine(42, "postgres", 7, 100, 20, 300, 40, 5000),
			Stat{PID: 42, PPID: 7, Comm: "postgres", UTime: 100, STime: 20, CUTime: 300, CSTime: 40, StartTime: 5000}, false},
		{"CommWithSpacesAndParens", 9, statLine(9, "a b) (c", 1, 1, 2, 3, 4, 5),
			Stat{PID: 9, PPID: 1, Comm: "a b) (c", UTime: 1, STime: 2, CUTime: 3, CSTime: 4, StartTime: 5}, false},
		{"Real", 1234, "1234 (java) S 1000 1234 1000 0 -1 4194560 96 0 0 0 5512 731 12 3 20 0 57 0 88812 4294967295 1 1 0 0 0 0 0 4096 17154 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			Stat{PID: 1234, PPID: 1000, Comm: "java", UTime: 5512, STime: 731, CUTime: 12, CSTime: 3, StartTime: 88812}, false},
		{"ErrNoComm", 1234, "1234 java S 1\n", Stat{}, true},
		{"ErrShort", 1234, "1234 (java) S 1000 1 2 3\n", Stat{}, true},
		{"ErrPid", 1, "x (java) S 1\n", Stat{}, true},
		{"ErrNegativeTicks", 1, strings.Replace(statLine(1, "x", 0, 1, 2, 3, 4, 5), " 1 2 3 4 ", " -1 2 3 4 ", 1), Stat{}, true},
		{"ErrNegativeReapedTicks", 1, strings.Replace(statLine(1, "x", 0, 1, 2, 3, 4, 5), " 1 2 3 4 ", " 1 2 -3 4 ", 1), Stat{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, strconv.Itoa(tt.pid)), 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, strconv.Itoa(tt.pid), "stat"), tt.in)
			fs, err := procfs.NewFS(dir)
			if err != nil {
				t.Fatal(err)
			}
			p, err := fs.Proc(tt.pid)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readStat(p)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "pid "+strconv.Itoa(tt.pid)) {
					t.Fatalf("err %v, want one naming pid %d", err, tt.pid)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A postmaster (10) with backends 11, 12 (12 with a child 13), beside an
// unrelated tree (20, 21) and a process whose parent is unknown (30).
var table = Table{
	1:  {PID: 1, PPID: 0, UTime: 1000},
	10: {PID: 10, PPID: 1, UTime: 50, STime: 10, CUTime: 200, CSTime: 100},
	11: {PID: 11, PPID: 10, UTime: 7, STime: 3},
	12: {PID: 12, PPID: 10, UTime: 20, STime: 5, CUTime: 4, CSTime: 1},
	13: {PID: 13, PPID: 12, UTime: 2},
	20: {PID: 20, PPID: 1, UTime: 500},
	21: {PID: 21, PPID: 20, UTime: 60},
	30: {PID: 30, PPID: 99, UTime: 9},
}

func TestTree(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		want []int
	}{
		{"Postmaster", 10, []int{10, 11, 12, 13}},
		{"Leaf", 13, []int{13}},
		{"Other", 20, []int{20, 21}},
		{"Orphan", 30, []int{30}},
		{"Gone", 77, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := table.Tree(tt.pid)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTreeCPU(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		want time.Duration
	}{
		// own 60 + reaped 300, backends 10 and 25 + their reaped 5, grandchild 2
		{"PostmasterWithBackendsAndReaped", 10, (60 + 300 + 10 + 25 + 5 + 2) * Tick},
		{"BackendWithChild", 12, (25 + 5 + 2) * Tick},
		{"Other", 20, 560 * Tick},
		{"Gone", 77, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := table.TreeCPU(tt.pid); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// A backend that ends and is reaped between two samples is still counted:
// its CPU moves from its own line into the postmaster's reaped time.
func TestBetweenCountsReapedBackends(t *testing.T) {
	before := Table{
		10: {PID: 10, PPID: 1, UTime: 100, StartTime: 1},
		11: {PID: 11, PPID: 10, UTime: 40, StartTime: 2},
		20: {PID: 20, PPID: 1, UTime: 10, StartTime: 3},
	}
	after := Table{
		// 11 used 15 more ticks, then ended: 55 in the postmaster's cutime
		10: {PID: 10, PPID: 1, UTime: 120, CUTime: 55, StartTime: 1},
		12: {PID: 12, PPID: 10, UTime: 8, StartTime: 9}, // a new backend
		20: {PID: 20, PPID: 1, UTime: 10, StartTime: 3},
	}
	comps := []Component{{Name: Postgres, PID: 10, Start: 1}, {Name: "gateway", PID: 20, Start: 3}}
	sample := func(tb Table, at time.Time) Sample {
		s := Sample{At: at, CPU: map[string]time.Duration{}, missing: map[string]bool{}}
		for _, c := range comps {
			s.CPU[c.Name] = tb.TreeCPU(c.PID)
		}
		return s
	}
	t0 := time.Unix(0, 0)
	u := Between(sample(before, t0), sample(after, t0.Add(2*time.Second)))
	want := []ComponentUsage{{Name: Postgres, MS: 430, Pct: 21.5}, {Name: "gateway", MS: 0, Pct: 0}}
	if !slices.Equal(u.Components, want) {
		t.Errorf("components %+v, want %+v", u.Components, want)
	}
	if u.TotalMS != 430 || u.TotalPct != 21.5 {
		t.Errorf("total %v ms %v %%, want 430 ms 21.5 %%", u.TotalMS, u.TotalPct)
	}
}

func TestBetween(t *testing.T) {
	at := func(s float64) time.Time { return time.Unix(0, 0).Add(time.Duration(s * float64(time.Second))) }
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	tests := []struct {
		name        string
		a, b        Sample
		want        []ComponentUsage
		wantTotal   float64
		wantPct     float64
		wantMissing []string
		wantLoadgen float64
	}{
		{"OrderedPipelineFirst",
			Sample{At: at(0), CPU: map[string]time.Duration{"gateway": 0, "orders-2": ms(10), "orders-1": 0, Postgres: ms(100), Stack: 0}, Self: ms(5)},
			Sample{At: at(10), CPU: map[string]time.Duration{"gateway": ms(500), "orders-2": ms(1010), "orders-1": ms(1000), Postgres: ms(2100), Stack: ms(100)}, Self: ms(1005)},
			[]ComponentUsage{{Postgres, 2000, 20}, {"orders-1", 1000, 10}, {"orders-2", 1000, 10}, {"gateway", 500, 5}, {Stack, 100, 1}},
			4600, 46, nil, 1000},
		{"RestartedIsMissing",
			Sample{At: at(0), CPU: map[string]time.Duration{Kafka: ms(100), Connect: ms(300)}},
			Sample{At: at(1), CPU: map[string]time.Duration{Kafka: ms(150), Connect: ms(100)}, missing: map[string]bool{}},
			[]ComponentUsage{{Kafka, 50, 5}},
			50, 5, []string{Connect}, 0},
		{"GoneIsMissing",
			Sample{At: at(0), CPU: map[string]time.Duration{Kafka: ms(100), "payments-1": ms(10)}},
			Sample{At: at(1), CPU: map[string]time.Duration{Kafka: ms(100)}, missing: map[string]bool{"payments-1": true}},
			[]ComponentUsage{{Kafka, 0, 0}},
			0, 0, []string{"payments-1"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := Between(tt.a, tt.b)
			if !slices.Equal(u.Components, tt.want) {
				t.Errorf("components %+v, want %+v", u.Components, tt.want)
			}
			if u.TotalMS != tt.wantTotal || u.TotalPct != tt.wantPct {
				t.Errorf("total %v ms %v %%, want %v ms %v %%", u.TotalMS, u.TotalPct, tt.wantTotal, tt.wantPct)
			}
			if !slices.Equal(u.Missing, tt.wantMissing) {
				t.Errorf("missing %v, want %v", u.Missing, tt.wantMissing)
			}
			if u.LoadgenMS != tt.wantLoadgen {
				t.Errorf("loadgen %v ms, want %v", u.LoadgenMS, tt.wantLoadgen)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name         string
		argv         []string
		stdout, comm string
		want         string
	}{
		{"Kafka", []string{"/usr/bin/java", "-Xmx768m", "-cp", "/x/*", "kafka.Kafka", "/d/server.properties"}, "/d/kafka.log", "java", Kafka},
		{"Connect", []string{"/usr/bin/java", "-cp", "/x/*", "org.apache.kafka.connect.cli.ConnectDistributed", "/d/worker.properties"}, "/d/connect.log", "java", Connect},
		{"Postgres", []string{"/usr/lib/postgresql/15/bin/postgres", "-D", "/d"}, "/d/postgres.log", "postgres", Postgres},
		{"Instance", []string{"/repo/.bin/orders"}, "/repo/.data/logs/orders-2.log", "orders", "orders-2"},
		{"Gateway", []string{"/repo/.bin/gateway"}, "/repo/.data/logs/gateway.log", "gateway", "gateway"},
		{"StdoutNotALog", []string{"/bin/thing"}, "socket:[123]", "thing", "thing"},
		{"Nothing", nil, "", "", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.argv, tt.stdout, tt.comm); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestListenInodes(t *testing.T) {
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 20 4 30 10 -1
   2: 00000000:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3333 1 0000000000000000 100 0 0 10 0
`
	tcp6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0
`
	tests := []struct {
		name string
		in   string
		port int
		want []string
	}{
		{"ListenNotEstablished", tcp, 8080, []string{"1111"}},
		{"OtherPort", tcp, 9090, []string{"3333"}},
		{"IPv6", tcp6, 8080, []string{"4444"}},
		{"None", tcp, 5432, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := listenInodes([]byte(tt.in), tt.port); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// listen opens a TCP listener on a free loopback port until the test ends.
func listen(t *testing.T) (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// fakeProc writes a /proc with the given processes: stat, cmdline and fd/1.
func fakeProc(t *testing.T, procs []fakeProcess) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range procs {
		pd := filepath.Join(dir, strconv.Itoa(p.stat.PID))
		if err := os.MkdirAll(filepath.Join(pd, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		s := p.stat
		write(t, filepath.Join(pd, "stat"), statLine(s.PID, s.Comm, s.PPID, s.UTime, s.STime, s.CUTime, s.CSTime, s.StartTime))
		write(t, filepath.Join(pd, "cmdline"), strings.Join(p.argv, "\x00")+"\x00")
		if p.stdout != "" {
			if err := os.Symlink(p.stdout, filepath.Join(pd, "fd", "1")); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

type fakeProcess struct {
	stat   Stat
	argv   []string
	stdout string
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDiscover(t *testing.T) {
	dir := fakeProc(t, []fakeProcess{
		{Stat{PID: 1, Comm: "init"}, []string{"/sbin/init"}, ""},
		{Stat{PID: 100, PPID: 1, Comm: "stack", StartTime: 1}, []string{"/tmp/go-build/stack", "run"}, "/dev/pts/0"},
		{Stat{PID: 101, PPID: 100, Comm: "postgres", StartTime: 2}, []string{"/usr/lib/postgresql/15/bin/postgres", "-D", "/d"}, "/d/postgres.log"},
		{Stat{PID: 150, PPID: 101, Comm: "postgres", StartTime: 9}, []string{"postgres: walsender"}, ""},
		{Stat{PID: 102, PPID: 100, Comm: "java", StartTime: 3}, []string{"/usr/bin/java", "kafka.Kafka", "/d/server.properties"}, "/d/kafka.log"},
		{Stat{PID: 103, PPID: 100, Comm: "java", StartTime: 4}, []string{"/usr/bin/java", "org.apache.kafka.connect.cli.ConnectDistributed", "/d/w.properties"}, "/d/connect.log"},
		{Stat{PID: 104, PPID: 100, Comm: "orders", StartTime: 5}, []string{"/r/.bin/orders"}, "/d/logs/orders-1.log"},
		{Stat{PID: 105, PPID: 100, Comm: "orders", StartTime: 5}, []string{"/r/.bin/orders"}, "/d/logs/orders-2.log"},
		{Stat{PID: 106, PPID: 100, Comm: "payments", StartTime: 6}, []string{"/r/.bin/payments"}, "/d/logs/payments-1.log"},
		{Stat{PID: 107, PPID: 100, Comm: "gateway", StartTime: 7}, []string{"/r/.bin/gateway"}, "/d/logs/gateway.log"},
		{Stat{PID: 200, PPID: 1, Comm: "postgres", StartTime: 8}, []string{"/usr/lib/postgresql/15/bin/postgres", "-D", "/other"}, "/other/postgres.log"},
	})
	got, err := Proc{dir}.Discover(107)
	if err != nil {
		t.Fatal(err)
	}
	want := []Component{{Postgres, 101, 2, false}, {Kafka, 102, 3, false}, {Connect, 103, 4, false},
		{"orders-1", 104, 5, false}, {"orders-2", 105, 5, false}, {"payments-1", 106, 6, false}, {"gateway", 107, 7, false}, {Stack, 100, 1, true}}
	if !slices.Equal(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if _, err := (Proc{dir}).Discover(999); err == nil {
		t.Error("Discover of a missing gateway: no error")
	}
	if _, err := (Proc{dir}).Discover(100); err == nil {
		t.Error("Discover of a process whose parent is init: no error")
	}
}

// Against the real /proc: a child that burns CPU and ends is counted in
// this process's tree, and this process is found listening on its port.
func TestRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	p := Proc{"/proc"}
	self := os.Getpid()
	before, err := ReadTable("/proc")
	if err != nil {
		t.Fatal(err)
	}
	// A fixed amount of work in a shell (a few hundred ms of CPU), with a
	// grandchild, all ended and reaped.
	cmd := exec.Command("sh", "-c", `i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; sh -c 'j=0; while [ $j -lt 100000 ]; do j=$((j+1)); done'`)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	after, err := ReadTable("/proc")
	if err != nil {
		t.Fatal(err)
	}
	own := after[self].Own() - before[self].Own()
	if reaped := after.TreeCPU(self) - before.TreeCPU(self) - own; reaped < 50*time.Millisecond {
		t.Errorf("the tree's CPU beyond this process's own grew by %v after the children ran, want at least 50ms", reaped)
	}

	ln, err := listen(t)
	if err != nil {
		t.Skip("cannot listen:", err)
	}
	got, err := p.ListenerPID(ln)
	if err != nil {
		t.Fatal(err)
	}
	if got != self {
		t.Errorf("ListenerPID(%d) = %d, want %d (this test)", ln, got, self)
	}
}

// The load generator's own CPU leaves out its children: a stack it started
// is one of them, and is counted by component.
func TestSampleSelfIsOwnCPU(t *testing.T) {
	dir := fakeProc(t, []fakeProcess{
		{Stat{PID: 50, PPID: 1, Comm: "loadgen", UTime: 300, STime: 100, CUTime: 40, StartTime: 1}, []string{"loadgen"}, ""},
		{Stat{PID: 51, PPID: 50, Comm: "go", UTime: 5, StartTime: 2}, []string{"go", "run"}, ""},
		{Stat{PID: 52, PPID: 51, Comm: "stack", UTime: 7, StartTime: 3}, []string{"stack", "run"}, ""},
		{Stat{PID: 53, PPID: 52, Comm: "java", UTime: 9000, StartTime: 4}, []string{"java", "kafka.Kafka"}, "/d/kafka.log"},
	})
	s, err := Proc{dir}.Sample([]Component{{Name: Kafka, PID: 53, Start: 4}, {Name: Stack, PID: 52, Start: 3, Own: true}}, 50)
	if err != nil {
		t.Fatal(err)
	}
	if s.Self != 400*Tick {
		t.Errorf("self %v, want %v (own CPU only)", s.Self, 400*Tick)
	}
	if s.CPU[Kafka] != 9000*Tick || s.CPU[Stack] != 7*Tick {
		t.Errorf("kafka %v stack %v, want %v and %v", s.CPU[Kafka], s.CPU[Stack], 9000*Tick, 7*Tick)
	}
	if s2, _ := (Proc{dir}).Sample([]Component{{Name: Kafka, PID: 53, Start: 99}}, 50); !s2.missing[Kafka] {
		t.Error("a component whose pid now has another start time is not missing")
	}
}
