package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/store"
)

// channel is the LISTEN/NOTIFY channel of the fleet.
const channel = "wattson_runtime_fleet"

// maxReason bounds the reasons (triggers) a run records.
const maxReason = 1000

// Fleet is one replica's share of the work on one suite.
type Fleet struct {
	Pool *pgxpool.Pool
	// Suite names the queue: the replicas of one suite share it.
	Suite string
	// Replica identifies this replica (its pod name) in claims and in the history.
	Replica string
	// Interval is the pause between the end of a run and the next scheduled one.
	Interval time.Duration
	// Lease is how long a claim lasts unless renewed (every Lease/3 while the suite runs); a
	// killed replica's run is taken over at most Lease after its last renewal.
	Lease time.Duration
	// Debounce is how soon a trigger's run starts; triggers and the timer meanwhile are served
	// by that one run.
	Debounce time.Duration
	// Exec runs the suite once.
	Exec func(ctx context.Context) *report.Run
	// Record receives every run this replica recorded (metrics, memory, logs).
	Record func(*report.Run)
	// Alone records a run made while the database was unreachable (through the durable
	// queue and its journal, written when the database is back), after Record.
	Alone  func(*report.Run)
	Logger *slog.Logger

	mu      sync.Mutex
	wake    chan struct{}
	waiters map[int64][]chan *report.Run // by the slot that serves them
	done    int64                        // highest slot known done
	once    sync.Once
}

func (f *Fleet) init() {
	f.once.Do(func() {
		f.wake = make(chan struct{}, 1)
		f.waiters = map[int64][]chan *report.Run{}
		if f.Logger == nil {
			f.Logger = slog.Default()
		}
	})
}

func (f *Fleet) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run works on the suite's queue until ctx ends. The schema must have been applied.
func (f *Fleet) Run(ctx context.Context) {
	f.init()
	go f.listen(ctx)
	reached := time.Now()
	for ctx.Err() == nil {
		err := f.ensure(ctx)
		var job *job
		var wait time.Duration
		if err == nil {
			job, wait, err = f.claim(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if time.Since(reached) < f.Lease {
				f.Logger.Warn("fleet: queue unavailable", "err", err)
				f.sleep(ctx, f.Lease/3)
				continue
			}
			// The database has been unreachable for a lease: nothing can be shared, but the
			// system must still be checked. Run alone, as without PostgreSQL, until it is back.
			f.Logger.Warn("fleet: database unreachable for a lease: running the suite alone until it is back", "err", err)
			f.alone(ctx)
			continue
		}
		reached = time.Now()
		if job == nil {
			f.sleep(ctx, wait)
			continue
		}
		f.work(ctx, job)
	}
}

// sleep waits d, a notification, or the end of ctx; at most a lease, so that an expired claim
// of a replica that died without a word is seen.
func (f *Fleet) sleep(ctx context.Context, d time.Duration) {
	d = min(max(d, 10*time.Millisecond), f.Lease)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-f.wake:
	}
}

// ensure opens the suite's queue with a first run due now, if it has no open row.
func (f *Fleet) ensure(ctx context.Context) error {
	_, err := f.Pool.Exec(ctx, `INSERT INTO fleet_jobs (suite, slot, due_at, reason, state)
		SELECT $1, COALESCE((SELECT max(slot) FROM fleet_jobs WHERE suite = $1), 0) + 1, now(), 'start', 'queued'
		WHERE NOT EXISTS (SELECT 1 FROM fleet_jobs WHERE suite = $1 AND state <> 'done')
		ON CONFLICT DO NOTHING`, f.Suite)
	return err
}

type job struct {
	slot    int64
	reason  string
	attempt int
}

