// Package cpu accounts the CPU time of the shop's processes from /proc:
// utime+stime per process, summed over process trees (Postgres' postmaster
// and its backends), between two snapshots. Linux only.
package cpu

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Tick is one clock tick of /proc/<pid>/stat's time fields (USER_HZ), which
// is 100 per second on every Linux architecture Go supports.
const Tick = 10 * time.Millisecond

// Stat is what the accounting needs of /proc/<pid>/stat.
type Stat struct {
	PID, PPID int
	Comm      string
	// UTime and STime are the process's own CPU (every thread, live or
	// ended), CUTime and CSTime those of its children it has waited for
	// (with their own reaped children), in ticks.
	UTime, STime, CUTime, CSTime uint64
	// StartTime is when the process started, in ticks after boot: with the
	// pid it identifies a process across snapshots.
	StartTime uint64
}

// Own is the CPU the process used itself.
func (s Stat) Own() time.Duration { return time.Duration(s.UTime+s.STime) * Tick }

// WithReaped is Own plus the CPU of the children it has reaped.
func (s Stat) WithReaped() time.Duration {
	return time.Duration(s.UTime+s.STime+s.CUTime+s.CSTime) * Tick
}

// ParseStat parses the content of /proc/<pid>/stat (proc(5)). The command
// name is in parentheses and may itself hold spaces and parentheses, so the
// fields are counted from its last ')'.
func ParseStat(b []byte) (Stat, error) {
	open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 1 || close < open {
		return Stat{}, fmt.Errorf("stat %q: no (comm)", truncate(b))
	}
	var s Stat
	var err error
	if s.PID, err = strconv.Atoi(string(bytes.TrimSpace(b[:open]))); err != nil {
		return Stat{}, fmt.Errorf("stat %q: pid: %w", truncate(b), err)
	}
	s.Comm = string(b[open+1 : close])
	// Fields from 3 (state) on; f[i] is field i+3 of proc(5).
	f := strings.Fields(string(b[close+1:]))
	const starttime = 22 - 3
	if len(f) <= starttime {
		return Stat{}, fmt.Errorf("stat %q: %d fields after comm, want at least %d", truncate(b), len(f), starttime+1)
	}
	for _, v := range []struct {
		field int
		dst   *uint64
	}{{14, &s.UTime}, {15, &s.STime}, {16, &s.CUTime}, {17, &s.CSTime}, {22, &s.StartTime}} {
		n, err := strconv.ParseInt(f[v.field-3], 10, 64)
		if err != nil || n < 0 {
			return Stat{}, fmt.Errorf("stat %q: field %d: want a count of ticks", truncate(b), v.field)
		}
		*v.dst = uint64(n)
	}
	if s.PPID, err = strconv.Atoi(f[4-3]); err != nil {
		return Stat{}, fmt.Errorf("stat %q: ppid: %w", truncate(b), err)
	}
	return s, nil
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// Table is a snapshot of every process's Stat, by pid.
type Table map[int]Stat

// ReadTable reads the stat of every process under procDir (/proc). A
// process that ends while it is read is left out.
func ReadTable(procDir string) (Table, error) {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return nil, err
	}
	t := Table{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procDir, e.Name(), "stat"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
				continue
			}
			return nil, err
		}
		s, err := ParseStat(b)
		if err != nil {
			return nil, err
		}
		t[pid] = s
	}
	return t, nil
}

// Children returns the pids whose parent is pid.
func (t Table) Children(pid int) []int {
	var out []int
	for p, s := range t {
		if s.PPID == pid && p != pid {
			out = append(out, p)
		}
	}
	return out
}

// Tree returns pid and every live process below it.
func (t Table) Tree(pid int) []int {
	children := map[int][]int{}
	for p, s := range t {
		if p != pid {
			children[s.PPID] = append(children[s.PPID], p)
		}
	}
	seen := map[int]bool{}
	var out []int
	todo := []int{pid}
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if seen[p] {
			continue
		}
		seen[p] = true
		if _, ok := t[p]; ok {
			out = append(out, p)
		}
		todo = append(todo, children[p]...)
	}
	return out
}

// TreeCPU is the CPU of pid's tree up to the snapshot: for each live
// process of Tree(pid) its own CPU and that of the children it reaped. A
// process that ended and was reaped inside the tree is then still counted
// (in its parent's reaped time), so the difference of two snapshots is the
// tree's CPU between them, backends that came and went included.
func (t Table) TreeCPU(pid int) time.Duration {
	var d time.Duration
	for _, p := range t.Tree(pid) {
		d += t[p].WithReaped()
	}
	return d
}
