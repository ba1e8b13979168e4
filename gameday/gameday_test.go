package gameday_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outagelab/outagelab/gameday"
	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/faults"
	"github.com/outagelab/outagelab/harness/topology"
	"github.com/outagelab/outagelab/internal/testenv"
	"github.com/outagelab/outagelab/reports/result"
	"github.com/outagelab/outagelab/scenarios"
)

// needRedis skips when redis-server is missing, unless CI is set.
func needRedis(t testing.TB) {
	t.Helper()
	testenv.NeedTool(t, "redis-server")
}

// miniTopology is three real redis-server processes in two regions with
// three edges, each through its own proxy of the embedded Toxiproxy: small
// enough to start in well under a second.
func miniTopology() *topology.Topology {
	redis := func(name, region string) *topology.Component {
		return &topology.Component{Name: name, Kind: topology.KindDatastore, Region: region, Image: topology.ImageRedis,
			Labels: map[string]string{"plane": "data"}, Ports: []topology.Port{{Name: topology.PortRedis, Container: 6379}}}
	}
	return &topology.Topology{Name: "mini", Regions: []string{"r1", "r2"},
		Components: []*topology.Component{redis("front", "r1"), redis("store", "r2"), redis("side", "r1")},
		Edges: []*topology.Edge{
			{Name: "front__store", From: "front", To: "store", Port: topology.PortRedis},
			{Name: "side__store", From: "side", To: "store", Port: topology.PortRedis},
			{Name: "front__side", From: "front", To: "side", Port: topology.PortRedis},
		}}
}

// twoPhase is a scenario for miniTopology: long phases, so only skip moves it on.
func twoPhase() *scenarios.Scenario {
	return &scenarios.Scenario{Name: "two-phase", Title: "Two long phases", Topology: "mini", TimeScale: 1, Seed: 7,
		Phases: []scenarios.Phase{
			{Name: "slow-store", At: 0, For: 10 * time.Minute, Note: "store is slow",
				Faults: []scenarios.Fault{{Kind: "latency", Edges: &scenarios.EdgeSelector{To: "store"}, Params: map[string]any{"latency": "150ms"}}}},
			{Name: "side-down", At: 10 * time.Minute, For: 10 * time.Minute, Note: "side refuses",
				Faults: []scenarios.Fault{{Kind: "down", Edges: &scenarios.EdgeSelector{Names: []string{"front__side"}}}}},
		}}
}

type fixture struct {
	env *harness.Env
	con *gameday.Console
	srv *httptest.Server
	out string
}

func start(t *testing.T, mods ...func(*gameday.Options)) *fixture {
	t.Helper()
	needRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := harness.Up(ctx, harness.Options{Runtime: "local", Topology: miniTopology(), LogDir: t.TempDir()})
	if err != nil {
		t.Fatalf("bring up mini topology: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Close(context.Background()); err != nil {
			t.Errorf("close env: %v", err)
		}
	})
	out := t.TempDir()
	opts := gameday.Options{Env: env, Out: out, Bucket: 250 * time.Millisecond,
		Resolve: func(name string) (*scenarios.Scenario, error) {
			if name == "two-phase" {
				return twoPhase(), nil
			}
			return nil, errors.New("no scenario " + name)
		}}
	for _, m := range mods {
		m(&opts)
	}
	con, err := gameday.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := con.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(con.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _, _ = con.Finish(context.Background(), "test ended") })
	return &fixture{env: env, con: con, srv: srv, out: out}
}

// call sends a request with the token (unless tok is "-") and returns the
// status and decoded body.
func (f *fixture) call(t *testing.T, method, path, tok string, body any, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok == "" {
		tok = f.con.Token()
	}
	if tok != "-" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if m == nil {
		m = map[string]any{"_raw": string(b)}
	}
	return resp.StatusCode, m
}

