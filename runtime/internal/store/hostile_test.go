package store_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/store"
	"github.com/wattson-dev/wattson/runtime/migrations"
)

// TestHostileRunsDoNotBlockTheQueue saves runs PostgreSQL would refuse as they are (a NUL byte
// in a spec name, suite and label, invalid UTF-8, an oversized raw report, a name longer than
// the index allows) and one it refuses whatever is done to it (a result the CHECK constraint
// rejects), each followed by an ordinary run: the hostile ones are stored sanitised, the
// refused one is moved aside and counted, and every later run is written.
func TestHostileRunsDoNotBlockTheQueue(t *testing.T) {
	pg := testenv.Postgres(t)
	p := pool(t, pg.URL)
	ctx := context.Background()
	if _, err := store.Migrate(ctx, p, migrations.FS); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	j, replay, err := store.OpenJournal(dir)
	if err != nil || len(replay) != 0 {
		t.Fatal(replay, err)
	}
	d := store.NewDurable(store.NewPostgres(p), store.NewMemory(100), store.DurableOptions{Journal: j,
		Registerer: reg, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})

	nul := mkRun(1, report.Failed)
	nul.ID = "nul"
	nul.Suite = "en\x00ergy"
	nul.Specs[1].Name = "outlet\x00 3 reports watts"
	nul.Specs[0].Labels = []string{"p\x00du"}
	nul.Specs[0].Location = "a_test.go:\xff1"
	big := mkRun(2, report.Passed)
	big.ID = "big"
	big.Raw = []byte(`[{"SuiteDescription":"energy","Pad":"` + strings.Repeat("x", store.MaxRawReport) + `"}]`)
	long := mkRun(3, report.Passed)
	long.ID = "long"
	long.Specs[0].Name = strings.Repeat("outlet ", 2000)
	refused := mkRun(4, report.Passed)
	refused.ID = "refused"
	refused.Result = "weird" // CHECK (result IN (...)): class 23, no retry can cure it
	runs := []*report.Run{nul, mkRun(10, report.Passed), big, mkRun(11, report.Passed), long, refused, mkRun(12, report.Passed)}
	for _, r := range runs {
		if err := d.Save(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.Start(sctx, time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFlushed(t, d)

	var ids []string
	rows, err := p.Query(ctx, "SELECT id FROM runs ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		ids = append(ids, id)
	}
	if got, want := strings.Join(ids, " "), "big long nul run-0010 run-0011 run-0012"; got != want {
		t.Errorf("runs in the database %q, want %q", got, want)
	}
	got, err := store.NewPostgres(p).Run(ctx, "nul")
	if err != nil {
		t.Fatal(err)
	}
	if got.Suite != "en\uFFFDergy" || got.Specs[1].Name != "outlet\uFFFD 3 reports watts" || got.Specs[0].Labels[0] != "p\uFFFDdu" {
		t.Errorf("sanitised run %+v", got)
	}
	if raw, err := store.NewPostgres(p).Report(ctx, "big"); err != nil || raw != nil {
		t.Errorf("oversized report kept (%d bytes, %v)", len(raw), err)
	}
	if v := testutil.ToFloat64(counter(t, reg, "wattson_runtime_store_failed_runs_total")); v != 1 {
		t.Errorf("failed runs %v, want 1", v)
	}
	if v := testutil.ToFloat64(counter(t, reg, "wattson_runtime_store_written_runs_total")); v != 6 {
		t.Errorf("written runs %v, want 6", v)
	}
	// The refused run is kept for a human, the written ones are gone from the journal.
	if left, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(left) != 0 {
		t.Errorf("journal still holds %v", left)
	}
	if failed, _ := filepath.Glob(filepath.Join(dir, "failed", "*-refused.json")); len(failed) != 1 {
		t.Errorf("refused run not in failed/: %v", failed)
	}
}

// TestJournalReplay queues runs while the database is unreachable, stops (as at SIGTERM), and
// starts a new Durable on the same journal with the database up: every run lands, once.
func TestJournalReplay(t *testing.T) {
	pg := testenv.Postgres(t)
	ctx := context.Background()
	dir := t.TempDir()
	down := pool(t, "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	j, _, err := store.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	d := store.NewDurable(store.NewPostgres(down), store.NewMemory(100), store.DurableOptions{Journal: j, Buffer: 4,
		Registerer: reg, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.Start(sctx, 500*time.Millisecond) }()
	for i := range 6 {
		_ = d.Save(ctx, mkRun(i, report.Passed))
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	<-done
	// Bounded: 6 saved into a buffer of 4, so the 2 oldest were dropped and counted.
	if v := testutil.ToFloat64(counter(t, reg, "wattson_runtime_store_dropped_runs_total")); v != 2 {
		t.Errorf("dropped %v, want 2", v)
	}
	// A write cut short by a crash is ignored.
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000099-torn.json.tmp"), []byte(`{"run":`), 0o600); err != nil {
		t.Fatal(err)
	}

	j2, replay, err := store.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(replay) != 4 || replay[0].Run.ID != "run-0002" || replay[3].Run.ID != "run-0005" || len(replay[0].Run.Raw) == 0 {
		t.Fatalf("replayed %+v", replay)
	}
	p := pool(t, pg.URL)
	d2 := store.NewDurable(store.NewPostgres(p), store.NewMemory(100), store.DurableOptions{Journal: j2, Replay: replay,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	sctx, cancel = context.WithCancel(ctx)
	done = make(chan struct{})
	go func() { defer close(done); d2.Start(sctx, time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFlushed(t, d2)
	var n, specs int
	if err := p.QueryRow(ctx, "SELECT count(*), (SELECT count(*) FROM spec_results) FROM runs").Scan(&n, &specs); err != nil || n != 4 || specs != 12 {
		t.Errorf("%d runs and %d specs in the database, want 4 and 12 (%v)", n, specs, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 1 { // failed/
		t.Errorf("journal not emptied: %v", left)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			v := mf.GetMetric()[0].GetCounter().GetValue()
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name})
			c.Add(v)
			return c
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}
