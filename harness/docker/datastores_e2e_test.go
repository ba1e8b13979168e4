//go:build e2e

package docker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/outagelab/outagelab/harness"
	"github.com/outagelab/outagelab/harness/docker"
	"github.com/outagelab/outagelab/harness/images"
	"github.com/outagelab/outagelab/harness/topology"
)

// TestDatastores starts postgres (with a database to create) and redis from
// the resolved datastore images, checks both answer from the host, and that
// restart/kill+start bring them back on the same addresses with their data.
func TestDatastores(t *testing.T) {
	needDocker(t)
	set := toxiproxyImages(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	pg, rd, err := images.EnsureDatastores(ctx, images.Options{})
	if err != nil {
		t.Fatal(err)
	}
	set.Postgres, set.Redis = pg, rd
	topo := &topology.Topology{
		Name: "stores",
		Components: []*topology.Component{
			{Name: "pg", Kind: topology.KindDatastore, Image: topology.ImagePostgres, Databases: []string{"orders"},
				Ports: []topology.Port{{Name: topology.PortPostgres, Container: topology.PostgresPort}}},
			{Name: "rd", Kind: topology.KindDatastore, Image: topology.ImageRedis,
				Ports: []topology.Port{{Name: topology.PortRedis, Container: topology.RedisPort}}},
		},
	}
	runID := fmt.Sprintf("e2e-ds-%d", time.Now().UnixNano())
	dep, err := (&docker.Runtime{Images: set}).Start(ctx, topo, harness.StartOptions{RunID: runID})
	if dep != nil {
		t.Cleanup(func() {
			if err := dep.Teardown(context.Background()); err != nil {
				t.Errorf("teardown: %v", err)
			}
			assertNoLeftovers(t, runID)
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	pgAddr, _ := dep.Addr("pg", topology.PortPostgres)
	rdAddr, _ := dep.Addr("rd", topology.PortRedis)
	query := func() {
		t.Helper()
		conn, err := pgx.Connect(ctx, "postgres://postgres@"+pgAddr+"/orders?sslmode=disable")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "select count(*) from kept").Scan(&n); err != nil || n != 1 {
			t.Fatalf("select from kept: %d, %v", n, err)
		}
	}
	conn, err := pgx.Connect(ctx, "postgres://postgres@"+pgAddr+"/orders?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "create table kept(id int); insert into kept values (1)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	rc := redis.NewClient(&redis.Options{Addr: rdAddr})
	defer rc.Close()
	if err := rc.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	if err := dep.ComponentAction(ctx, "pg", topology.ActionRestart); err != nil {
		t.Fatal(err)
	}
	if a, _ := dep.Addr("pg", topology.PortPostgres); a != pgAddr {
		t.Errorf("postgres address changed: %s → %s", pgAddr, a)
	}
	query()
	if err := dep.ComponentAction(ctx, "rd", topology.ActionKill); err != nil {
		t.Fatal(err)
	}
	if err := dep.ComponentAction(ctx, "rd", topology.ActionStart); err != nil {
		t.Fatal(err)
	}
	if err := rc.Ping(ctx).Err(); err != nil {
		t.Errorf("redis after kill+start: %v", err)
	}
}
