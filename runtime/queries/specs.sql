-- name: InsertSpecResult :exec
INSERT INTO spec_results (run_id, position, suite, name, labels, state, duration_ms, message,
                          location, output, started_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (run_id, position) DO NOTHING;

-- name: ListRunSpecs :many
SELECT run_id, position, suite, name, labels, state, duration_ms, message, location, output, started_at
FROM spec_results
WHERE run_id = $1
ORDER BY position;

-- name: SpecHistory :many
SELECT run_id, position, suite, name, labels, state, duration_ms, message, location, output, started_at
FROM spec_results
WHERE name = $1
ORDER BY started_at DESC
LIMIT $2;

-- name: RecentSpecStates :many
-- The states of every spec that ran in the most recent runs, oldest first, for flaky detection.
SELECT s.suite, s.name, s.state, s.started_at
FROM spec_results s
JOIN (SELECT id FROM runs WHERE result <> 'error' ORDER BY started_at DESC LIMIT $1) r ON r.id = s.run_id
WHERE s.state NOT IN ('skipped', 'pending')
ORDER BY s.suite, s.name, s.started_at;
