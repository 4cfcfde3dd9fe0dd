package store

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
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
//
// With a Journal the queue is also on disk and replayed at start, so a restart during an outage
// loses nothing. Only when the queue overflows (in runs or journal bytes, a long outage) are the
// oldest queued runs dropped from the database's history: counted in
// wattson_runtime_store_dropped_runs_total and logged. A run the database refuses for good (bad
// data, a limit) is moved aside instead of blocking every later run: counted in
// wattson_runtime_store_failed_runs_total, logged, and kept in the journal's failed/ folder.
type Durable struct {
	db        Writer
	mem       *Memory
	log       *slog.Logger
	max       int
	maxBytes  int64
	retention time.Duration
	journal   *Journal

	mu      sync.Mutex
	queue   []*queued
	wake    chan struct{}
	flushed chan struct{} // closed and replaced whenever the queue empties

	pending  prometheus.GaugeFunc
	dropped  prometheus.Counter
	failed   prometheus.Counter
	errors   prometheus.Counter
	written  prometheus.Counter
	retained prometheus.Counter
	jerrors  prometheus.Counter
}

// queued is a run waiting for the database.
type queued struct {
	run      *report.Run
	file     string // in the journal, "" without one (or when writing it failed)
	size     int64
	attempts int
}

// DurableOptions configure NewDurable.
type DurableOptions struct {
	// Buffer bounds the queue of runs not yet written (DefaultBuffer when <= 0).
	Buffer int
	// Journal, when set, keeps the queue on disk too; its runs are queued again by NewDurable.
	Journal *Journal
	// Replay are the runs read back by OpenJournal, queued (and put in memory) first.
	Replay []JournalRun
	// JournalBytes bounds the journal's size (DefaultJournalBytes when <= 0).
	JournalBytes int64
	// Retention deletes runs older than this from the database (never when 0).
	Retention time.Duration
	Logger    *slog.Logger
	// Registerer receives the wattson_runtime_store_* metrics when set.
	Registerer prometheus.Registerer
}

// DefaultJournalBytes bounds the on-disk journal by default.
const DefaultJournalBytes = 256 << 20

// maxAttempts is how many times a run the database answers with an error (not an outage) is
// tried before it is moved aside.
const maxAttempts = 5

// NewDurable returns a store that writes to db through a buffer and keeps mem as the fallback.
// Call Start to begin writing.
func NewDurable(w Writer, mem *Memory, o DurableOptions) *Durable {
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.JournalBytes <= 0 {
		o.JournalBytes = DefaultJournalBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d := &Durable{
		db: w, mem: mem, log: o.Logger, max: o.Buffer, maxBytes: o.JournalBytes, retention: o.Retention,
		journal: o.Journal, wake: make(chan struct{}, 1), flushed: make(chan struct{}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "wattson_runtime_store_dropped_runs_total",
			Help: "Runs dropped from the database queue because it was full (runs or journal bytes) during an outage; lost from the database history."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "wattson_runtime_store_failed_runs_total",
			Help: "Runs the database refused for good (bad data, a limit), moved aside so that later runs are written; kept in the journal's failed/ folder."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "wattson_runtime_store_write_errors_total",
			Help: "Failed attempts to write to the database (each is retried)."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "wattson_runtime_store_written_runs_total",
			Help: "Runs written to the database."}),
		retained: prometheus.NewCounter(prometheus.CounterOpts{Name: "wattson_runtime_store_deleted_runs_total",
			Help: "Runs deleted from the database by retention."}),
		jerrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "wattson_runtime_store_journal_errors_total",
			Help: "Runs that could not be written to the on-disk journal (queued in memory only)."}),
	}
	d.pending = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wattson_runtime_store_pending_runs",
		Help: "Runs waiting to be written to the database."}, func() float64 { return float64(d.Pending()) })
	if o.Registerer != nil {
		o.Registerer.MustRegister(d.pending, d.dropped, d.failed, d.errors, d.written, d.retained, d.jerrors)
	}
	for _, jr := range o.Replay {
		_ = mem.Save(context.Background(), jr.Run)
		d.queue = append(d.queue, &queued{run: jr.Run, file: jr.File, size: d.journalSize(jr.File)})
	}
	if len(o.Replay) > 0 {
		d.log.Info("replaying runs journalled before the last exit", "runs", len(o.Replay))
		d.trim()
	}
	return d
}

