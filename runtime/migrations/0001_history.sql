-- Run history: one row per run of the suite, one per spec result.
CREATE TABLE runs (
    id          text PRIMARY KEY,
    suite       text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    duration_ms bigint NOT NULL,
    result      text NOT NULL CHECK (result IN ('passed', 'failed', 'error')),
    error       text NOT NULL DEFAULT '',
    trigger     text NOT NULL DEFAULT '',
    passed      integer NOT NULL,
    failed      integer NOT NULL,
    skipped     integer NOT NULL,
    pending     integer NOT NULL,
    files       integer NOT NULL,
    output      text NOT NULL DEFAULT '',
    report      jsonb
);

CREATE INDEX runs_started_at ON runs (started_at DESC);

CREATE TABLE spec_results (
    run_id      text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    suite       text NOT NULL,
    name        text NOT NULL,
    labels      text[] NOT NULL DEFAULT '{}',
    state       text NOT NULL,
    duration_ms bigint NOT NULL,
    message     text NOT NULL DEFAULT '',
    location    text NOT NULL DEFAULT '',
    output      text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL,
    PRIMARY KEY (run_id, position)
);

CREATE INDEX spec_results_name ON spec_results (suite, name, started_at DESC);
