package gameday_test

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/outagelab/outagelab/gameday"
	"github.com/outagelab/outagelab/harness"
)

// Run a game day from your own code: bring the storefront up, wrap it in a
// console, serve it, and write the result at the end.
func Example() {
	ctx := context.Background()
	env, err := harness.Up(ctx, harness.Options{Runtime: "local"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer env.Close(ctx)

	con, err := gameday.New(gameday.Options{Env: env, Load: gameday.StorefrontLoad(env.Topology(), 5), Out: "out/my-gameday"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := con.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go http.Serve(ln, con.Handler())
	fmt.Printf("open http://%s/?token=%s\n", ln.Addr(), con.Token())

	// The same actions the page offers, as calls.
	_, _ = con.ApplyFault(ctx, gameday.FaultRequest{Kind: "down", Selector: selectorTo("identity"), Duration: "30s", Who: "me"})
	_, _ = con.AddNote("me", "observer", "eu-west-1 still serves pages")
	_, _ = con.Halt(ctx, "me")

	res, err := con.Finish(ctx, "done")
	if err == nil {
		fmt.Println(res.Status.State, len(res.Notes))
	}
}