func (d *Durable) journalSize(name string) int64 {
	if d.journal == nil {
		return 0
	}
	d.journal.mu.Lock()
	defer d.journal.mu.Unlock()
	return d.journal.sizes[name]
}

// Save implements Store. It never blocks on the database (it writes the journal file, if any).
func (d *Durable) Save(ctx context.Context, run *report.Run) error {
	_ = d.mem.Save(ctx, run)
	d.Enqueue(run)
	return nil
}

// Enqueue queues run for the database (and the journal) without keeping it in memory: for a run
// Remember already kept.
func (d *Durable) Enqueue(run *report.Run) {
	q := &queued{run: run}
	if d.journal != nil {
		name, size, err := d.journal.Add(run)
		if err != nil {
			d.jerrors.Inc()
			d.log.Error("journal write failed: run queued in memory only", "run", run.ID, "err", err)
		}
		q.file, q.size = name, size
	}
	d.mu.Lock()
	d.queue = append(d.queue, q)
	d.trim()
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// trim drops the oldest queued runs while the queue is over its bounds. d.mu is held (or d is
// not shared yet). The head is kept while it may be being written: flush checks it is still there.
func (d *Durable) trim() {
	for len(d.queue) > 1 && (len(d.queue) > d.max || d.queuedBytes() > d.maxBytes) {
		old := d.queue[0]
		d.log.Warn("database queue full: dropping oldest queued run from the database history",
			"run", old.run.ID, "queued", len(d.queue), "journal_bytes", d.queuedBytes())
		d.forget(old, false)
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.dropped.Inc()
	}
}

func (d *Durable) queuedBytes() int64 {
	var n int64
	for _, q := range d.queue {
		n += q.size
	}
	return n
}

// forget removes a queued run's journal file (moving it to failed/ when failed).
func (d *Durable) forget(q *queued, failed bool) {
	if d.journal == nil || q.file == "" {
		return
	}
	var err error
	if failed {
		err = d.journal.Fail(q.file)
	} else {
		err = d.journal.Remove(q.file)
	}
	if err != nil {
		d.log.Warn("journal cleanup failed", "run", q.run.ID, "err", err)
	}
}

// Pool returns the database connection pool of a Durable on Postgres (nil otherwise).
func (d *Durable) Pool() *pgxpool.Pool {
	if p, ok := d.db.(*Postgres); ok {
		if pool, ok := p.conn.(*pgxpool.Pool); ok {
			return pool
		}
	}
	return nil
}

// Remember keeps run in the memory store only (it was written to the database elsewhere).
func (d *Durable) Remember(run *report.Run) { _ = d.mem.Save(context.Background(), run) }

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
// drain. It returns when done. What is still queued then stays in the journal, if any.
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
			if d.journal != nil {
				d.log.Warn("buffered runs not written before exit: kept in the journal for the next start", "err", err, "queued", d.Pending())
			} else {
				d.log.Error("could not write buffered runs before exit", "err", err, "lost", d.Pending())
			}
		}
	}
}

// flush writes the queue in order; a run leaves the queue once written, or once the database
// has refused it for good.
func (d *Durable) flush(ctx context.Context) error {
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			close(d.flushed)
			d.flushed = make(chan struct{})
			d.mu.Unlock()
			return nil
		}
		q := d.queue[0]
		d.mu.Unlock()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := d.db.Save(wctx, q.run)
		cancel()
		failed := false
		if err != nil {
			if ctx.Err() != nil || !Refused(err) {
				return err
			}
			q.attempts++
			if !Permanent(err) && q.attempts < maxAttempts {
				return err
			}
			failed = true
			d.failed.Inc()
			d.log.Error("database refused a run for good: moved aside, later runs go on", "run", q.run.ID,
				"attempts", q.attempts, "err", err)
		} else {
			d.written.Inc()
		}
		d.mu.Lock()
		// The queue may have been cut from the front while we wrote; drop q only if still there.
		if len(d.queue) > 0 && d.queue[0] == q {
			d.queue[0] = nil
			d.queue = d.queue[1:]
			d.forget(q, failed)
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