// toxics returns every toxic on every proxy, by proxy.
func (f *fixture) toxics(t *testing.T) map[string][]string {
	t.Helper()
	ps, err := f.env.Proxy.Proxies(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for name, p := range ps {
		for _, tx := range p.ActiveToxics {
			out[name] = append(out[name], tx.Type)
		}
		if !p.Enabled {
			out[name] = append(out[name], "DISABLED")
		}
	}
	return out
}

func TestAuth(t *testing.T) {
	f := start(t)
	for _, path := range []string{"/api/state", "/api/topology", "/api/faults/kinds", "/api/events"} {
		if code, _ := f.call(t, "GET", path, "-", nil, nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d, want 401", path, code)
		}
		if code, _ := f.call(t, "GET", path+"?token="+f.con.Token(), "-", nil, nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s with the token in the query: %d, want 401 (only the page takes it there)", path, code)
		}
	}
	if code, _ := f.call(t, "POST", "/api/halt", "wrong-token-wrong-token", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("POST /api/halt with a wrong token: %d, want 401", code)
	}
	if code, body := f.call(t, "GET", "/api/state", "", nil, nil); code != http.StatusOK || body["topology"] != "mini" {
		t.Errorf("GET /api/state with the token: %d %v", code, body)
	}
	// The page trades the token for an HttpOnly, SameSite=Strict cookie and drops it from the URL.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(f.srv.URL + "/?token=" + f.con.Token())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("GET /?token=: %d location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == gameday.CookieName {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Value == f.con.Token() {
		t.Fatalf("cookie = %+v: want HttpOnly, SameSite=Strict, not the token itself", ck)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/state", nil)
	req.AddCookie(ck)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/state with the cookie: %d", resp.StatusCode)
	}
	resp, err = noRedirect.Get(f.srv.URL + "/?token=nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("GET /?token=wrong: %d cookies %v", resp.StatusCode, resp.Cookies())
	}
	resp, err = http.Get(f.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET / without token or cookie: %d", resp.StatusCode)
	}
}

func TestCrossOriginRefused(t *testing.T) {
	f := start(t)
	for _, h := range []map[string]string{
		{"Origin": "http://attacker.invalid"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "null"},
	} {
		for _, ep := range [][2]string{{"POST", "/api/halt"}, {"POST", "/api/notes"}, {"POST", "/api/faults"}, {"DELETE", "/api/faults/x"}} {
			code, _ := f.call(t, ep[0], ep[1], "", map[string]string{"text": "x"}, h)
			if code != http.StatusForbidden {
				t.Errorf("%s %s with %v: %d, want 403", ep[0], ep[1], h, code)
			}
		}
	}
	// The page's own origin is fine.
	if code, b := f.call(t, "POST", "/api/notes", "", map[string]string{"text": "same origin"}, map[string]string{"Origin": f.srv.URL, "Sec-Fetch-Site": "same-origin"}); code != http.StatusCreated {
		t.Errorf("same-origin note: %d %v", code, b)
	}
	// DNS rebinding: a name that is not ours.
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/state", nil)
	req.Host = "rebind.attacker.invalid"
	req.Header.Set("Authorization", "Bearer "+f.con.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %d, want 421", resp.StatusCode)
	}
	// Refused state-changing calls are audited.
	st := f.con.State()
	denied := 0
	for _, e := range st.Events {
		if e.Kind == "denied" {
			denied++
		}
	}
	if denied < 12 {
		t.Errorf("%d denied events in the audit, want every refused POST/DELETE", denied)
	}
}

