// Package procs starts and stops the real third-party processes Wattson is tested and demonstrated
// against (Prometheus, Alertmanager, snmp_exporter, PostgreSQL) on free loopback ports.
//
// It knows nothing about testing: internal/testenv wraps it for tests (skip or fail when a binary is
// missing, cleanup at the end of a test), and the demo uses it directly.
package procs
