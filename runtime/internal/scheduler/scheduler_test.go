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

// TestFocusSupersedesAndRunsTheSavedFilesFirst: a Focus during a run cancels it (it is not
// recorded), then the saved files' specs run on their own, then the whole suite, which serves
// the waiters of the superseded run too.
func TestFocusSupersedesAndRunsTheSavedFilesFirst(t *testing.T) {
	var mu sync.Mutex
	var order []string
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	started := make(chan struct{}, 4)
	var whole atomic.Int32
	s := &scheduler.Scheduler{
		Interval: time.Hour,
		Exec: func(ctx context.Context) *report.Run {
			n := whole.Add(1)
			note(fmt.Sprintf("exec %d", n))
			if n == 1 {
				started <- struct{}{}
				<-ctx.Done() // a long run, until something cancels it
				return &report.Run{ID: "1", Result: report.Error, Error: "cancelled"}
			}
			return &report.Run{ID: fmt.Sprint(n), Result: report.Passed}
		},
		Record: func(r *report.Run) { note("record " + r.ID + " " + r.Trigger) },
		ExecFocused: func(ctx context.Context, files []string) *report.Run {
			note(fmt.Sprintf("focused %v", files))
			return &report.Run{ID: "f", Result: report.Passed, Focus: files}
		},
		RecordFocused: func(r *report.Run) { note("record focused " + r.Trigger) },
		Superseded:    func(reason string) { note("superseded " + reason) },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Watch(ctx) }()
	<-started
	waiter := s.Trigger(scheduler.TriggerRerun) // waits for the run after the current one
	got := <-s.Focus(scheduler.TriggerChange, []string{"power_test.go"})
	if r := <-waiter; r != got {
		t.Errorf("the rerun's waiter got run %s, the focus's %s: want the same whole run", r.ID, got.ID)
	}
	cancel()
	<-done
	want := []string{
		"exec 1", "superseded start",
		"focused [power_test.go]", "record focused start; rerun; change",
		"exec 2", "record 2 start; rerun; change",
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("order:\n %q\nwant\n %q", order, want)
	}
	if got.ID != "2" || len(got.Focus) != 0 {
		t.Errorf("Focus returned run %s (focus %v), want the whole run 2", got.ID, got.Focus)
	}
}

// TestFocusWithoutExecFocusedIsATrigger: a scheduler without ExecFocused (not dev mode) reruns
// the whole suite and supersedes nothing it cannot replace.
func TestFocusWithoutExecFocusedIsATrigger(t *testing.T) {
	var runs atomic.Int32
	s := &scheduler.Scheduler{Interval: time.Hour, Exec: func(ctx context.Context) *report.Run {
		return &report.Run{ID: fmt.Sprint(runs.Add(1)), Result: report.Passed}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Watch(ctx)
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	r := <-s.Focus(scheduler.TriggerChange, []string{"power_test.go"})
	if r.ID != "2" || r.Trigger != scheduler.TriggerChange || len(r.Focus) != 0 {
		t.Errorf("run %s trigger %q focus %v, want the whole run 2 for change", r.ID, r.Trigger, r.Focus)
	}
}
