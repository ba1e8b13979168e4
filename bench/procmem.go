package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Proc is one process as /proc shows it.
type Proc struct {
	PID, PPID int
	Args      []string
	Dir       string // working directory ("" when unreadable)
}

// Mem is what /proc/PID/status and smaps_rollup say about a process's
// memory, in MB (10^6 bytes).
type Mem struct {
	RSS float64 // VmRSS: resident now
	HWM float64 // VmHWM: peak resident so far
	PSS float64 // Pss: resident, shared pages divided among their sharers
}

// ReadMem reads a process's memory figures. PSS is 0 when smaps_rollup is
// not readable (older kernels).
func ReadMem(pid int) (Mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	var m Mem
	var found bool
	m.RSS, found = kBField(b, "VmRSS:")
	if !found {
		return Mem{}, fmt.Errorf("read memory of pid %d: no VmRSS (a kernel thread or a zombie)", pid)
	}
	m.HWM, _ = kBField(b, "VmHWM:")
	if r, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		m.PSS, _ = kBField(r, "Pss:")
	}
	return m, nil
}

// kBField finds "Key:   1234 kB" in a /proc file and returns it in MB.
func kBField(b []byte, key string) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), key)
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0, false
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, false
		}
		return kb * 1024 / 1e6, true
	}
	return 0, false
}

// Procs lists every process visible in /proc (ones that exit while being
// read are skipped).
func Procs() ([]Proc, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := readProc(pid)
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

func readProc(pid int) (Proc, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Proc{}, err
	}
	ppid, err := parseStatPPID(stat)
	if err != nil {
		return Proc{}, err
	}
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	var args []string
	for a := range bytes.SplitSeq(bytes.TrimRight(cmd, "\x00"), []byte{0}) {
		if len(a) > 0 {
			args = append(args, string(a))
		}
	}
	dir, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return Proc{PID: pid, PPID: ppid, Args: args, Dir: dir}, nil
}

// parseStatPPID reads the parent pid from /proc/PID/stat: "pid (comm) S ppid ...";
// comm may hold spaces and parentheses, so parse after the last ')'.
func parseStatPPID(stat []byte) (int, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no comm")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 {
		return 0, errors.New("stat: too short")
	}
	return strconv.Atoi(f[1])
}

// Descendants returns root's children, grandchildren, ... from ps.
func Descendants(ps []Proc, root int) []Proc {
	kids := map[int][]Proc{}
	for _, p := range ps {
		kids[p.PPID] = append(kids[p.PPID], p)
	}
	var out []Proc
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, k := range kids[pid] {
			out = append(out, k)
			queue = append(queue, k.PID)
		}
	}
	return out
}

// ComponentOf says which component of names a harness-started process is:
// a storefront service by its --name flag, a datastore (postgres,
// redis-server) by its data directory, which the local runtime names after
// the component (<run dir>/<component>/...), in its arguments or, when it
// rewrote its title (redis-server does), its working directory. "" when
// none matches.
func (p Proc) Component(names map[string]bool) string {
	if c := ComponentOf(p.Args, names); c != "" {
		return c
	}
	if p.Dir != "" {
		return ComponentOf([]string{p.Dir}, names)
	}
	return ""
}

// ComponentOf is Proc.Component on a command line alone.
func ComponentOf(args []string, names map[string]bool) string {
	for i, a := range args {
		if a == "--name" && i+1 < len(args) && names[args[i+1]] {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--name="); ok && names[v] {
			return v
		}
	}
	for _, a := range args {
		if !strings.Contains(a, "/") {
			continue
		}
		for _, seg := range strings.Split(filepath.Clean(a), "/") {
			if names[seg] {
				return seg
			}
		}
	}
	return ""
}

// ComponentMem is one component's memory: its main process (the one the
// harness started) and the whole process tree under it (postgres forks one
// backend per connection).
type ComponentMem struct {
	PID     int
	Procs   int     // processes in the tree
	RSS     float64 // main process VmRSS, MB
	TreePSS float64 // sum of PSS over the tree, MB
}

// ComponentsMem maps the harness process's descendants to components and
// reads their memory. Processes that belong to no component (e.g. initdb
// children, helper shells) are ignored.
func ComponentsMem(harnessPID int, names map[string]bool) (map[string]ComponentMem, error) {
	ps, err := Procs()
	if err != nil {
		return nil, err
	}
	out := map[string]ComponentMem{}
	for _, p := range Descendants(ps, harnessPID) {
		c := p.Component(names)
		if c == "" {
			continue
		}
		if _, seen := out[c]; seen {
			continue // a child of an already counted component's main process
		}
		m, err := ReadMem(p.PID)
		if err != nil {
			continue // exited meanwhile
		}
		cm := ComponentMem{PID: p.PID, Procs: 1, RSS: m.RSS, TreePSS: m.PSS}
		for _, k := range Descendants(ps, p.PID) {
			if km, err := ReadMem(k.PID); err == nil {
				cm.Procs++
				cm.TreePSS += km.PSS
			}
		}
		out[c] = cm
	}
	return out, nil
}
