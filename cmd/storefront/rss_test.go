package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/internal/procs"
)

// rssMB reads a process's resident set size from /proc.
func rssMB(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// BenchmarkIdleRSS reports each service's resident memory once it answers
// /readyz and has idled 0.5 s (goal < 40 MB, ARCHITECTURE.md). Run with -benchtime 1x.
func BenchmarkIdleRSS(b *testing.B) {
	procs.RequireBinaries(b)
	bin := buildBinaryB(b)
	pg := procs.NewTestPostgres(b)
	rd := procs.NewTestRedis(b)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"identity", []string{"identity"}},
		{"catalog", []string{"catalog", "--dep", "postgres=" + pg.DSN("postgres")}},
		{"cart", []string{"cart", "--dep", "redis=" + rd.URL()}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var mb float64
			for b.Loop() {
				_, p := startBinaryTB(b, bin, tc.args...)
				time.Sleep(500 * time.Millisecond)
				v, err := rssMB(p.cmd.Process.Pid)
				if err != nil {
					b.Fatal(err)
				}
				mb = v
				p.cmd.Process.Kill()
				<-p.done
			}
			b.ReportMetric(mb, "RSS-MB")
		})
	}
}
