-- The fleet's work queue: one row per scheduled or triggered run of a suite, claimed by exactly
-- one runtime replica (SELECT ... FOR UPDATE SKIP LOCKED) under a lease it renews while the run
-- lasts. At most one row per suite is open (queued or running); the replica that completes it
-- inserts the next, in the same transaction as the run's history.
CREATE TABLE fleet_jobs (
    suite           text NOT NULL,
    slot            bigint NOT NULL,
    due_at          timestamptz NOT NULL,
    reason          text NOT NULL,
    state           text NOT NULL CHECK (state IN ('queued', 'running', 'done')),
    claimed_by      text NOT NULL DEFAULT '',
    lease_until     timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    rerun_requested boolean NOT NULL DEFAULT false,
    rerun_reason    text NOT NULL DEFAULT '',
    run_id          text NOT NULL DEFAULT '',
    PRIMARY KEY (suite, slot)
);

CREATE UNIQUE INDEX fleet_jobs_one_open ON fleet_jobs (suite) WHERE state <> 'done';
