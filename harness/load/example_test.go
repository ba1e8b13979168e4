package load_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/outagelab/outagelab/harness/load"
)

// Ten shoppers browse a region's gateway; every answer is an outcome in the
// stats, measured from its intended start.
func ExampleGenerator() {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"products":[{"id":"p1","stock":3}]}`)
	}))
	defer gw.Close()

	g, err := load.New(load.Config{
		Regions: []load.Region{{Name: "us-east-1", BaseURL: gw.URL, Pacer: load.ConstantPacer{Rate: 100, Max: 10}}},
		Mix:     load.Mix{load.Browse: 1},
		Seed:    1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = g.Run(context.Background(), 500*time.Millisecond) // the pacer stops after 10
	w, _ := g.Stats().Totals(load.SeriesID{Journey: load.Browse, Region: "us-east-1"})
	fmt.Printf("browse: %d attempts, %.0f%% success\n", w.Attempts(), 100*w.SuccessRate())
	// Output: browse: 10 attempts, 100% success
}
