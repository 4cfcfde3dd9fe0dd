package store

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// Refused reports whether err is the database answering no (an SQL error), as opposed to the
// database being unreachable: only a refusal can be the run's own fault.
func Refused(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe)
}

// Permanent reports whether err is a refusal that retrying the same run cannot cure: bad data
// (class 22, e.g. invalid UTF-8 or NUL), an integrity violation (23) or a limit (54, e.g. a value
// too large).
func Permanent(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}
