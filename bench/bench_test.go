package bench

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/testenv"
)

func TestScaledStorefront(t *testing.T) {
	base, err := topology.Storefront(defaultOpts)
	if err != nil {
		t.Fatal(err)
	}
	perRegion := 0
	for _, c := range base.Components {
		if c.Region == topology.RegionEUWest1 {
			perRegion++
		}
	}
	// gateway, catalog, cart, recommendations, postgres, redis and the identity replica.
	if perRegion != 7 {
		t.Fatalf("built-in storefront has %d eu-west-1 components; the scale curve assumes 7", perRegion)
	}
	sizes := map[int]int{}
	for _, n := range []int{1, 2, 3, 4} {
		topo, err := ScaledStorefront(n, defaultOpts)
		if err != nil {
			t.Fatalf("regions=%d: %v", n, err)
		}
		sizes[n] = len(topo.Components)
		gateways := 0
		for _, c := range topo.Components {
			if c.Label(topology.LabelService) == "gateway" {
				gateways++
				// Every gateway reaches its own region's catalog and the global identity.
				for _, to := range []string{"catalog-" + c.Region, "identity"} {
					if topo.Edge(topology.EdgeName(c.Name, to)) == nil {
						t.Errorf("regions=%d: no edge %s → %s", n, c.Name, to)
					}
				}
				if want := []string{"--region", c.Region, "--name", c.Name}; !hasSeq(c.Command, want) {
					t.Errorf("regions=%d: %s command %v lacks %v", n, c.Name, c.Command, want)
				}
			}
			if c.Image == topology.ImageStorefront && c.Name != "monitoring" && topo.Edge(topology.EdgeName("monitoring", c.Name)) == nil {
				t.Errorf("regions=%d: monitoring does not check %s", n, c.Name)
			}
		}
		if gateways != n {
			t.Errorf("regions=%d: %d gateways", n, gateways)
		}
		for _, e := range topo.Edges {
			if from := topo.Component(e.From); from == nil || topo.Component(e.To) == nil {
				t.Errorf("regions=%d: dangling edge %s", n, e.Name)
			}
		}
	}
	if sizes[2] != len(base.Components) || sizes[1] != sizes[2]-perRegion || sizes[4] != sizes[2]+2*perRegion {
		t.Errorf("component counts %v, want 2 regions = %d and %d per region", sizes, len(base.Components), perRegion)
	}
	for _, n := range []int{0, -1, len(ScaleRegions) + 1} {
		if _, err := ScaledStorefront(n, defaultOpts); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("regions=%d: %v", n, err)
		}
	}
	if _, err := ScaledStorefront(2, topology.StorefrontOptions{Policy: "brittle"}); err == nil {
		t.Error("bad policy accepted")
	}
}

func hasSeq(args, want []string) bool {
	for i := 0; i+len(want) <= len(args); i++ {
		ok := true
		for j := range want {
			if args[i+j] != want[j] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func TestComponentOf(t *testing.T) {
	names := map[string]bool{"catalog-us-east-1": true, "postgres-us-east-1": true, "redis-eu-west-1": true}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"/bin/storefront", "catalog", "--region", "us-east-1", "--name", "catalog-us-east-1", "--dep", "postgres=postgres://postgres@127.0.0.1:5/catalog"}, "catalog-us-east-1"},
		{[]string{"/bin/storefront", "catalog", "--name=catalog-us-east-1"}, "catalog-us-east-1"},
		{[]string{"/usr/lib/postgresql/15/bin/postgres", "-D", "/tmp/outagelab-r1-123/postgres-us-east-1/data", "-p", "5"}, "postgres-us-east-1"},
		{[]string{"redis-server", "--port", "6", "--dir", "/tmp/outagelab-r1-123/redis-eu-west-1"}, "redis-eu-west-1"},
		{[]string{"postgres: postgres catalog 127.0.0.1(5) idle"}, ""},
		{[]string{"/bin/storefront", "gateway", "--name", "gateway-us-east-1"}, ""},
		{nil, ""},
	} {
		if got := ComponentOf(tc.args, names); got != tc.want {
			t.Errorf("ComponentOf(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestParseStatPPID(t *testing.T) {
	ppid, err := parseStatPPID([]byte("123 (a (weird) name) S 45 123 123 0 -1"))
	if err != nil || ppid != 45 {
		t.Errorf("ppid %d, %v", ppid, err)
	}
	for _, bad := range []string{"", "123 comm S 4", "1 (x)", "1 (x) S notanumber"} {
		if _, err := parseStatPPID([]byte(bad)); err == nil {
			t.Errorf("parseStatPPID(%q) accepted", bad)
		}
	}
}

// TestProcessTreeMemory starts a real child (sleep) and finds it under this
// process with its memory.
func TestProcessTreeMemory(t *testing.T) {
	sleep := testenv.NeedTool(t, "sleep")
	dir := t.TempDir() + "/comp-a"
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sleep, "30")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	time.Sleep(50 * time.Millisecond)
	ps, err := Procs()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, p := range Descendants(ps, os.Getpid()) {
		if p.PID == cmd.Process.Pid {
			found = true
		}
	}
	if !found {
		t.Fatalf("child %d not among this process's descendants", cmd.Process.Pid)
	}
	self, err := ReadMem(os.Getpid())
	if err != nil || self.RSS <= 1 || self.HWM < self.RSS {
		t.Errorf("own memory %+v, %v", self, err)
	}
	m, err := ReadMem(cmd.Process.Pid)
	if err != nil || m.RSS <= 0 {
		t.Errorf("child memory %+v, %v", m, err)
	}
	if _, err := ReadMem(1 << 30); err == nil {
		t.Error("memory of a pid that cannot exist")
	}
	// sleep carries no --name and no path argument: ComponentsMem finds it
	// by its working directory, as it finds redis-server.
	cm, err := ComponentsMem(os.Getpid(), map[string]bool{"comp-a": true})
	if err != nil || cm["comp-a"].PID != cmd.Process.Pid || cm["comp-a"].RSS <= 0 || cm["comp-a"].Procs != 1 {
		t.Errorf("ComponentsMem = %+v, %v", cm, err)
	}
	if cm, _ := ComponentsMem(os.Getpid(), map[string]bool{"comp-b": true}); len(cm) != 0 {
		t.Errorf("ComponentsMem matched an unknown component: %+v", cm)
	}
}
