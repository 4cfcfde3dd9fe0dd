package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/store"
	"github.com/wattson-dev/wattson/runtime/migrations"
)

func pool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestPostgres(t *testing.T) {
	pg := testenv.Postgres(t)
	p := pool(t, pg.URL)
	ctx := context.Background()
	applied, err := store.Migrate(ctx, p, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 {
		t.Fatal("no migration applied to an empty database")
	}
	if again, err := store.Migrate(ctx, p, migrations.FS); err != nil || len(again) != 0 {
		t.Fatalf("second migrate applied %v, %v", again, err)
	}
	s := store.NewPostgres(p)
	testStore(t, s)

	// Saving the same run again (a retry after a lost commit acknowledgement) is harmless.
	if err := s.Save(ctx, mkRun(5, report.Failed)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := p.QueryRow(ctx, "SELECT count(*) FROM spec_results WHERE run_id = 'run-0005'").Scan(&n); err != nil || n != 3 {
		t.Errorf("spec rows %d, %v", n, err)
	}
	// The raw report is kept as JSONB.
	var suite string
	if err := p.QueryRow(ctx, "SELECT report->0->>'SuiteDescription' FROM runs WHERE id = 'run-0005'").Scan(&suite); err != nil || suite != "energy" {
		t.Errorf("report jsonb: %q, %v", suite, err)
	}
	// Retention deletes old runs with their specs.
	deleted, err := s.DeleteBefore(ctx, t0.Add(3*time.Minute))
	if err != nil || deleted != 3 {
		t.Fatalf("deleted %d, %v", deleted, err)
	}
	if err := p.QueryRow(ctx, "SELECT count(*) FROM spec_results").Scan(&n); err != nil || n != 9 {
		t.Errorf("spec rows after retention %d, %v", n, err)
	}
}

func TestMigrateRejectsBadNames(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"1_init.sql: name must look like": {"1_init.sql": {Data: []byte("SELECT 1")}},
		"version 0001 already used":       {"0001_a.sql": {Data: []byte("SELECT 1")}, "0001_b.sql": {Data: []byte("SELECT 1")}},
	} {
		_, err := store.Migrate(context.Background(), nil, fsys)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("want error containing %q, got %v", name, err)
		}
	}
}

// TestDurableOutage stops PostgreSQL while runs are being saved, starts it again on the same
// port and data, and checks that every run reached the database.
func TestDurableOutage(t *testing.T) {
	if _, err := procs.PostgresBinDir(); err != nil {
		testenv.Unavailable(t, err)
	}
	addr, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is private, and postgres may run as another user.
	parent, err := os.MkdirTemp("", "wattson-outage-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "pg")
	start := func() *procs.Server {
		ctx, cancel := context.WithTimeout(context.Background(), testenv.StartTimeout)
		defer cancel()
		s, err := procs.StartPostgres(ctx, procs.Options{Addr: addr, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Fast shutdown (SIGINT) ends the server even with our connections open; the data stays.
	stop := func(s *procs.Server) {
		_ = syscall.Kill(s.Pid(), syscall.SIGINT)
		select {
		case <-s.Done():
		case <-time.After(30 * time.Second):
			t.Fatal("postgres did not stop")
		}
	}
	pg := start()
	t.Cleanup(func() { _ = pg.Stop() })

	p := pool(t, pg.URL)
	mem := store.NewMemory(100)
	d := store.NewDurable(store.NewPostgres(p), mem, store.DurableOptions{Buffer: 100,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Start(ctx, 5*time.Second) }()
	t.Cleanup(func() { cancel(); <-done })

	const total = 30
	for i := range 10 {
		_ = d.Save(ctx, mkRun(i, report.Passed))
	}
	waitFlushed(t, d)

	stop(pg)
	for i := 10; i < 20; i++ {
		if err := d.Save(ctx, mkRun(i, report.Failed)); err != nil {
			t.Fatal(err)
		}
	}
	// During the outage, reads fall back to memory and still see the newest runs.
	runs, err := d.Runs(ctx, 1)
	if err != nil || len(runs) != 1 || runs[0].ID != "run-0019" {
		t.Fatalf("runs during outage %v, %v", runs, err)
	}
	if got, err := d.Run(ctx, "run-0015"); err != nil || got.Failed != 1 {
		t.Fatalf("run during outage %+v, %v", got, err)
	}
	time.Sleep(time.Second) // let the writer fail and back off
	if d.Pending() == 0 {
		t.Fatal("nothing pending while the database is down")
	}

	pg = start()
	for i := 20; i < total; i++ {
		_ = d.Save(ctx, mkRun(i, report.Passed))
	}
	waitFlushed(t, d)

	var n int
	if err := p.QueryRow(context.Background(), "SELECT count(*) FROM runs").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != total {
		t.Fatalf("%d runs in the database, want %d", n, total)
	}
	var specs int
	if err := p.QueryRow(context.Background(), "SELECT count(*) FROM spec_results").Scan(&specs); err != nil || specs != 3*total {
		t.Fatalf("%d spec results, want %d (%v)", specs, 3*total, err)
	}
	for i := range total {
		if _, err := store.NewPostgres(p).Run(context.Background(), fmt.Sprintf("run-%04d", i)); err != nil {
			t.Errorf("run %d: %v", i, err)
		}
	}
}

func waitFlushed(t *testing.T, d *store.Durable) {
	t.Helper()
	select {
	case <-d.Flushed():
	case <-time.After(60 * time.Second):
		t.Fatalf("buffer not flushed: %d pending", d.Pending())
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