// claim takes the open row if it is due (or its lease has expired); otherwise it says how long
// to wait.
func (f *Fleet) claim(ctx context.Context) (*job, time.Duration, error) {
	tx, err := f.Pool.Begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var (
		j     job
		state string
		until time.Duration // till due or till the lease expires
	)
	err = tx.QueryRow(ctx, `SELECT slot, reason, state, attempts,
			EXTRACT(EPOCH FROM (CASE WHEN state = 'queued' THEN due_at ELSE lease_until END) - now())::float8
		FROM fleet_jobs WHERE suite = $1 AND state <> 'done'
		FOR UPDATE SKIP LOCKED`, f.Suite).Scan(&j.slot, &j.reason, &state, &j.attempt, secs{&until})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, f.Lease / 3, nil // another replica is claiming or completing it
	}
	if err != nil {
		return nil, 0, err
	}
	if until > 0 {
		return nil, until, nil
	}
	if state == "running" {
		f.Logger.Warn("fleet: taking over a run whose replica stopped renewing its lease", "slot", j.slot, "attempt", j.attempt+1)
	}
	if _, err := tx.Exec(ctx, `UPDATE fleet_jobs SET state = 'running', claimed_by = $3,
			lease_until = now() + $4 * interval '1 millisecond', attempts = attempts + 1
		WHERE suite = $1 AND slot = $2`, f.Suite, j.slot, f.Replica, f.Lease.Milliseconds()); err != nil {
		return nil, 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, 0, err
	}
	j.attempt++
	return &j, 0, nil
}

// work runs a claimed job, renewing the lease, and completes it.
func (f *Fleet) work(ctx context.Context, j *job) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hbctx, stopHeartbeat := context.WithCancel(rctx)
	lost := make(chan struct{})
	hbDone := make(chan struct{})
	go func() { // heartbeat
		defer close(hbDone)
		t := time.NewTicker(f.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-hbctx.Done():
				return
			case <-t.C:
			}
			tag, err := f.Pool.Exec(hbctx, `UPDATE fleet_jobs SET lease_until = now() + $4 * interval '1 millisecond'
				WHERE suite = $1 AND slot = $2 AND claimed_by = $3 AND state = 'running'`,
				f.Suite, j.slot, f.Replica, f.Lease.Milliseconds())
			if err == nil && tag.RowsAffected() == 0 {
				f.Logger.Warn("fleet: lost the claim on a run (lease expired): abandoning it", "slot", j.slot)
				close(lost)
				cancel()
				return
			}
		}
	}()
	run := f.Exec(rctx)
	stopHeartbeat()
	<-hbDone
	select {
	case <-lost:
		return
	default:
	}
	if ctx.Err() != nil && !run.Result.Complete() {
		f.release(j) // stopping: the run was cut short; another replica reruns it at once
		return
	}
	run.Trigger = j.reason
	run.Replica = f.Replica
	ok, err := f.complete(context.WithoutCancel(ctx), j, run)
	if err != nil {
		// Not lost: it goes through the durable queue; the slot is run again by the fleet.
		f.Logger.Error("fleet: could not record the run in the queue's transaction: queued alone; the fleet reruns its slot", "slot", j.slot, "run", run.ID, "err", err)
		f.recordAlone(run)
		return
	}
	if !ok {
		f.Logger.Warn("fleet: lost the claim before recording: another replica reran it, result discarded", "slot", j.slot, "run", run.ID)
		return
	}
	if f.Record != nil {
		f.Record(run)
	}
	f.served(j.slot, run)
}

// alone makes one run without the fleet, then waits an interval (or a notification: the
// database is back).
func (f *Fleet) alone(ctx context.Context) {
	run := f.Exec(ctx)
	if ctx.Err() != nil && !run.Result.Complete() {
		return
	}
	run.Trigger = "interval (database unreachable: run alone)"
	run.Replica = f.Replica
	f.recordAlone(run)
	f.sleep(ctx, f.Interval)
}

func (f *Fleet) recordAlone(run *report.Run) {
	if f.Record != nil {
		f.Record(run)
	}
	if f.Alone != nil {
		f.Alone(run)
	}
}

