package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/runtime/internal/suitetest"
)

// loggedRuns returns the IDs of the runs a runtime process logged (--log.format=json).
func loggedRuns(out string) []string {
	var ids []string
	for _, line := range strings.Split(out, "\n") {
		var l struct{ Msg, Run string }
		if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Msg, "run ") && l.Run != "" &&
			(l.Msg == "run passed" || l.Msg == "run failed" || l.Msg == "run error") {
			ids = append(ids, l.Run)
		}
	}
	return ids
}

func startRuntimeProc(t *testing.T, name string, args ...string) *procs.Proc {
	p, _ := startRuntimeProcAddr(t, name, args...)
	return p
}

// startRuntimeProcAddr starts the built runtime as a process and returns it and its base URL.
func startRuntimeProcAddr(t *testing.T, name string, args ...string) (*procs.Proc, string) {
	t.Helper()
	addr, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	p, err := procs.Start(procs.Spec{Name: name, Path: suitetest.Runtime(t),
		Args: append([]string{"--web.listen-address=" + addr, "--log.format=json"}, args...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Stop(20 * time.Second)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.Tail(60))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.WaitHTTP(ctx, "http://"+addr+"/-/healthy"); err != nil {
		t.Fatal(err)
	}
	return p, "http://" + addr
}

func dbRunIDs(t *testing.T, url string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rows, err := p.Query(ctx, "SELECT id FROM runs ORDER BY id")
	if err != nil {
		return nil
	}
	var ids []string
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHistorySurvivesOutageAndRestart is issue 17's proof with the real binary and the real
// PostgreSQL: runs are written, PostgreSQL stops, runs queue, the runtime gets SIGTERM, then both
// start again: every run any runtime logged is in the database, exactly once, with its specs.
func TestHistorySurvivesOutageAndRestart(t *testing.T) {
	t.Parallel()
	pg := suitetest.RestartablePostgres(t)
	journal := filepath.Join(t.TempDir(), "journal")
	args := []string{"--specs.binary=" + suitetest.Binary(t, "passing"), "--specs.interval=200ms",
		"--store.postgres-url=" + pg.URL, "--store.journal=" + journal, "--fleet.lease=2s"}

	first := startRuntimeProc(t, "runtime-1", args...)
	waitFor(t, "3 runs in the database", 60*time.Second, func() bool { return len(dbRunIDs(t, pg.URL)) >= 3 })
	pg.Stop()
	before := len(loggedRuns(first.Output()))
	waitFor(t, "4 runs during the outage", 60*time.Second, func() bool { return len(loggedRuns(first.Output())) >= before+4 })
	if err := first.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	logged := loggedRuns(first.Output())
	queued, _ := filepath.Glob(filepath.Join(journal, "*.json"))
	if len(queued) < 4 {
		t.Fatalf("%d runs in the journal after SIGTERM during the outage, want at least 4", len(queued))
	}

	pg.Start()
	second := startRuntimeProc(t, "runtime-2", args...)
	waitFor(t, "every run of the first runtime in the database", 60*time.Second, func() bool {
		ids := dbRunIDs(t, pg.URL)
		for _, id := range logged {
			if !slices.Contains(ids, id) {
				return false
			}
		}
		return true
	})
	if err := second.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	all := append(logged, loggedRuns(second.Output())...)
	slices.Sort(all)
	ids := dbRunIDs(t, pg.URL)
	if !slices.Equal(ids, slices.Compact(all)) {
		t.Errorf("database holds %d runs, the runtimes logged %d distinct runs:\n db %v\n logged %v", len(ids), len(slices.Compact(all)), ids, all)
	}
	if left, _ := filepath.Glob(filepath.Join(journal, "*.json")); len(left) != 0 {
		t.Errorf("journal still holds %d runs", len(left))
	}
	// Each run's specs landed with it (the passing suite has 3: 2 passed, 1 pending).
	ctx := context.Background()
	p, err := pgxpool.New(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var bad int
	if err := p.QueryRow(ctx, "SELECT count(*) FROM runs r WHERE (SELECT count(*) FROM spec_results s WHERE s.run_id = r.id) <> 3").Scan(&bad); err != nil || bad != 0 {
		t.Errorf("%d runs without their 3 spec results (%v)", bad, err)
	}
	_ = os.RemoveAll(journal)
}
