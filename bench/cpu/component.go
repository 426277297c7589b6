package cpu

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// Names of the components that are not service instances (those are named
// after their log file, such as orders-2, as stack/local names them).
const (
	Postgres = "postgres"
	Kafka    = "kafka"
	Connect  = "connect"
	// Stack is the supervisor (`stack run`) itself, without its children.
	Stack = "stack"
)

// Component is one process tree of the stack.
type Component struct {
	Name  string
	PID   int
	Start uint64 // Stat.StartTime: a different process with the same pid is not this one
	// Own counts only the process itself, not its tree (the supervisor,
	// whose children are the other components).
	Own bool
}

// Proc reads the process table and the processes' identities under one
// /proc directory.
type Proc struct{ Dir string }

// ListenerPID returns the process listening on TCP port on any address:
// the socket's inode from net/tcp and net/tcp6, then the process holding
// it among the fds of every process.
func (p Proc) ListenerPID(port int) (int, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"net/tcp", "net/tcp6"} {
		b, err := os.ReadFile(filepath.Join(p.Dir, f))
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return 0, err
		}
		for _, ino := range listenInodes(b, port) {
			inodes["socket:["+ino+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no process listens on port %d", port)
	}
	entries, err := os.ReadDir(p.Dir)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		fdDir := filepath.Join(p.Dir, e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue // ended, or not ours to read
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && inodes[link] {
				return strconv.Atoi(e.Name())
			}
		}
	}
	return 0, fmt.Errorf("port %d: the listening socket belongs to no process readable here", port)
}

// listenInodes returns the inodes of the sockets listening on port in the
// content of /proc/net/tcp or tcp6.
func listenInodes(b []byte, port int) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
			continue
		}
		i := strings.LastIndexByte(f[1], ':')
		if i < 0 {
			continue
		}
		if n, err := strconv.ParseUint(f[1][i+1:], 16, 16); err == nil && int(n) == port {
			out = append(out, f[9])
		}
	}
	return out
}

// Discover finds the components of the stack whose gateway is gatewayPID:
// the gateway's parent is the supervisor, and its children are Postgres'
// postmaster, Kafka, Connect, the service instances and the gateway. Each
// is named by Classify; the supervisor itself is Stack.
func (p Proc) Discover(gatewayPID int) ([]Component, error) {
	t, err := ReadTable(p.Dir)
	if err != nil {
		return nil, err
	}
	gw, ok := t[gatewayPID]
	if !ok {
		return nil, fmt.Errorf("gateway pid %d: no such process", gatewayPID)
	}
	sup, ok := t[gw.PPID]
	if !ok || gw.PPID <= 1 {
		return nil, fmt.Errorf("gateway pid %d: its parent %d is not a supervisor", gatewayPID, gw.PPID)
	}
	fs, err := procfs.NewFS(p.Dir)
	if err != nil {
		return nil, err
	}
	out := []Component{{Name: Stack, PID: sup.PID, Start: sup.StartTime, Own: true}}
	for _, pid := range t.Children(sup.PID) {
		var argv []string
		if pr, err := fs.Proc(pid); err == nil {
			argv, _ = pr.CmdLine()
		}
		stdout, _ := os.Readlink(filepath.Join(p.Dir, strconv.Itoa(pid), "fd", "1"))
		name := Classify(argv, stdout, t[pid].Comm)
		out = append(out, Component{Name: name, PID: pid, Start: t[pid].StartTime})
	}
	slices.SortFunc(out, func(a, b Component) int { return compareNames(a.Name, b.Name) })
	return out, nil
}

// Classify names a child of the supervisor from its command line, the
// target of its stdout (stack/local writes each component's output to
// <name>.log) and its command name, in that order of trust.
func Classify(argv []string, stdout, comm string) string {
	for _, a := range argv {
		switch a {
		case "kafka.Kafka":
			return Kafka
		case "org.apache.kafka.connect.cli.ConnectDistributed":
			return Connect
		}
	}
	if len(argv) > 0 && filepath.Base(argv[0]) == "postgres" {
		return Postgres
	}
	if base := filepath.Base(stdout); strings.HasSuffix(base, ".log") && !strings.HasPrefix(stdout, "socket:") {
		return strings.TrimSuffix(base, ".log")
	}
	if comm != "" {
		return comm
	}
	return "unknown"
}

