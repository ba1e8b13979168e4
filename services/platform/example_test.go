package platform_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/outagelab/outagelab/services/platform"
	"github.com/outagelab/outagelab/services/resilience"
)

// A service parses the common flags plus its own, builds the server, gets
// its dependencies (configured by --dep/--policy) and registers routes. Main
// would end with `return srv.Run(ctx)`; here the handler is driven directly.
func Example() {
	// The dependency: any HTTP server.
	catalog := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		platform.WriteJSON(w, http.StatusOK, map[string]any{"products": []string{"mug"}})
	}))
	defer catalog.Close()

	fs := platform.NewFlagSet("recommendations")
	greeting := fs.String("greeting", "hello", "a service's own flag (env SF_GREETING)")
	cfg, err := fs.Parse([]string{"--dep", "catalog=" + catalog.URL, "--policy", "hardened"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, err := platform.NewWithLogger(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Println(err)
		return
	}
	dep, err := srv.Dependency("catalog")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv.Mux.HandleFunc("POST /v1/echo", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Name string `json:"name"`
		}
		if !platform.DecodeJSON(w, r, &in) { // strict: unknown fields, bad JSON → 4xx JSON error
			return
		}
		var out struct {
			Products []string `json:"products"`
		}
		if err := dep.CallJSON(r.Context(), http.MethodGet, "/v1/products", nil, nil, &out); err != nil {
			platform.WriteError(w, http.StatusServiceUnavailable, "catalog_unavailable", resilience.Classify(err))
			return
		}
		platform.WriteJSON(w, http.StatusOK, map[string]any{"greeting": *greeting + " " + in.Name, "products": out.Products})
	})

	for _, body := range []string{`{"name":"ada"}`, `{"nom":"ada"}`} {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v1/echo", strings.NewReader(body)).WithContext(context.Background()))
		b, _ := io.ReadAll(rec.Body)
		fmt.Print(rec.Code, " ", string(b))
	}
	// Output:
	// 200 {"greeting":"hello ada","products":["mug"]}
	// 400 {"code":"unknown_field","error":"unknown field \"nom\""}
}
