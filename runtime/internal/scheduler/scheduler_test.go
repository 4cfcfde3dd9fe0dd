package scheduler_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/scheduler"
)

// TestTriggersCoalesce: triggers during a run are served together by one next run, and runs
// never overlap.
func TestTriggersCoalesce(t *testing.T) {
	var running, overlaps, runs atomic.Int32
	release := make(chan struct{})
	s := &scheduler.Scheduler{Interval: time.Hour, Exec: func(ctx context.Context) *report.Run {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer running.Add(-1)
		n := runs.Add(1)
		if n == 1 {
			<-release // hold the first run while triggers arrive
		}
		return &report.Run{ID: string(rune('0' + n)), Result: report.Passed}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Watch(ctx) }()
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	got := make([]*report.Run, 5)
	for i := range got {
		c := s.Trigger(scheduler.TriggerRerun)
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = <-c }()
	}
	close(release)
	wg.Wait()
	for _, r := range got {
		if r.ID != "2" || r.Trigger != scheduler.TriggerRerun {
			t.Errorf("trigger served by run %s (%s), want run 2 (rerun)", r.ID, r.Trigger)
		}
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	if n := runs.Load(); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
	if overlaps.Load() != 0 {
		t.Error("runs overlapped")
	}
}

func TestUntilGreen(t *testing.T) {
	results := []report.Result{report.Failed, report.Passed, report.Error, report.Passed, report.Passed, report.Failed}
	var i int
	s := &scheduler.Scheduler{Interval: time.Millisecond, Exec: func(context.Context) *report.Run {
		r := &report.Run{Result: results[i]}
		i++
		return r
	}}
	out := s.UntilGreen(context.Background(), 2)
	if !out.Green || len(out.Runs) != 5 || out.LastComplete != out.Runs[4] {
		t.Errorf("outcome green=%v runs=%d", out.Green, len(out.Runs))
	}

	i = 0
	results = []report.Result{report.Failed, report.Failed, report.Failed, report.Failed}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	s.Interval = 20 * time.Millisecond
	if out := s.UntilGreen(ctx, 1); out.Green || out.LastComplete == nil || out.LastComplete.Result != report.Failed {
		t.Errorf("outcome %+v", out)
	}
}

// TestDebounce: triggers within the debounce are served by one run that names each of them,
// and the run starts only once the debounce has passed.
func TestDebounce(t *testing.T) {
	var runs atomic.Int32
	started := make(chan time.Time, 10)
	s := &scheduler.Scheduler{Interval: time.Hour, Debounce: 200 * time.Millisecond, Exec: func(ctx context.Context) *report.Run {
		started <- time.Now()
		return &report.Run{ID: fmt.Sprint(runs.Add(1)), Result: report.Passed}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Watch(ctx) }()
	<-started // the start run
	first := time.Now()
	a := s.Trigger("PDU default/rack-1")
	time.Sleep(50 * time.Millisecond)
	b := s.Trigger("PDU default/rack-2")
	c := s.Trigger("PDU default/rack-1")
	ra, rb, rc := <-a, <-b, <-c
	if at := <-started; at.Sub(first) < 200*time.Millisecond {
		t.Errorf("run started %s after the first trigger, before the debounce", at.Sub(first))
	}
	if ra != rb || rb != rc || ra.Trigger != "PDU default/rack-1; PDU default/rack-2" {
		t.Errorf("runs %s %s %s, trigger %q", ra.ID, rb.ID, rc.ID, ra.Trigger)
	}
	cancel()
	<-done
	if n := runs.Load(); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
}
