-- name: InsertRun :execrows
-- ON CONFLICT makes a retried write (after a lost connection) harmless.
INSERT INTO runs (id, suite, started_at, finished_at, duration_ms, result, error, trigger,
                  passed, failed, skipped, pending, files, output, report, revision, replica)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
ON CONFLICT (id) DO NOTHING;

-- name: ListRuns :many
SELECT id, suite, started_at, finished_at, duration_ms, result, error, trigger,
       passed, failed, skipped, pending, files, revision, replica
FROM runs
ORDER BY started_at DESC, id DESC
LIMIT $1;

-- name: GetRun :one
SELECT id, suite, started_at, finished_at, duration_ms, result, error, trigger,
       passed, failed, skipped, pending, files, output, revision, replica
FROM runs
WHERE id = $1;

-- name: GetRunReport :one
SELECT report FROM runs WHERE id = $1;

-- name: DeleteRunsBefore :execrows
DELETE FROM runs WHERE started_at < $1;

-- name: CountRuns :one
SELECT count(*) FROM runs;
