package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/outagelab/outagelab/internal/procs"
	"github.com/outagelab/outagelab/services/resilience"
)

// One PostgreSQL server per package; each test gets its own database.
var (
	pgOnce   sync.Once
	pgServer *procs.Postgres
	pgDir    string
	pgErr    error
	dbSeq    atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pgServer != nil {
		_ = pgServer.Stop()
	}
	if pgDir != "" {
		_ = os.RemoveAll(pgDir)
	}
	os.Exit(code)
}

func newTestDSN(t testing.TB) string {
	t.Helper()
	procs.RequirePostgres(t)
	pgOnce.Do(func() {
		if pgDir, pgErr = os.MkdirTemp("", "catalog-pg-"); pgErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		pgServer, pgErr = procs.StartPostgres(ctx, pgDir, procs.WithFsync(false))
	})
	if pgErr != nil {
		t.Fatalf("start postgres: %v", pgErr)
	}
	name := fmt.Sprintf("catalog_t%d", dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pgServer.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	return pgServer.DSN(name)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	p, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}

// startCatalog runs Main against dsn and waits for /readyz; it stops in Cleanup.
func startCatalog(t testing.TB, dsn string, extra ...string) string {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	args := append([]string{"--listen", addr, "--admin-listen", "", "--log-level", "error", "--dep", "postgres=" + dsn}, extra...)
	go func() { errc <- Main(ctx, args) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("catalog Main: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("catalog did not stop")
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		select {
		case err := <-errc:
			t.Fatalf("catalog exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("catalog not ready after 30s (last: %v)", err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func getJSON(t testing.TB, url string, out any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: Content-Type %q, body %s", url, ct, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, b)
	}
	return resp.StatusCode
}

type apiErr struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func TestSeedProductsDeterministic(t *testing.T) {
	a, b := SeedProducts(DefaultProducts), SeedProducts(DefaultProducts)
	if len(a) != DefaultProducts || len(a) < MinProducts {
		t.Fatalf("seeded %d", len(a))
	}
	ids := map[string]bool{}
	cats := map[string]bool{}
	low := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("not deterministic at %d: %+v vs %+v", i, a[i], b[i])
		}
		p := a[i]
		if ids[p.ID] || ValidProductID(p.ID) != nil || p.Name == "" || p.Description == "" || p.PriceCents <= 0 || p.Category == "" {
			t.Fatalf("bad product %+v", p)
		}
		ids[p.ID] = true
		cats[p.Category] = true
		if p.Stock == LowStock {
			low++
		}
	}
	if len(cats) != len(categories) || low == 0 {
		t.Fatalf("categories %d, low-stock %d", len(cats), low)
	}
	if SeedProducts(50)[49] != a[49] {
		t.Fatal("a prefix of the seed must not depend on n")
	}
}

func TestMigrateIdempotentAndConcurrent(t *testing.T) {
	dsn := newTestDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	p, _ := resilience.Preset("fragile")
	dep, _ := resilience.New("postgres", p, resilience.Options{URL: dsn})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- NewStore(pool, dep).Migrate(ctx, 55)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := NewStore(pool, dep)
	if err := s.Migrate(ctx, 70); err != nil {
		t.Fatal(err)
	}
	var n, versions int
	pool.QueryRow(ctx, `SELECT count(*) FROM products`).Scan(&n)
	pool.QueryRow(ctx, `SELECT count(*) FROM catalog_migrations`).Scan(&versions)
	if n != 55 || versions != 2 {
		t.Fatalf("after concurrent + repeated migrations: %d products, %d versions; want 55, 2", n, versions)
	}
}

func TestAPIAgainstPostgres(t *testing.T) {
	base := startCatalog(t, newTestDSN(t))
	seed := SeedProducts(DefaultProducts)

	var lr ListResponse
	if code := getJSON(t, base+"/v1/products", &lr); code != 200 || len(lr.Products) != DefaultLimit || lr.Total != DefaultProducts {
		t.Fatalf("list: %d, %d products, total %d", code, len(lr.Products), lr.Total)
	}
	if lr.Products[0] != seed[0] {
		t.Fatalf("first product %+v, seed %+v", lr.Products[0], seed[0])
	}
	getJSON(t, base+"/v1/products?limit=100&offset=50", &lr)
	if len(lr.Products) != DefaultProducts-50 || lr.Products[0].ID != seed[50].ID {
		t.Fatalf("page 2: %d products", len(lr.Products))
	}
	getJSON(t, base+"/v1/products?offset=1000", &lr)
	if len(lr.Products) != 0 || lr.Total != DefaultProducts {
		t.Fatalf("past the end: %+v", lr)
	}
	getJSON(t, base+"/v1/products?category=audio&limit=100", &lr)
	if lr.Total != DefaultProducts/len(categories) {
		t.Fatalf("audio total %d", lr.Total)
	}
	for _, p := range lr.Products {
		if p.Category != "audio" {
			t.Fatalf("category filter leaked %+v", p)
		}
	}

	var pr ProductResponse
	if code := getJSON(t, base+"/v1/products/p0007", &pr); code != 200 || pr.Product != seed[6] {
		t.Fatalf("get p0007: %d %+v", code, pr.Product)
	}

	// Search: pick a word from a seeded name and expect exactly the seeded
	// products mentioning it (case-insensitive).
	word := strings.Fields(seed[3].Name)[1]
	var sr SearchResponse
	if code := getJSON(t, base+"/v1/search?limit=100&q="+strings.ToUpper(word), &sr); code != 200 {
		t.Fatalf("search %d", code)
	}
	want := 0
	for _, p := range seed {
		l := strings.ToLower(word)
		if strings.Contains(strings.ToLower(p.Name+" "+p.Description+" "+p.Category), l) {
			want++
		}
	}
	if len(sr.Products) != want || want == 0 {
		t.Fatalf("search %q: %d results, want %d", word, len(sr.Products), want)
	}
	for _, q := range []string{"%25", "_", "%5C"} { // %, _ and \ are literals, not wildcards
		getJSON(t, base+"/v1/search?q="+q, &sr)
		if len(sr.Products) != 0 {
			t.Fatalf("search %s matched %d products: wildcard not escaped", q, len(sr.Products))
		}
	}

	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/products/p9999", 404, "product_not_found"},
		{"/v1/products/bad%20id", 400, "invalid_product_id"},
		{"/v1/products/" + strings.Repeat("x", 65), 400, "invalid_product_id"},
		{"/v1/products?limit=0", 400, "invalid_limit"},
		{"/v1/products?limit=abc", 400, "invalid_limit"},
		{"/v1/products?limit=101", 400, "invalid_limit"},
		{"/v1/products?offset=-1", 400, "invalid_offset"},
		{"/v1/products?category=Audio%27--", 400, "invalid_category"},
		{"/v1/search", 400, "missing_query"},
		{"/v1/search?q=%20%20", 400, "missing_query"},
		{"/v1/search?q=%00", 400, "invalid_query"},
		{"/v1/search?q=%FF", 400, "invalid_query"},
		{"/v1/search?q=" + strings.Repeat("a", 101), 400, "invalid_query"},
	} {
		var e apiErr
		if code := getJSON(t, base+tc.path, &e); code != tc.status || e.Code != tc.code || e.Error == "" {
			t.Errorf("GET %s: %d %+v, want %d %s", tc.path, code, e, tc.status, tc.code)
		}
	}
}

