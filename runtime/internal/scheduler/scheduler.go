// Package scheduler decides when the suite runs: at start, every interval, on request (POST
// /rerun, a source change in dev mode) and, in CI mode, until it has been green N times in a row.
// Runs never overlap; requests that arrive during a run are served together by the next one.
package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wattson-dev/wattson/runtime/internal/report"
)

// Triggers, recorded with each run.
const (
	TriggerStart    = "start"
	TriggerInterval = "interval"
	TriggerRerun    = "rerun"
	TriggerChange   = "change"
	TriggerCI       = "ci"
)

// Scheduler runs Exec and hands every result to Record.
type Scheduler struct {
	// Exec runs the suite once (it may build it first in dev mode). It must return a Run.
	Exec func(ctx context.Context) *report.Run
	// Record receives every finished run (metrics, history, logs).
	Record func(*report.Run)
	// Interval between the end of one run and the start of the next in watch mode.
	Interval time.Duration
	// Debounce is how long a trigger waits for more triggers before its run starts; all of them
	// (and the timer, if it fires meanwhile) are served by that one run.
	Debounce time.Duration

	mu      sync.Mutex
	waiters []chan *report.Run
	reasons []string
	kick    chan struct{}
	once    sync.Once
}

// maxReasons bounds the distinct triggers named in one run's record.
const maxReasons = 5

func (s *Scheduler) init() {
	s.once.Do(func() { s.kick = make(chan struct{}, 1) })
}

// Trigger asks for a run that starts after this call and returns a channel that receives it.
// Triggers during a run are coalesced into the next one.
func (s *Scheduler) Trigger(reason string) <-chan *report.Run {
	s.init()
	c := make(chan *report.Run, 1)
	s.mu.Lock()
	s.waiters = append(s.waiters, c)
	if !slices.Contains(s.reasons, reason) {
		s.reasons = append(s.reasons, reason)
	}
	// Under the lock, so that Watch's drain below and this send agree on who serves c.
	select {
	case s.kick <- struct{}{}:
	default:
	}
	s.mu.Unlock()
	return c
}

// Watch runs the suite at once, then every Interval and on Trigger, until ctx ends.
func (s *Scheduler) Watch(ctx context.Context) {
	s.init()
	reason := TriggerStart
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		s.mu.Lock()
		waiters := s.waiters
		if len(s.reasons) > 0 {
			reason = joinReasons(s.reasons)
		}
		s.waiters, s.reasons = nil, nil
		select { // this run serves every trigger so far
		case <-s.kick:
		default:
		}
		s.mu.Unlock()

		run := s.run(ctx, reason)
		for _, w := range waiters {
			w <- run
		}
		if ctx.Err() != nil {
			return
		}
		timer.Reset(s.Interval)
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
			if !timer.Stop() {
				<-timer.C
			}
			reason = ""
			if s.Debounce > 0 && !sleep(ctx, s.Debounce) {
				return
			}
		case <-timer.C:
			reason = TriggerInterval
		}
	}
}

// joinReasons names the triggers a run serves, the first few of them.
func joinReasons(r []string) string {
	if len(r) > maxReasons {
		return strings.Join(r[:maxReasons], "; ") + fmt.Sprintf("; and %d more", len(r)-maxReasons)
	}
	return strings.Join(r, "; ")
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *Scheduler) run(ctx context.Context, reason string) *report.Run {
	run := s.Exec(ctx)
	run.Trigger = reason
	if s.Record != nil {
		s.Record(run)
	}
	return run
}

// Outcome is the result of UntilGreen.
type Outcome struct {
	// Green is true when the suite passed N times in a row.
	Green bool
	// Runs are all runs made, oldest first.
	Runs []*report.Run
	// LastComplete is the last passed or failed run, if any.
	LastComplete *report.Run
}

// UntilGreen runs the suite until it has passed n times in a row (Green) or ctx ends, waiting
// Interval between runs. A run cut short by ctx is not counted.
func (s *Scheduler) UntilGreen(ctx context.Context, n int) Outcome {
	var o Outcome
	streak := 0
	for {
		run := s.Exec(ctx)
		if ctx.Err() != nil && !run.Result.Complete() {
			return o
		}
		run.Trigger = TriggerCI
		if s.Record != nil {
			s.Record(run)
		}
		o.Runs = append(o.Runs, run)
		if run.Result.Complete() {
			o.LastComplete = run
		}
		if run.Result == report.Passed {
			streak++
		} else {
			streak = 0
		}
		if streak >= n {
			o.Green = true
			return o
		}
		t := time.NewTimer(s.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return o
		case <-t.C:
		}
	}
}

// Log writes one line per run with its counts, then the full failure of each failing spec, or
// the harness error: what `skaffold dev` shows while you edit.
func Log(l *slog.Logger, run *report.Run) {
	attrs := []any{
		"run", run.ID, "suite", run.Suite, "result", run.Result, "trigger", run.Trigger,
		"passed", run.Passed, "failed", run.Failed, "skipped", run.Skipped, "pending", run.Pending,
		"duration", run.Duration.Round(time.Millisecond),
	}
	switch run.Result {
	case report.Passed:
		l.Info("run passed", attrs...)
	case report.Failed:
		l.Warn("run failed", attrs...)
		for _, s := range run.FailedSpecs() {
			l.Warn("spec failed", "run", run.ID, "spec", s.Name, "state", s.State, "location", s.Location,
				"message", s.Message, "output", s.Output)
		}
	default:
		l.Error("run error", append(attrs, "error", run.Error)...)
	}
}
