package store

import (
	"context"
	"slices"
	"sync"

	"github.com/wattson-dev/wattson/runtime/internal/report"
)

// DefaultMemoryRuns is how many runs the memory store keeps by default.
const DefaultMemoryRuns = 200

// Memory keeps the last runs in a ring. Each run's output is already bounded (report.Tail), so
// memory is bounded by max runs times the size of one run.
type Memory struct {
	mu   sync.RWMutex
	max  int
	ring []*report.Run // oldest first
}

// NewMemory returns a store that keeps the last max runs (DefaultMemoryRuns when <= 0).
func NewMemory(max int) *Memory {
	if max <= 0 {
		max = DefaultMemoryRuns
	}
	return &Memory{max: max}
}

// Save implements Store. The raw report is not kept in memory: it duplicates the specs.
func (m *Memory) Save(_ context.Context, run *report.Run) error {
	c := *run
	c.Raw = nil
	c.Specs = slices.Clone(run.Specs)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.ring) >= m.max {
		m.ring[0] = nil
		m.ring = m.ring[1:]
	}
	// Re-allocate now and then so the slice's dropped prefix is freed.
	if cap(m.ring) > 2*m.max {
		m.ring = slices.Clone(m.ring)
	}
	m.ring = append(m.ring, &c)
	return nil
}

// Runs implements Store.
func (m *Memory) Runs(_ context.Context, limit int) ([]report.Run, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := []report.Run{}
	for i := len(m.ring) - 1; i >= 0 && len(out) < limit; i-- {
		r := *m.ring[i]
		r.Specs, r.Output = nil, ""
		out = append(out, r)
	}
	return out, nil
}

// Run implements Store.
func (m *Memory) Run(_ context.Context, id string) (*report.Run, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, r := range m.ring {
		if r.ID == id {
			c := *r
			c.Specs = slices.Clone(r.Specs)
			return &c, nil
		}
	}
	return nil, ErrNotFound
}

// SpecHistory implements Store.
func (m *Memory) SpecHistory(_ context.Context, name string, limit int) ([]report.Spec, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := []report.Spec{}
	for i := len(m.ring) - 1; i >= 0 && len(out) < limit; i-- {
		r := m.ring[i]
		for _, s := range r.Specs {
			if s.Name == name {
				s.RunID, s.StartedAt = r.ID, r.StartedAt
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// Flaky implements Store.
func (m *Memory) Flaky(_ context.Context, runs int) ([]Flaky, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var recent []*report.Run
	for i := len(m.ring) - 1; i >= 0 && len(recent) < runs; i-- {
		if m.ring[i].Result.Complete() {
			recent = append(recent, m.ring[i])
		}
	}
	t := newFlakyTracker()
	for i := len(recent) - 1; i >= 0; i-- {
		for _, s := range recent[i].Specs {
			if s.Ran() {
				t.add(recent[i].Suite, s.Name, s.State)
			}
		}
	}
	return t.result(), nil
}

func sortFlaky(f []Flaky) {
	slices.SortStableFunc(f, func(a, b Flaky) int {
		if a.Flips != b.Flips {
			return b.Flips - a.Flips
		}
		return b.Failures - a.Failures
	})
}