// TestDatabaseDownIs503 stops the database under a running catalog: answers
// are 503 JSON (never 500), counted as refused attempts, and service resumes
// once the database is back.
func TestDatabaseDownIs503(t *testing.T) {
	pg := procs.NewTestPostgres(t)
	base := startCatalog(t, pg.DSN("postgres"), "--policy", "hardened")
	var lr ListResponse
	if code := getJSON(t, base+"/v1/products?limit=1", &lr); code != 200 {
		t.Fatalf("before: %d", code)
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	var e apiErr
	if code := getJSON(t, base+"/v1/products?limit=1", &e); code != 503 || e.Code != "postgres_unavailable" {
		t.Fatalf("database down: %d %+v", code, e)
	}
	if code := getJSON(t, base+"/v1/products/p0001", &e); code != 503 {
		t.Fatalf("get with database down: %d %+v", code, e)
	}
	var ready map[string]any
	if code := getJSON(t, base+"/readyz", &ready); code != 503 {
		t.Fatalf("readyz with database down: %d", code)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `storefront_dependency_requests_total{dependency="postgres",outcome="refused"`) {
		t.Fatalf("no refused postgres attempts in metrics")
	}
	for _, line := range strings.Split(string(m), "\n") {
		if strings.HasPrefix(line, `storefront_dependency_requests_total{dependency="postgres",outcome="refused"`) && strings.HasSuffix(line, " 0") {
			t.Fatalf("refused attempts not counted: %s", line)
		}
	}
}

func TestMainRejectsBadFlags(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{
		{"--products", "10", "--dep", "postgres=postgres://x@127.0.0.1:1/db"},
		{"--listen", "127.0.0.1:0"}, // no postgres dependency
		{"--dep", "postgres=postgres://x@127.0.0.1:1/db", "--db-max-conns", "0"},
	} {
		if err := Main(ctx, append(args, "--admin-listen", "")); err == nil {
			t.Errorf("Main(%v) accepted bad flags", args)
		}
	}
}
