// Package cpu accounts the CPU time of the shop's processes from /proc (read
// with prometheus/procfs): utime+stime per process, summed over process
// trees (Postgres' postmaster and its backends), between two snapshots.
// Linux only.
package cpu

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/procfs"
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

// Table is a snapshot of every process's Stat, by pid.
type Table map[int]Stat

// ReadTable reads the stat of every process under procDir (/proc). A
// process that ends while it is read is left out.
func ReadTable(procDir string) (Table, error) {
	fs, err := procfs.NewFS(procDir)
	if err != nil {
		return nil, err
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return nil, err
	}
	t := Table{}
	for _, p := range procs {
		s, err := readStat(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
				continue
			}
			return nil, err
		}
		t[p.PID] = s
	}
	return t, nil
}

// readStat reads what the accounting needs of p's stat (proc(5)).
func readStat(p procfs.Proc) (Stat, error) {
	ps, err := p.Stat()
	if err != nil {
		return Stat{}, fmt.Errorf("stat of pid %d: %w", p.PID, err)
	}
	if ps.CUTime < 0 || ps.CSTime < 0 {
		return Stat{}, fmt.Errorf("stat of pid %d: negative children's time", p.PID)
	}
	return Stat{
		PID: p.PID, PPID: ps.PPID, Comm: ps.Comm,
		UTime: uint64(ps.UTime), STime: uint64(ps.STime), CUTime: uint64(ps.CUTime), CSTime: uint64(ps.CSTime),
		StartTime: ps.Starttime,
	}, nil
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
