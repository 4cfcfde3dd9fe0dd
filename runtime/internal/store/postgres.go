package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/store/db"
	"github.com/wattson-dev/wattson/runtime/migrations"
)

// Conn is what Postgres needs: the generated DBTX for queries, plus Begin so that a run and its
// specs are written in one transaction. A *pgxpool.Pool, a *pgx.Conn and a pgx.Tx all fit.
type Conn interface {
	db.DBTX
	beginner
}

// Postgres is the history in PostgreSQL, through the sqlc queries in runtime/queries. It writes
// synchronously; wrap it in a Durable to survive outages.
type Postgres struct {
	conn Conn
	q    *db.Queries
}

// NewPostgres returns a store on conn. The schema must have been applied (Migrate).
func NewPostgres(conn Conn) *Postgres {
	return &Postgres{conn: conn, q: db.New(conn)}
}

// Save implements Store: the run and its specs in one transaction, idempotent on the run ID.
func (p *Postgres) Save(ctx context.Context, run *report.Run) error {
	tx, err := p.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("save run %s: %w", run.ID, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	q := p.q.WithTx(tx)
	n, err := q.InsertRun(ctx, db.InsertRunParams{
		ID:         run.ID,
		Suite:      clean(run.Suite, maxName),
		StartedAt:  ts(run.StartedAt),
		FinishedAt: ts(run.FinishedAt),
		DurationMs: run.Duration.Milliseconds(),
		Result:     string(run.Result),
		Error:      report.Tail(run.Error, report.MaxRunOutput),
		Trigger:    clean(run.Trigger, maxName),
		Passed:     int32(run.Passed),
		Failed:     int32(run.Failed),
		Skipped:    int32(run.Skipped),
		Pending:    int32(run.Pending),
		Files:      int32(run.Files),
		Output:     report.Tail(run.Output, report.MaxRunOutput),
		Report:     jsonb(run.Raw),
		Revision:   clean(run.Revision, maxName),
		Replica:    clean(run.Replica, maxName),
	})
	if err != nil {
		return fmt.Errorf("save run %s: %w", run.ID, err)
	}
	if n == 0 {
		return nil // already written by an earlier attempt whose commit acknowledgement was lost
	}
	for i, s := range run.Specs {
		labels := make([]string, 0, len(s.Labels))
		for _, l := range s.Labels {
			labels = append(labels, clean(l, maxName))
		}
		if err := q.InsertSpecResult(ctx, db.InsertSpecResultParams{
			RunID:      run.ID,
			Position:   int32(i),
			Suite:      clean(run.Suite, maxName),
			Name:       clean(s.Name, maxName),
			Labels:     labels,
			State:      clean(s.State, maxName),
			DurationMs: s.Duration.Milliseconds(),
			Message:    report.Tail(s.Message, report.MaxMessage),
			Location:   clean(s.Location, maxName),
			Output:     report.Tail(s.Output, report.MaxSpecOutput),
			StartedAt:  ts(run.StartedAt),
		}); err != nil {
			return fmt.Errorf("save run %s: spec %q: %w", run.ID, s.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("save run %s: commit: %w", run.ID, err)
	}
	return nil
}

// Runs implements Store.
func (p *Postgres) Runs(ctx context.Context, limit int) ([]report.Run, error) {
	rows, err := p.q.ListRuns(ctx, int32(limit))
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out := make([]report.Run, 0, len(rows))
	for _, r := range rows {
		out = append(out, report.Run{
			ID: r.ID, Suite: r.Suite, StartedAt: r.StartedAt.Time, FinishedAt: r.FinishedAt.Time,
			Duration: time.Duration(r.DurationMs) * time.Millisecond, Result: report.Result(r.Result),
			Error: r.Error, Trigger: r.Trigger, Passed: int(r.Passed), Failed: int(r.Failed),
			Skipped: int(r.Skipped), Pending: int(r.Pending), Files: int(r.Files),
			Revision: r.Revision, Replica: r.Replica,
		})
	}
	return out, nil
}

// Run implements Store.
func (p *Postgres) Run(ctx context.Context, id string) (*report.Run, error) {
	r, err := p.q.GetRun(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", id, err)
	}
	specs, err := p.q.ListRunSpecs(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get run %s: specs: %w", id, err)
	}
	run := &report.Run{
		ID: r.ID, Suite: r.Suite, StartedAt: r.StartedAt.Time, FinishedAt: r.FinishedAt.Time,
		Duration: time.Duration(r.DurationMs) * time.Millisecond, Result: report.Result(r.Result),
		Error: r.Error, Trigger: r.Trigger, Passed: int(r.Passed), Failed: int(r.Failed),
		Skipped: int(r.Skipped), Pending: int(r.Pending), Files: int(r.Files), Output: r.Output,
		Revision: r.Revision, Replica: r.Replica,
	}
	for _, s := range specs {
		run.Specs = append(run.Specs, specFromRow(s))
	}
	return run, nil
}

// Report returns the raw Ginkgo JSON report of a run (nil for a harness error), or ErrNotFound.
func (p *Postgres) Report(ctx context.Context, id string) ([]byte, error) {
	b, err := p.q.GetRunReport(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return b, err
}

// SpecHistory implements Store.
func (p *Postgres) SpecHistory(ctx context.Context, name string, limit int) ([]report.Spec, error) {
	rows, err := p.q.SpecHistory(ctx, db.SpecHistoryParams{Name: name, Limit: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("spec history: %w", err)
	}
	out := make([]report.Spec, 0, len(rows))
	for _, r := range rows {
		out = append(out, specFromRow(r))
	}
	return out, nil
}

// Flaky implements Store.
func (p *Postgres) Flaky(ctx context.Context, runs int) ([]Flaky, error) {
	rows, err := p.q.RecentSpecStates(ctx, int32(runs))
	if err != nil {
		return nil, fmt.Errorf("flaky specs: %w", err)
	}
	t := newFlakyTracker()
	for _, r := range rows {
		t.add(r.Suite, r.Name, r.State)
	}
	return t.result(), nil
}

// DeleteBefore removes runs (and their specs) that started before t and returns how many.
func (p *Postgres) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	n, err := p.q.DeleteRunsBefore(ctx, ts(t))
	if err != nil {
		return 0, fmt.Errorf("delete old runs: %w", err)
	}
	return n, nil
}

func specFromRow(s db.SpecResult) report.Spec {
	return report.Spec{
		Name: s.Name, Labels: s.Labels, State: s.State,
		Duration: time.Duration(s.DurationMs) * time.Millisecond, Message: s.Message,
		Location: s.Location, Output: s.Output, RunID: s.RunID, StartedAt: s.StartedAt.Time,
	}
}

func ts(t time.Time) pgtype.Timestamptz { return pgtype.Timestamptz{Time: t, Valid: true} }

// MaxRawReport bounds the raw Ginkgo report kept as JSONB; a larger one is not kept (the run and
// its specs are).
const MaxRawReport = 8 << 20

// maxName bounds names, labels, locations and triggers: PostgreSQL's btree index on spec names
// refuses entries over about 2.7 kB, which would refuse the run for good.
const maxName = 1024

// jsonb prepares a raw report for a jsonb column, which refuses the NUL character even escaped,
// invalid UTF-8 and invalid JSON; nil when it is none of its business or too large.
func jsonb(raw []byte) []byte {
	if len(raw) == 0 || len(raw) > MaxRawReport {
		return nil
	}
	raw = bytes.ReplaceAll(bytes.ToValidUTF8(raw, []byte("\uFFFD")), []byte(`\u0000`), []byte(`\ufffd`))
	if !json.Valid(raw) {
		return nil
	}
	return raw
}

// clean makes s storable as text: valid UTF-8, no NUL, at most max bytes (the start kept).
func clean(s string, max int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max-3], "") + "..."
	}
	return s
}

// Prepare implements Writer: it applies the embedded migrations.
func (p *Postgres) Prepare(ctx context.Context) error {
	_, err := Migrate(ctx, p.conn, migrations.FS)
	return err
}