func TestApplyLatencyThenHalt(t *testing.T) {
	f := start(t)
	code, body := f.call(t, "POST", "/api/faults", "", map[string]any{
		"kind": "latency", "selector": map[string]any{"edges": []string{"front__store"}},
		"params": map[string]any{"latency": "250ms", "jitter": "10ms"}, "who": "alice"}, nil)
	if code != http.StatusCreated {
		t.Fatalf("apply latency: %d %v", code, body)
	}
	id, _ := body["id"].(string)
	px, err := f.env.Proxy.Proxy(context.Background(), "front__store")
	if err != nil {
		t.Fatal(err)
	}
	if len(px.ActiveToxics) != 1 || px.ActiveToxics[0].Type != "latency" || px.ActiveToxics[0].Attributes["latency"] != float64(250) {
		t.Fatalf("toxics on front__store = %+v, want one latency of 250 ms", px.ActiveToxics)
	}
	// The toxic really delays: a redis PING through the proxy takes 240–400 ms.
	if d := redisPing(t, px.Listen); d < 240*time.Millisecond || d > 2*time.Second {
		t.Errorf("PING through the faulted proxy took %s, want about 250 ms", d)
	}

	// More faults of other kinds and scopes, then HALT removes them all.
	for _, req := range []map[string]any{
		{"kind": "timeout", "selector": map[string]any{"to": "side"}, "params": map[string]any{"timeout": "0s"}},
		{"kind": "down", "selector": map[string]any{"edges": []string{"side__store"}}, "duration": "5m"},
		{"kind": "reset_peer", "selector": map[string]any{"crossing": []string{"r1", "r2"}}, "params": map[string]any{"toxicity": 0.5}},
		{"kind": "pause", "selector": map[string]any{"components": []string{"side"}}},
	} {
		if code, b := f.call(t, "POST", "/api/faults", "", req, nil); code != http.StatusCreated {
			t.Fatalf("apply %v: %d %v", req["kind"], code, b)
		}
	}
	if n := len(f.toxics(t)); n != 3 {
		t.Fatalf("faulted proxies = %v, want 3", f.toxics(t))
	}
	st := f.con.State()
	if len(st.Faults) != 5 || st.Faults[0].ID != id || st.Faults[0].By != "alice" {
		t.Fatalf("active faults = %+v", st.Faults)
	}
	code, body = f.call(t, "POST", "/api/halt", "", map[string]string{"who": "bob"}, nil)
	if code != http.StatusOK {
		t.Fatalf("halt: %d %v", code, body)
	}
	// HALT is synchronous: when it answers, nothing is left.
	if left := f.toxics(t); len(left) != 0 {
		t.Fatalf("after HALT: %v", left)
	}
	if a := f.env.Faults.Active(); len(a) != 0 {
		t.Errorf("%d faults still active", len(a))
	}
	if d := redisPing(t, px.Listen); d > 200*time.Millisecond {
		t.Errorf("PING after HALT took %s", d)
	}
	t.Logf("HALT removed %v in %v ms", body["removed"], body["took_ms"])
	if rm, _ := body["removed"].([]any); len(rm) != 5 {
		t.Errorf("halt removed %v, want 5 faults", body["removed"])
	}
}

func redisPing(t *testing.T, addr string) time.Duration {
	t.Helper()
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+PONG") {
		t.Fatalf("PING via %s: %q %v", addr, line, err)
	}
	return time.Since(start)
}

func TestBadInput(t *testing.T) {
	f := start(t)
	for _, tc := range []struct {
		name string
		body any
		want int
		msg  string
	}{
		{"unknown kind", map[string]any{"kind": "meteor", "selector": map[string]any{"edges": []string{"*"}}}, 400, "known:"},
		{"no match", map[string]any{"kind": "latency", "selector": map[string]any{"to": "nothing"}, "params": map[string]any{"latency": "1s"}}, 400, "matches no"},
		{"empty selector", map[string]any{"kind": "latency", "selector": map[string]any{}, "params": map[string]any{"latency": "1s"}}, 400, "empty"},
		{"bad param", map[string]any{"kind": "latency", "selector": map[string]any{"edges": []string{"*"}}, "params": map[string]any{"latency": "soon"}}, 400, "latency"},
		{"unknown param", map[string]any{"kind": "latency", "selector": map[string]any{"edges": []string{"*"}}, "params": map[string]any{"latency": "1s", "colour": "red"}}, 400, "colour"},
		{"wrong scope", map[string]any{"kind": "pause", "selector": map[string]any{"edges": []string{"*"}}}, 400, "components"},
		{"bad duration", map[string]any{"kind": "down", "selector": map[string]any{"edges": []string{"*"}}, "duration": "-3s"}, 400, "duration"},
		{"unknown field", map[string]any{"kind": "down", "selector": map[string]any{"edges": []string{"*"}}, "when": "now"}, 400, "unknown field"},
	} {
		code, body := f.call(t, "POST", "/api/faults", "", tc.body, nil)
		if code != tc.want || !strings.Contains(body["error"].(string), tc.msg) {
			t.Errorf("%s: %d %v, want %d mentioning %q", tc.name, code, body, tc.want, tc.msg)
		}
	}
	if code, _ := f.call(t, "DELETE", "/api/faults/nope/0", "", nil, nil); code != http.StatusNotFound {
		t.Errorf("DELETE unknown fault: %d, want 404", code)
	}
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/notes", strings.NewReader("text=hi"))
	req.Header.Set("Authorization", "Bearer "+f.con.Token())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("form-encoded note: %d, want 400", resp.StatusCode)
	}
	big := strings.Repeat("x", 70<<10)
	if code, _ := f.call(t, "POST", "/api/notes", "", map[string]string{"text": big}, nil); code != http.StatusBadRequest {
		t.Errorf("oversized note: %d, want 400", code)
	}
	if code, _ := f.call(t, "POST", "/api/scenario/rewind", "", nil, nil); code != http.StatusNotFound {
		t.Errorf("unknown scenario action: %d", code)
	}
	if code, _ := f.call(t, "POST", "/api/scenario/pause", "", nil, nil); code != http.StatusConflict {
		t.Errorf("pause with nothing playing: %d, want 409", code)
	}
	if len(f.toxics(t)) != 0 {
		t.Errorf("bad input left toxics: %v", f.toxics(t))
	}
}

