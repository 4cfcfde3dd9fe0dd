// Package fleet shares a suite's runs between runtime replicas through PostgreSQL, so that
// every scheduled or triggered run is done exactly once whatever the number of replicas.
//
// The queue is the fleet_jobs table (migrations/0003): at most one open row per suite, the next
// run, with its due time and reason. A replica claims it with SELECT ... FOR UPDATE SKIP LOCKED
// and a lease, which it renews while the suite runs; a replica killed mid-run stops renewing, and
// once the lease has expired another replica claims the row again and reruns it. The replica
// that finishes a run writes its history, closes the row and opens the next one (due an interval
// later, or a debounce later if a trigger arrived during the run) in one transaction, and only if
// it still holds the claim: a run is recorded once or not at all. Replicas wake on LISTEN/NOTIFY
// (a new row, a trigger, a finished run) and sleep until the next due time or lease expiry
// otherwise; nothing polls faster than the lease.
//
// River (github.com/riverqueue/river v0.51.2, which resolves with our go.mod) was evaluated from
// its source and does not fit: its rescuer of
// stuck jobs runs on the leader every 30 s (not configurable) and only after the job's whole
// timeout (so a killed replica's run is taken over after specs.timeout + 30 s, 10 m by default,
// rather than a lease), and its unique jobs must include the running state, so a trigger arriving
// during a run cannot queue the run that must follow it.
package fleet