// release gives a claimed run back to the queue, due now, when this replica stops.
func (f *Fleet) release(j *job) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := f.Pool.Exec(ctx, `UPDATE fleet_jobs SET state = 'queued', claimed_by = '', lease_until = NULL, due_at = now()
		WHERE suite = $1 AND slot = $2 AND claimed_by = $3 AND state = 'running'`, f.Suite, j.slot, f.Replica); err != nil {
		f.Logger.Warn("fleet: could not release the run; another replica reruns it when the lease expires", "slot", j.slot, "err", err)
		return
	}
	_, _ = f.Pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, notice("trigger", f.Suite, j.slot, ""))
	f.Logger.Info("fleet: stopping: released the run in progress to the other replicas", "slot", j.slot)
}

// complete records run and opens the next row, in one transaction, if the claim still holds.
func (f *Fleet) complete(ctx context.Context, j *job, run *report.Run) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tx, err := f.Pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var rerun bool
	var rerunReason string
	err = tx.QueryRow(ctx, `SELECT rerun_requested, rerun_reason FROM fleet_jobs
		WHERE suite = $1 AND slot = $2 AND claimed_by = $3 AND state = 'running' FOR UPDATE`,
		f.Suite, j.slot, f.Replica).Scan(&rerun, &rerunReason)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := store.NewPostgres(tx).Save(ctx, run); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `UPDATE fleet_jobs SET state = 'done', run_id = $3, lease_until = NULL
		WHERE suite = $1 AND slot = $2`, f.Suite, j.slot, run.ID); err != nil {
		return false, err
	}
	next, reason := f.Interval, "interval"
	if rerun {
		next, reason = f.Debounce, rerunReason
	}
	if _, err := tx.Exec(ctx, `INSERT INTO fleet_jobs (suite, slot, due_at, reason, state)
		VALUES ($1, $2, now() + $3 * interval '1 millisecond', $4, 'queued')`,
		f.Suite, j.slot+1, next.Milliseconds(), reason); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channel, notice("done", f.Suite, j.slot, run.ID)); err != nil {
		return false, err
	}
	return true, tx.Commit(ctx)
}

// Trigger asks for a run that starts after this call (debounced, coalesced with the timer and
// other triggers) and returns a channel that receives it, from whichever replica runs it.
func (f *Fleet) Trigger(reason string) <-chan *report.Run {
	f.init()
	c := make(chan *report.Run, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slot, err := f.trigger(ctx, reason)
	if err != nil {
		f.Logger.Error("fleet: trigger failed", "reason", reason, "err", err)
		close(c)
		return c
	}
	f.mu.Lock()
	if slot <= f.done {
		f.mu.Unlock()
		go f.deliver(slot, c)
		return c
	}
	f.waiters[slot] = append(f.waiters[slot], c)
	f.mu.Unlock()
	return c
}

// trigger pulls the queued run forward to now+debounce, or asks the running one for a rerun;
// it returns the slot that serves the trigger.
func (f *Fleet) trigger(ctx context.Context, reason string) (int64, error) {
	if err := f.ensure(ctx); err != nil {
		return 0, err
	}
	tx, err := f.Pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var slot int64
	var state string
	if err := tx.QueryRow(ctx, `SELECT slot, state FROM fleet_jobs WHERE suite = $1 AND state <> 'done' FOR UPDATE`,
		f.Suite).Scan(&slot, &state); err != nil {
		return 0, err
	}
	if state == "queued" {
		// A run due within the debounce anyway (the timer) serves the trigger as it is, and
		// names both.
		_, err = tx.Exec(ctx, `UPDATE fleet_jobs SET
				reason = CASE WHEN due_at > now() + $3 * interval '1 millisecond' AND reason = 'interval' THEN $4
				              ELSE `+appendReason("reason", "$4")+` END,
				due_at = LEAST(due_at, now() + $3 * interval '1 millisecond')
			WHERE suite = $1 AND slot = $2`, f.Suite, slot, f.Debounce.Milliseconds(), reason)
	} else {
		_, err = tx.Exec(ctx, `UPDATE fleet_jobs SET rerun_requested = true,
				rerun_reason = CASE WHEN rerun_reason = '' THEN $3 ELSE `+appendReason("rerun_reason", "$3")+` END
			WHERE suite = $1 AND slot = $2`, f.Suite, slot, reason)
		slot++
	}
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channel, notice("trigger", f.Suite, slot, "")); err != nil {
		return 0, err
	}
	return slot, tx.Commit(ctx)
}

