package fleet

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattson-dev/wattson/runtime/internal/metrics"
	"github.com/wattson-dev/wattson/runtime/internal/store"
)

// consecutiveWindow is how many recent complete runs consecutive failures are counted over.
const consecutiveWindow = 100

// viewTTL is how long a view read from the database serves scrapes.
const viewTTL = 2 * time.Second

// Exporter decides which replica exports the result gauges (the holder of a session advisory
// lock per suite: when it dies its session ends and another replica takes the lock within a
// lease/3) and reads the fleet's view of the suite for every replica's metrics.
type Exporter struct {
	Pool  *pgxpool.Pool
	Suite string
	Every time.Duration

	mu     sync.Mutex
	leader bool
	view   metrics.Shared
	ok     bool
	at     time.Time
}

func (e *Exporter) key() int64 {
	h := fnv.New64a()
	h.Write([]byte("wattson-runtime-exporter/" + e.Suite))
	return int64(h.Sum64())
}

// Run tries for the lock until ctx ends, and holds it on one connection while it has it.
func (e *Exporter) Run(ctx context.Context) {
	for ctx.Err() == nil {
		_ = e.hold(ctx)
		e.setLeader(false)
		sleepCtx(ctx, e.Every)
	}
}

func (e *Exporter) hold(ctx context.Context) error {
	conn, err := e.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	for ctx.Err() == nil {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", e.key()).Scan(&got); err != nil {
			conn.Conn().Close(context.Background()) //nolint:errcheck // drop a broken session (and the lock)
			return err
		}
		if got {
			e.setLeader(true)
			// Keep the session (and so the lock) alive; a failed ping means we lost it.
			for ctx.Err() == nil {
				sleepCtx(ctx, e.Every)
				if err := conn.Ping(ctx); err != nil {
					conn.Conn().Close(context.Background()) //nolint:errcheck
					return err
				}
			}
			_, _ = conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", e.key())
			return nil
		}
		sleepCtx(ctx, e.Every)
	}
	return nil
}

func (e *Exporter) setLeader(b bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.leader = b
}

// Leader reports whether this replica exports the result gauges.
func (e *Exporter) Leader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader
}

// View is metrics.Metrics.SetShared's function: the suite's state from the shared history.
func (e *Exporter) View() (metrics.Shared, bool) {
	e.mu.Lock()
	if time.Since(e.at) < viewTTL {
		v, ok := e.view, e.ok
		v.Leader = e.leader
		e.mu.Unlock()
		return v, ok
	}
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, err := e.read(ctx)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.view, e.ok, e.at = v, err == nil, time.Now()
	v.Leader = e.leader
	return v, err == nil
}

func (e *Exporter) read(ctx context.Context) (metrics.Shared, error) {
	var v metrics.Shared
	var durMs int64
	err := e.Pool.QueryRow(ctx, `SELECT finished_at, duration_ms FROM runs WHERE suite = $1
		ORDER BY started_at DESC LIMIT 1`, e.Suite).Scan(&v.LastRun, &durMs)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, nil
	}
	if err != nil {
		return v, err
	}
	v.LastDuration = time.Duration(durMs) * time.Millisecond
	var success *time.Time
	if err := e.Pool.QueryRow(ctx, `SELECT max(finished_at) FROM runs WHERE suite = $1 AND result = 'passed'`,
		e.Suite).Scan(&success); err != nil {
		return v, err
	}
	if success != nil {
		v.LastSuccess = *success
	}
	var id string
	err = e.Pool.QueryRow(ctx, `SELECT id, finished_at FROM runs WHERE suite = $1 AND result <> 'error'
		ORDER BY started_at DESC LIMIT 1`, e.Suite).Scan(&id, &v.LastComplete)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, nil
	}
	if err != nil {
		return v, err
	}
	if v.Last, err = store.NewPostgres(e.Pool).Run(ctx, id); err != nil {
		return v, err
	}
	rows, err := e.Pool.Query(ctx, `SELECT s.name, s.state FROM spec_results s
		JOIN (SELECT id, started_at FROM runs WHERE suite = $1 AND result <> 'error'
		      ORDER BY started_at DESC LIMIT $2) r ON r.id = s.run_id
		WHERE s.state NOT IN ('skipped', 'pending')
		ORDER BY r.started_at DESC, s.position`, e.Suite, consecutiveWindow)
	if err != nil {
		return v, err
	}
	defer rows.Close()
	v.Consecutive = map[string]int{}
	stopped := map[string]bool{}
	for rows.Next() {
		var name, state string
		if err := rows.Scan(&name, &state); err != nil {
			return v, err
		}
		if stopped[name] {
			continue
		}
		switch state {
		case "failed", "panicked", "timedout", "interrupted", "aborted":
			v.Consecutive[name]++
		default:
			stopped[name] = true
		}
	}
	return v, rows.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
