// Package migrations embeds the PostgreSQL schema of the run history as zero-padded
// NNNN_name.sql files; sqlc reads the same files as its schema.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
