// Package scheduler decides when the suite runs: at start, every interval, on request (POST
// /rerun, a source change in dev mode) and, in CI mode, until it has been green N times in a row.
// Runs never overlap; requests that arrive during a run are served together by the next one.
package scheduler

import (
	"context"
	"errors"
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
	// ExecFocused runs only the specs of the given source files (dev mode, see Focus); Focus
	// is a plain trigger without it.
	ExecFocused func(ctx context.Context, files []string) *report.Run
	// RecordFocused receives every focused run that was not superseded.
	RecordFocused func(*report.Run)
	// Superseded is told of each run a Focus cancelled (it is not recorded).
	Superseded func(reason string)

	mu      sync.Mutex
	waiters []chan *report.Run
	reasons []string
	focus   []string
	cancel  context.CancelCauseFunc // of the run in progress, nil between runs
	kick    chan struct{}
	once    sync.Once
}

// errSuperseded is the cause of a run cancelled by Focus.
var errSuperseded = errors.New("superseded by a newer suite")

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

// Focus is dev mode's trigger for a new suite binary whose saved files are known: the run in
// progress, if any, is superseded (cancelled and not recorded: its suite is outdated), then the
// specs of files run first, on their own (ExecFocused, RecordFocused), so that the spec being
// edited answers in seconds, and the whole suite right after them. The returned channel receives
// that whole run.
func (s *Scheduler) Focus(reason string, files []string) <-chan *report.Run {
	s.mu.Lock()
	s.focus = append(s.focus[:0:0], files...)
	if s.cancel != nil {
		s.cancel(errSuperseded)
	}
	s.mu.Unlock()
	return s.Trigger(reason)
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
		focus := s.focus
		s.waiters, s.reasons, s.focus = nil, nil, nil
		select { // this run serves every trigger so far
		case <-s.kick:
		default:
		}
		runCtx, cancel := context.WithCancelCause(ctx)
		s.cancel = cancel
		s.mu.Unlock()

		run, superseded := s.runFocused(runCtx, reason, focus)
		s.mu.Lock()
		s.cancel = nil
		s.mu.Unlock()
		cancel(nil)
		if superseded && ctx.Err() == nil {
			// The next iteration serves the new suite at once, and these waiters with it.
			s.mu.Lock()
			s.waiters = append(waiters, s.waiters...)
			if reason != "" && !slices.Contains(s.reasons, reason) {
				s.reasons = append([]string{reason}, s.reasons...)
			}
			s.mu.Unlock()
			if s.Superseded != nil {
				s.Superseded(reason)
			}
			continue
		}
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

// runFocused runs the specs of focus first, when there are any and ExecFocused is set, then the
// whole suite, and records both, unless a Focus supersedes them (superseded is then true and
// nothing is recorded).
func (s *Scheduler) runFocused(ctx context.Context, reason string, focus []string) (run *report.Run, superseded bool) {
	isSuperseded := func() bool { return errors.Is(context.Cause(ctx), errSuperseded) }
	if len(focus) > 0 && s.ExecFocused != nil {
		f := s.ExecFocused(ctx, focus)
		f.Trigger = reason
		if isSuperseded() {
			return nil, true
		}
		if s.RecordFocused != nil {
			s.RecordFocused(f)
		}
	}
	run = s.Exec(ctx)
	run.Trigger = reason
	if isSuperseded() {
		return nil, true
	}
	if s.Record != nil {
		s.Record(run)
	}
	return run, false
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
	focused := len(run.Focus) > 0
	if focused {
		attrs = append(attrs, "focus", strings.Join(run.Focus, ","))
	}
	switch {
	case run.Result == report.Passed && focused:
		l.Info("focused run passed", attrs...)
	case run.Result == report.Passed:
		l.Info("run passed", attrs...)
	case run.Result == report.Failed:
		if focused {
			l.Warn("focused run failed", attrs...)
		} else {
			l.Warn("run failed", attrs...)
		}
		for _, s := range run.FailedSpecs() {
			l.Warn("spec failed", "run", run.ID, "spec", s.Name, "state", s.State, "location", s.Location,
				"message", s.Message, "output", s.Output)
		}
	case focused:
		l.Error("focused run error", append(attrs, "error", run.Error)...)
	default:
		l.Error("run error", append(attrs, "error", run.Error)...)
	}
}