// order is the order of the table's columns: the pipeline from the
// database outwards, then the services and the gateway.
var order = []string{Postgres, Kafka, Connect, "orders", "payments", "gateway", Stack}

func compareNames(a, b string) int {
	rank := func(n string) int {
		base := n
		if i := strings.LastIndexByte(n, '-'); i > 0 {
			if _, err := strconv.Atoi(n[i+1:]); err == nil {
				base = n[:i]
			}
		}
		if r := slices.Index(order, base); r >= 0 {
			return r
		}
		return len(order)
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra - rb
	}
	return strings.Compare(a, b) // orders-1 < orders-2 (up to 9 instances)
}

// Sample is the CPU used so far by each component and by this process
// (the load generator, without its children) at one moment.
type Sample struct {
	At      time.Time
	CPU     map[string]time.Duration
	Self    time.Duration
	missing map[string]bool
}

// Sample reads the CPU of comps and of selfPID now. A component whose
// process has gone (or was replaced under its pid) is marked missing.
func (p Proc) Sample(comps []Component, selfPID int) (Sample, error) {
	t, err := ReadTable(p.Dir)
	if err != nil {
		return Sample{}, err
	}
	s := Sample{At: time.Now(), CPU: map[string]time.Duration{}, missing: map[string]bool{}}
	for _, c := range comps {
		st, ok := t[c.PID]
		switch {
		case !ok || st.StartTime != c.Start:
			s.missing[c.Name] = true
		case c.Own:
			s.CPU[c.Name] = st.Own()
		default:
			s.CPU[c.Name] = t.TreeCPU(c.PID)
		}
	}
	// The process alone: a stack loadgen started is among its descendants.
	s.Self = t[selfPID].Own()
	return s, nil
}

// Usage is the CPU each component used in a window.
type Usage struct {
	Seconds float64 `json:"seconds"`
	// Components by name, in the table's order; ms of CPU in the window.
	Components []ComponentUsage `json:"components"`
	TotalMS    float64          `json:"total_ms"`
	// TotalPct is TotalMS as a percentage of one core over the window.
	TotalPct float64 `json:"total_pct_of_core"`
	// LoadgenMS is the load generator's CPU, not in the total.
	LoadgenMS  float64 `json:"loadgen_ms"`
	LoadgenPct float64 `json:"loadgen_pct_of_core"`
	// Missing names the components that ended or restarted in the window
	// (not in the total).
	Missing []string `json:"missing,omitempty"`
}

// ComponentUsage is one component's CPU in a window.
type ComponentUsage struct {
	Name string  `json:"name"`
	MS   float64 `json:"ms"`
	Pct  float64 `json:"pct_of_core"`
}

// Between is the CPU used from a to b by the components of both samples.
func Between(a, b Sample) Usage {
	u := Usage{Seconds: b.At.Sub(a.At).Seconds()}
	pct := func(ms float64) float64 {
		if u.Seconds <= 0 {
			return 0
		}
		return ms / (u.Seconds * 1000) * 100
	}
	var names []string
	for n := range a.CPU {
		names = append(names, n)
	}
	for n := range a.missing {
		names = append(names, n)
	}
	for n := range b.missing {
		names = append(names, n)
	}
	slices.SortFunc(names, compareNames)
	names = slices.Compact(names)
	for _, n := range names {
		before, ok := a.CPU[n]
		after, ok2 := b.CPU[n]
		if !ok || !ok2 || after < before {
			u.Missing = append(u.Missing, n)
			continue
		}
		ms := float64(after-before) / float64(time.Millisecond)
		u.Components = append(u.Components, ComponentUsage{Name: n, MS: ms, Pct: pct(ms)})
		u.TotalMS += ms
	}
	u.TotalPct = pct(u.TotalMS)
	u.LoadgenMS = float64(b.Self-a.Self) / float64(time.Millisecond)
	u.LoadgenPct = pct(u.LoadgenMS)
	return u
}