func TestTimedFaultExpires(t *testing.T) {
	f := start(t)
	code, body := f.call(t, "POST", "/api/faults", "", map[string]any{"kind": "slow_close",
		"selector": map[string]any{"from": "front"}, "params": map[string]any{"delay": "100ms"}, "duration": "700ms"}, nil)
	if code != http.StatusCreated || body["expires_at"] == nil {
		t.Fatalf("apply: %d %v", code, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(f.toxics(t)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("timed fault still on after 20 s: %v", f.toxics(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitEvent(t, f.con, "fault_expired")
}

func waitEvent(t *testing.T, c *gameday.Console, kind string) result.Event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range c.State().Events {
			if e.Kind == kind {
				return e
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s event", kind)
	return result.Event{}
}

func TestScenarioPauseResumeSkip(t *testing.T) {
	f := start(t)
	code, body := f.call(t, "POST", "/api/scenario/play", "", map[string]any{"name": "two-phase", "who": "carol"}, nil)
	if code != http.StatusOK || body["state"] != "playing" {
		t.Fatalf("play: %d %v", code, body)
	}
	waitToxics(t, f, func(m map[string][]string) bool { return len(m["front__store"]) == 1 && len(m["side__store"]) == 1 })
	if code, _ := f.call(t, "POST", "/api/scenario/play", "", map[string]any{"name": "two-phase"}, nil); code != http.StatusConflict {
		t.Errorf("second play while playing: %d, want 409", code)
	}
	code, body = f.call(t, "POST", "/api/scenario/pause", "", nil, nil)
	if code != http.StatusOK || body["state"] != "paused" {
		t.Fatalf("pause: %d %v", code, body)
	}
	e1 := f.con.State().Scenario.ElapsedMs
	time.Sleep(300 * time.Millisecond)
	if e2 := f.con.State().Scenario.ElapsedMs; e2 != e1 {
		t.Errorf("paused clock moved from %d to %d ms", e1, e2)
	}
	if len(f.toxics(t)) != 2 {
		t.Errorf("pause must keep the phase's faults on: %v", f.toxics(t))
	}
	if code, body = f.call(t, "POST", "/api/scenario/resume", "", nil, nil); code != http.StatusOK || body["state"] != "playing" {
		t.Fatalf("resume: %d %v", code, body)
	}
	// Skip: phase 1 ends now, phase 2 (front__side down) starts now.
	if code, body = f.call(t, "POST", "/api/scenario/skip", "", nil, nil); code != http.StatusOK {
		t.Fatalf("skip: %d %v", code, body)
	}
	waitToxics(t, f, func(m map[string][]string) bool {
		return len(m) == 1 && len(m["front__side"]) == 1 && m["front__side"][0] == "DISABLED"
	})
	if s := f.con.State().Scenario; s.Phase != 1 || !s.InPhase || s.ElapsedMs < (10*time.Minute).Milliseconds() {
		t.Errorf("after skip: %+v", s)
	}
	// A scenario's fault can be removed by hand (its id has a slash).
	if code, b := f.call(t, "DELETE", "/api/faults/sc-side-down/0", "", nil, nil); code != http.StatusOK {
		t.Fatalf("remove the scenario's fault: %d %v", code, b)
	}
	if left := f.toxics(t); len(left) != 0 {
		t.Fatalf("after removing the phase's fault: %v", left)
	}
	code, body = f.call(t, "POST", "/api/halt", "", nil, nil)
	if code != http.StatusOK || body["scenario_stopped"] != "two-phase" {
		t.Fatalf("halt: %d %v", code, body)
	}
	if left := f.toxics(t); len(left) != 0 {
		t.Fatalf("after HALT: %v", left)
	}
	if s := f.con.State().Scenario; s.State != gameday.ScenarioStopped {
		t.Errorf("scenario state after HALT: %s", s.State)
	}
	res, err := f.con.Finish(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range res.Phases {
		names = append(names, p.Name)
		for _, fl := range p.Faults {
			if fl.AppliedAt == nil || fl.RemovedAt == nil {
				t.Errorf("phase %s fault %s without apply/remove times", p.Name, fl.ID)
			}
		}
	}
	if strings.Join(names, ",") != "slow-store,side-down" {
		t.Errorf("result phases %v", names)
	}
}

func waitToxics(t *testing.T, f *fixture, ok func(map[string][]string) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := f.toxics(t)
		if ok(m) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("toxics never reached the expected state: %v", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNotesAndAuditInResult(t *testing.T) {
	f := start(t)
	if code, b := f.call(t, "POST", "/api/notes", "", map[string]string{"text": "checkout page shows the fallback", "role": "observer", "who": "dana"}, nil); code != http.StatusCreated {
		t.Fatalf("note: %d %v", code, b)
	}
	if code, b := f.call(t, "POST", "/api/notes", "", map[string]string{"text": "we halt at 10:42", "role": "facilitator"}, nil); code != http.StatusCreated {
		t.Fatalf("note: %d %v", code, b)
	}
	if code, _ := f.call(t, "POST", "/api/notes", "", map[string]string{"text": "x", "role": "boss"}, nil); code != http.StatusBadRequest {
		t.Errorf("bad role: %d", code)
	}
	if code, b := f.call(t, "POST", "/api/faults", "", map[string]any{"kind": "latency", "selector": map[string]any{"to": "store"},
		"params": map[string]any{"latency": "20ms"}}, map[string]string{"X-Outagelab-Who": "erin"}); code != http.StatusCreated {
		t.Fatalf("apply: %d %v", code, b)
	}
	time.Sleep(600 * time.Millisecond) // a couple of recorder buckets
	res, err := f.con.Finish(context.Background(), "test over")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := f.call(t, "POST", "/api/notes", "", map[string]string{"text": "late"}, nil); code != http.StatusConflict {
		t.Errorf("note after the end: %d, want 409", code)
	}
	disk, err := result.Read(filepath.Join(f.out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*result.Result{res, disk} {
		if len(r.Notes) != 2 || r.Notes[0].Author != "dana" || r.Notes[0].Role != "observer" || r.Notes[1].Author != "facilitator" {
			t.Errorf("notes = %+v", r.Notes)
		}
		var applied *result.Event
		for i, e := range r.Events {
			if e.Kind == "fault_applied" {
				applied = &r.Events[i]
			}
		}
		if applied == nil || applied.Actor != "erin" {
			t.Errorf("fault_applied event = %+v", applied)
		}
		if len(r.Phases) != 1 || len(r.Phases[0].Faults) != 1 || r.Phases[0].Faults[0].RemovedAt == nil || len(r.Phases[0].Faults[0].Targets) != 2 {
			t.Errorf("phases = %+v", r.Phases)
		}
		if len(r.Components) != 3 || r.BucketMillis != 250 {
			t.Errorf("components %d bucket %d: the recorder's series are missing", len(r.Components), r.BucketMillis)
		}
		if r.Status.State != "completed" {
			t.Errorf("status %+v", r.Status)
		}
	}
	if fi, err := os.Stat(filepath.Join(f.out, "report.html")); err != nil || fi.Size() < 1000 {
		t.Errorf("report.html: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(f.out, gameday.FileAudit))
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e gameday.AuditEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		actions = append(actions, e.Action)
	}
	// Bad input (the refused role) changes nothing and is not an action.
	want := "start,note,note,fault_applied,halt,end"
	if strings.Join(actions, ",") != want {
		t.Errorf("audit actions %v, want %s", actions, want)
	}
	if fi, err := os.Stat(filepath.Join(f.out, gameday.FileAudit)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode: %v %v", fi.Mode(), err)
	}
}

func TestSSE(t *testing.T) {
	f := start(t)
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+f.con.Token())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var states []gameday.State
	applied := false
	// Read at least 6 states and until the recorder has judged a complete
	// bucket (its baseline is taken at the epoch, so the first states can
	// all be "unknown"); the 15 s context bounds the wait.
	judged := func() bool {
		if len(states) == 0 {
			return false
		}
		for _, h := range states[len(states)-1].Health {
			if h.State != "unknown" {
				return true
			}
		}
		return false
	}
	for (len(states) < 6 || !judged()) && sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "{}" {
			continue
		}
		var st gameday.State
		if err := json.Unmarshal([]byte(data), &st); err != nil {
			t.Fatalf("state: %v", err)
		}
		states = append(states, st)
		if !applied {
			applied = true
			if code, b := f.call(t, "POST", "/api/faults", "", map[string]any{"kind": "bandwidth", "selector": map[string]any{"region": "r2"},
				"params": map[string]any{"rate": 100}}, nil); code != http.StatusCreated {
				t.Fatalf("apply: %d %v", code, b)
			}
		}
	}
	if len(states) < 6 {
		t.Fatalf("only %d states streamed: %v", len(states), sc.Err())
	}
	last := states[len(states)-1]
	if len(last.Faults) != 1 || last.Faults[0].Kind != "bandwidth" || len(last.Health) != 3 {
		t.Errorf("streamed state: faults %+v health %+v", last.Faults, last.Health)
	}
	healthy := 0
	for _, h := range last.Health {
		if h.State == "healthy" {
			healthy++
		}
	}
	if healthy == 0 {
		t.Errorf("no component healthy in the live view: %+v", last.Health)
	}
}

// TestHaltFallbackResetsProxies forces HALT's fallback (no grace for clean
// removal): every proxy is reset at once, and the clean removal that goes
// on in the background still leaves the applier empty.
func TestHaltFallbackResetsProxies(t *testing.T) {
	f := start(t, func(o *gameday.Options) { o.HaltGrace = time.Nanosecond })
	for _, req := range []map[string]any{
		{"kind": "latency", "selector": map[string]any{"edges": []string{"*"}}, "params": map[string]any{"latency": "1s"}},
		{"kind": "down", "selector": map[string]any{"to": "side"}},
	} {
		if code, b := f.call(t, "POST", "/api/faults", "", req, nil); code != http.StatusCreated {
			t.Fatalf("apply: %d %v", code, b)
		}
	}
	code, body := f.call(t, "POST", "/api/halt", "", nil, nil)
	if code != http.StatusOK || body["proxies_reset"] != true {
		t.Fatalf("halt: %d %v", code, body)
	}
	if left := f.toxics(t); len(left) != 0 {
		t.Fatalf("after HALT with reset: %v", left)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(f.env.Faults.Active()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("applier still holds %d faults", len(f.env.Faults.Active()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The console works on afterwards.
	if code, b := f.call(t, "POST", "/api/faults", "", map[string]any{"kind": "latency", "selector": map[string]any{"to": "store"}, "params": map[string]any{"latency": "5ms"}}, nil); code != http.StatusCreated {
		t.Fatalf("apply after fallback halt: %d %v", code, b)
	}
}

// BenchmarkHalt measures POST /api/halt with a latency fault on every edge
// and a paused component (the budget: every fault gone within 1 s).
func BenchmarkHalt(b *testing.B) {
	needRedis(b)
	ctx := context.Background()
	env, err := harness.Up(ctx, harness.Options{Runtime: "local", Topology: miniTopology(), LogDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer env.Close(ctx)
	con, err := gameday.New(gameday.Options{Env: env})
	if err != nil {
		b.Fatal(err)
	}
	if err := con.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer con.Finish(ctx, "benchmark over")
	srv := httptest.NewServer(con.Handler())
	defer srv.Close()
	for b.Loop() {
		b.StopTimer()
		for _, r := range []gameday.FaultRequest{
			{Kind: "latency", Selector: selector(`{"edges":["*"]}`), Params: json.RawMessage(`{"latency":"500ms"}`)},
			{Kind: "pause", Selector: selector(`{"components":["side"]}`)},
		} {
			if _, err := con.ApplyFault(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
		req, _ := http.NewRequest("POST", srv.URL+"/api/halt", nil)
		req.Header.Set("Authorization", "Bearer "+con.Token())
		b.StartTimer()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		b.StopTimer()
		if resp.StatusCode != 200 || len(env.Faults.Active()) != 0 {
			b.Fatalf("halt: %d, %d faults left", resp.StatusCode, len(env.Faults.Active()))
		}
		b.StartTimer()
	}
}

func selector(js string) (s faults.Selector) {
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		panic(err)
	}
	return s
}

func selectorTo(component string) (s faults.Selector) {
	s.To = component
	return s
}