// appendReason is SQL that adds param to column (bounded, once).
func appendReason(column, param string) string {
	return `CASE WHEN position(` + param + `::text in ` + column + `) > 0 OR length(` + column + `) > ` + strconv.Itoa(maxReason) +
		` THEN ` + column + ` ELSE ` + column + ` || '; ' || ` + param + `::text END`
}

// served hands run to the waiters of its slot and of every earlier one.
func (f *Fleet) served(slot int64, run *report.Run) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = max(f.done, slot)
	for s, ws := range f.waiters {
		if s <= slot {
			for _, c := range ws {
				c <- run
			}
			delete(f.waiters, s)
		}
	}
}

// deliver reads the run that served slot from the history and hands it to c.
func (f *Fleet) deliver(slot int64, c chan *report.Run) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var id string
	if err := f.Pool.QueryRow(ctx, `SELECT run_id FROM fleet_jobs WHERE suite = $1 AND slot = $2 AND state = 'done'`,
		f.Suite, slot).Scan(&id); err != nil {
		f.Logger.Warn("fleet: finished run not found", "slot", slot, "err", err)
		close(c)
		return
	}
	run, err := store.NewPostgres(f.Pool).Run(ctx, id)
	if err != nil {
		f.Logger.Warn("fleet: finished run not readable", "run", id, "err", err)
		close(c)
		return
	}
	c <- run
}

// listen keeps a LISTEN connection and wakes the worker and the waiters on every notice.
func (f *Fleet) listen(ctx context.Context) {
	for ctx.Err() == nil {
		if err := f.listenOnce(ctx); err != nil && ctx.Err() == nil {
			f.Logger.Debug("fleet: listen connection lost", "err", err)
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

func (f *Fleet) listenOnce(ctx context.Context) error {
	conn, err := f.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "UNLISTEN "+channel) }()
	f.poke() // anything missed while not listening
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		kind, suite, slot, _ := parseNotice(n.Payload)
		if suite != f.Suite {
			continue
		}
		f.poke()
		if kind == "done" {
			f.mu.Lock()
			f.done = max(f.done, slot)
			var ready []chan *report.Run
			var slots []int64
			for s, ws := range f.waiters {
				if s <= slot {
					for _, c := range ws {
						ready = append(ready, c)
						slots = append(slots, s)
					}
					delete(f.waiters, s)
				}
			}
			f.mu.Unlock()
			for i, c := range ready {
				go f.deliver(slots[i], c)
			}
		}
	}
}

func notice(kind, suite string, slot int64, run string) string {
	return kind + " " + strconv.FormatInt(slot, 10) + " " + run + " " + suite
}

func parseNotice(p string) (kind, suite string, slot int64, run string) {
	parts := strings.SplitN(p, " ", 4)
	if len(parts) != 4 {
		return "", "", 0, ""
	}
	slot, _ = strconv.ParseInt(parts[1], 10, 64)
	return parts[0], parts[3], slot, parts[2]
}

// secs scans an epoch interval in seconds (numeric) into a Duration.
type secs struct{ d *time.Duration }

func (s secs) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.d = 0
	case float64:
		*s.d = time.Duration(v * float64(time.Second))
	case string:
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return err
		}
		*s.d = time.Duration(x * float64(time.Second))
	default:
		return fmt.Errorf("fleet: unexpected %T for a duration", src)
	}
	return nil
}
