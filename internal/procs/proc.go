package procs

// Reading process and thread state from /proc (Linux), for the local
// runtime's process faults: a pause is in effect when every thread of the
// component's processes is stopped, a kill when they are gone.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Stat is what /proc/PID/stat (or /proc/PID/task/TID/stat) says about one
// process or thread.
type Stat struct {
	PID     int
	Comm    string
	State   byte // R running, S sleeping, D disk, T stopped, t traced, Z zombie, X dead, I idle
	PPID    int
	PGRP    int
	Session int
	// StartTime is field 22 (clock ticks after boot) as written: with PID
	// it names a process even when the PID is reused later.
	StartTime string
}

// Gone reports whether the state is that of a process that has exited
// (zombie or dead): it holds no memory and runs no code.
func (s Stat) Gone() bool { return s.State == 'Z' || s.State == 'X' }

// Stopped reports whether the thread is stopped by a signal (state T).
func (s Stat) Stopped() bool { return s.State == 'T' }

// ParseStat parses the contents of a /proc/PID/stat file.
func ParseStat(b []byte) (Stat, error) {
	// "pid (comm) state ppid pgrp session ..."; comm may hold spaces and
	// parentheses, so the fields start after the last ')'.
	i := bytes.IndexByte(b, '(')
	j := bytes.LastIndexByte(b, ')')
	if i < 1 || j < i {
		return Stat{}, fmt.Errorf("parse /proc stat %.40q: no (comm)", b)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:i])))
	if err != nil {
		return Stat{}, fmt.Errorf("parse /proc stat %.40q: pid: %w", b, err)
	}
	f := strings.Fields(string(b[j+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("parse /proc stat %.40q: %d fields after comm, want at least 20", b, len(f))
	}
	s := Stat{PID: pid, Comm: string(b[i+1 : j]), State: f[0][0], StartTime: f[19]}
	for k, p := range []*int{&s.PPID, &s.PGRP, &s.Session} {
		if *p, err = strconv.Atoi(f[1+k]); err != nil {
			return Stat{}, fmt.Errorf("parse /proc stat %.40q: field %d: %w", b, 4+k, err)
		}
	}
	return s, nil
}

// ReadStat reads /proc/PID/stat. A process that does not exist is an error
// wrapping os.ErrNotExist.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(b)
}

// Threads reads the state of every thread of process pid
// (/proc/PID/task/*/stat). Threads that exit while being read are left out.
func Threads(pid int) ([]Stat, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]Stat, 0, len(ents))
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/stat")
		if err != nil {
			continue // the thread exited meanwhile
		}
		s, err := ParseStat(b)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Processes reads /proc/PID/stat of every process on the host. Processes
// that exit while being read are left out.
func Processes() ([]Stat, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := make([]Stat, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, err := ReadStat(pid); err == nil {
			out = append(out, s)
		}
	}
	return out, nil
}

// Children lists the live processes whose parent is pid.
func Children(pid int) []int {
	all, _ := Processes()
	var out []int
	for _, s := range all {
		if s.PPID == pid && !s.Gone() {
			out = append(out, s.PID)
		}
	}
	return out
}

// Tree lists the live processes of process group pgid and all their
// descendants, by pid: what a component started as a process group is,
// including children that left the group (PostgreSQL's backends call
// setsid). Empty when none is left.
func Tree(pgid int) []Stat {
	all, _ := Processes()
	kids := map[int][]Stat{}
	var queue []Stat
	for _, s := range all {
		if s.Gone() {
			continue
		}
		kids[s.PPID] = append(kids[s.PPID], s)
		if s.PGRP == pgid {
			queue = append(queue, s)
		}
	}
	seen := map[int]bool{}
	var out []Stat
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p.PID] {
			continue
		}
		seen[p.PID] = true
		out = append(out, p)
		queue = append(queue, kids[p.PID]...)
	}
	slices.SortFunc(out, func(a, b Stat) int { return a.PID - b.PID })
	return out
}

// PIDs returns the process ids of ss.
func PIDs(ss []Stat) []int {
	out := make([]int, len(ss))
	for i, s := range ss {
		out[i] = s.PID
	}
	return out
}

// Alive reports whether the process s describes still runs: its pid exists,
// is not a zombie, and started when s says (a reused pid is another process).
func (s Stat) Alive() bool {
	now, err := ReadStat(s.PID)
	return err == nil && !now.Gone() && (s.StartTime == "" || now.StartTime == s.StartTime)
}

// pollEvery is how often the Wait functions look at /proc.
const pollEvery = 2 * time.Millisecond

// WaitStopped waits until every thread of every process in pids is stopped
// (state T) or the process is gone, and returns the moment it saw that. On
// ctx's end it returns an error naming the threads still running.
func WaitStopped(ctx context.Context, pids []Stat) (time.Time, error) {
	return waitThreads(ctx, pids, "stopped (T)", func(t Stat) bool { return t.Stopped() || t.Gone() })
}

// WaitContinued waits until no thread of any process in pids is stopped
// (state T), and returns the moment it saw that.
func WaitContinued(ctx context.Context, pids []Stat) (time.Time, error) {
	return waitThreads(ctx, pids, "running (not T)", func(t Stat) bool { return !t.Stopped() })
}

func waitThreads(ctx context.Context, procs []Stat, want string, ok func(Stat) bool) (time.Time, error) {
	for {
		var bad []string
		for _, p := range PIDs(procs) {
			ts, err := Threads(p)
			if errors.Is(err, os.ErrNotExist) {
				continue // gone: neither runs nor holds anything
			}
			if err != nil {
				return time.Time{}, err
			}
			for _, t := range ts {
				if !ok(t) {
					bad = append(bad, fmt.Sprintf("pid %d thread %d (%s) in state %c", p, t.PID, t.Comm, t.State))
				}
			}
		}
		now := time.Now()
		if len(bad) == 0 {
			return now, nil
		}
		select {
		case <-ctx.Done():
			if len(bad) > 5 {
				bad = append(bad[:5:5], fmt.Sprintf("… %d more", len(bad)-5))
			}
			return time.Time{}, fmt.Errorf("not every thread %s: %s: %w", want, strings.Join(bad, ", "), ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

// WaitGone waits until every process in ps has exited (a zombie counts as
// gone, and so does a pid now used by another process) and returns the
// moment it saw that. On ctx's end it returns an error naming those left.
func WaitGone(ctx context.Context, ps []Stat) (time.Time, error) {
	for {
		var left []string
		for _, p := range ps {
			if p.Alive() {
				left = append(left, fmt.Sprintf("%d (%s)", p.PID, p.Comm))
			}
		}
		now := time.Now()
		if len(left) == 0 {
			return now, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("processes still running: %s: %w", strings.Join(left, ", "), ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}
