package store

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wattson-dev/wattson/runtime/internal/report"
)

// DefaultBuffer is how many runs Durable holds while the database is unreachable.
const DefaultBuffer = 1000

// Writer is the durable side of a Durable: Postgres, or a test double.
type Writer interface {
	Store
	// Prepare makes the writer ready (applies migrations); it is retried until it succeeds.
	Prepare(ctx context.Context) error
	// DeleteBefore applies retention.
	DeleteBefore(ctx context.Context, t time.Time) (int64, error)
}

// Durable saves every run in a bounded memory store at once, and queues it for the database,
// which a background goroutine writes in order, retrying with backoff while it is down. Reads go to
// the database and fall back to memory when it fails, so the page keeps working in an outage.
// Only when the queue overflows (a long outage) are the oldest queued runs dropped from the
// database's history, and they are counted and logged.
type Durable struct {
	db        Writer
	mem       *Memory
	log       *slog.Logger
	max       int
	retention time.Duration

	mu      sync.Mutex
	queue   []*report.Run
	wake    chan struct{}
	flushed chan struct{} // closed and replaced whenever the queue empties

	pending  prometheus.GaugeFunc
	dropped  prometheus.Counter
	errors   prometheus.Counter
	written  prometheus.Counter
	retained prometheus.Counter
}

// DurableOptions configure NewDurable.
type DurableOptions struct {
	// Buffer bounds the queue of runs not yet written (DefaultBuffer when <= 0).
	Buffer int
	// Retention deletes runs older than this from the database (never when 0).
	Retention time.Duration
	Logger    *slog.Logger
	// Registerer receives the wattson_store_* metrics when set.
	Registerer prometheus.Registerer
}

// NewDurable returns a store that writes to db through a buffer and keeps mem as the fallback.
// Call Start to begin writing.
func NewDurable(w Writer, mem *Memory, o DurableOptions) *Durable {
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d := &Durable{
		db: w, mem: mem, log: o.Logger, max: o.Buffer, retention: o.Retention,
		wake: make(chan struct{}, 1), flushed: make(chan struct{}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "wattson_store_dropped_runs_total",
			Help: "Runs dropped from the database queue because it was full during an outage (still in the memory store)."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "wattson_store_write_errors_total",
			Help: "Failed attempts to write to the database (each is retried)."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "wattson_store_written_runs_total",
			Help: "Runs written to the database."}),
		retained: prometheus.NewCounter(prometheus.CounterOpts{Name: "wattson_store_deleted_runs_total",
			Help: "Runs deleted from the database by retention."}),
	}
	d.pending = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wattson_store_pending_runs",
		Help: "Runs waiting to be written to the database."}, func() float64 { return float64(d.Pending()) })
	if o.Registerer != nil {
		o.Registerer.MustRegister(d.pending, d.dropped, d.errors, d.written, d.retained)
	}
	return d
}

// Save implements Store. It never blocks on the database.
func (d *Durable) Save(ctx context.Context, run *report.Run) error {
	_ = d.mem.Save(ctx, run)
	d.mu.Lock()
	if len(d.queue) >= d.max {
		d.log.Warn("database queue full: dropping oldest queued run from the database history",
			"run", d.queue[0].ID, "queued", len(d.queue))
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.dropped.Inc()
	}
	d.queue = append(d.queue, run)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return nil
}

// Pending returns the number of queued runs.
func (d *Durable) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.queue)
}

// Flushed returns a channel closed when the queue is next empty (at once if it is).
func (d *Durable) Flushed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.queue) == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return d.flushed
}

// Start writes queued runs until ctx ends; then it makes one last attempt to flush within
// drain. It returns when done.
func (d *Durable) Start(ctx context.Context, drain time.Duration) {
	backoff := time.Duration(0)
	prepared := false
	nextRetention := time.Now()
	for {
		if !prepared {
			if err := d.db.Prepare(ctx); err != nil {
				d.errors.Inc()
				backoff = next(backoff)
				d.log.Warn("database unavailable, results are buffered", "err", err, "retry_in", backoff, "queued", d.Pending())
				if !sleep(ctx, backoff) {
					break
				}
				continue
			}
			prepared, backoff = true, 0
		}
		if d.retention > 0 && time.Now().After(nextRetention) {
			if n, err := d.db.DeleteBefore(ctx, time.Now().Add(-d.retention)); err == nil {
				d.retained.Add(float64(n))
				nextRetention = time.Now().Add(time.Hour)
				if n > 0 {
					d.log.Info("retention deleted old runs", "runs", n)
				}
			}
		}
		if err := d.flush(ctx); err != nil {
			d.errors.Inc()
			backoff = next(backoff)
			d.log.Warn("database write failed, results are buffered", "err", err, "retry_in", backoff, "queued", d.Pending())
			if !sleep(ctx, backoff) {
				break
			}
			continue
		}
		backoff = 0
		select {
		case <-ctx.Done():
		case <-d.wake:
			continue
		case <-time.After(time.Minute): // for retention
			continue
		}
		break
	}
	if d.Pending() > 0 && drain > 0 {
		dctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		if err := d.flush(dctx); err != nil {
			d.log.Error("could not write buffered runs before exit", "err", err, "lost", d.Pending())
		}
	}
}

// flush writes the queue in order; a run leaves the queue only once written.
func (d *Durable) flush(ctx context.Context) error {
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			close(d.flushed)
			d.flushed = make(chan struct{})
			d.mu.Unlock()
			return nil
		}
		run := d.queue[0]
		d.mu.Unlock()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := d.db.Save(wctx, run)
		cancel()
		if err != nil {
			return err
		}
		d.written.Inc()
		d.mu.Lock()
		// The queue may have been cut from the front while we wrote; drop run only if still there.
		if len(d.queue) > 0 && d.queue[0] == run {
			d.queue[0] = nil
			d.queue = d.queue[1:]
		}
		d.mu.Unlock()
	}
}

// Runs implements Store.
func (d *Durable) Runs(ctx context.Context, limit int) ([]report.Run, error) {
	if r, err := d.db.Runs(ctx, limit); err == nil {
		return r, nil
	} else {
		d.log.Debug("reading runs from memory", "err", err)
	}
	return d.mem.Runs(ctx, limit)
}

// Run implements Store.
func (d *Durable) Run(ctx context.Context, id string) (*report.Run, error) {
	r, err := d.db.Run(ctx, id)
	if err == nil {
		return r, nil
	}
	// Not found in the database may just mean not written yet.
	return d.mem.Run(ctx, id)
}

// SpecHistory implements Store.
func (d *Durable) SpecHistory(ctx context.Context, name string, limit int) ([]report.Spec, error) {
	if s, err := d.db.SpecHistory(ctx, name, limit); err == nil {
		return s, nil
	}
	return d.mem.SpecHistory(ctx, name, limit)
}

// Flaky implements Store.
func (d *Durable) Flaky(ctx context.Context, runs int) ([]Flaky, error) {
	if f, err := d.db.Flaky(ctx, runs); err == nil {
		return f, nil
	}
	return d.mem.Flaky(ctx, runs)
}

func next(b time.Duration) time.Duration {
	switch {
	case b == 0:
		return 250 * time.Millisecond
	case b >= 15*time.Second:
		return 30 * time.Second
	}
	return 2 * b
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
