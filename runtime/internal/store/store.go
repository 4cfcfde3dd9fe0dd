// Package store keeps the history of runs and spec results: in memory (bounded) by default, in
// PostgreSQL when configured. Writes to PostgreSQL go through a bounded in-memory buffer, so a
// database outage never blocks a run or loses a result that fits in the buffer.
package store

import (
	"context"
	"errors"

	"github.com/wattson-dev/wattson/runtime/internal/report"
)

// ErrNotFound is returned for an unknown run.
var ErrNotFound = errors.New("not found")

// Store is the run history.
type Store interface {
	// Save records a finished run with its specs.
	Save(ctx context.Context, run *report.Run) error
	// Runs returns the most recent runs, newest first, without specs or output.
	Runs(ctx context.Context, limit int) ([]report.Run, error)
	// Run returns one run with its specs and output, or ErrNotFound.
	Run(ctx context.Context, id string) (*report.Run, error)
	// SpecHistory returns the most recent results of the spec named name, newest first.
	SpecHistory(ctx context.Context, name string, limit int) ([]report.Spec, error)
	// Flaky returns the specs that both passed and failed within the last runs complete runs,
	// most flips first.
	Flaky(ctx context.Context, runs int) ([]Flaky, error)
}

// Flaky summarises a spec that flips between passing and failing.
type Flaky struct {
	Suite    string `json:"suite"`
	Name     string `json:"name"`
	Runs     int    `json:"runs"`
	Failures int    `json:"failures"`
	// Flips counts changes between pass and fail from one run to the next.
	Flips     int    `json:"flips"`
	LastState string `json:"last_state"`
}

// flakyTracker folds per-spec state sequences (oldest first) into Flaky entries.
type flakyTracker struct {
	order []specRef
	by    map[specRef]*Flaky
	last  map[specRef]bool
}

type specRef struct{ suite, name string }

func newFlakyTracker() *flakyTracker {
	return &flakyTracker{by: map[specRef]*Flaky{}, last: map[specRef]bool{}}
}

func (t *flakyTracker) add(suite, name, state string) {
	k := specRef{suite, name}
	f, ok := t.by[k]
	if !ok {
		f = &Flaky{Suite: suite, Name: name}
		t.by[k] = f
		t.order = append(t.order, k)
	}
	failed := (report.Spec{State: state}).Failed()
	if ok && t.last[k] != failed {
		f.Flips++
	}
	t.last[k] = failed
	f.Runs++
	if failed {
		f.Failures++
	}
	f.LastState = state
}

func (t *flakyTracker) result() []Flaky {
	out := []Flaky{}
	for _, k := range t.order {
		if f := t.by[k]; f.Flips > 0 {
			out = append(out, *f)
		}
	}
	sortFlaky(out)
	return out
}
