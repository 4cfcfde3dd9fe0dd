// Package testenv starts real components for tests: kube-apiserver and etcd (through envtest),
// PostgreSQL, Prometheus, Alertmanager and snmp_exporter, each on free loopback ports and stopped
// when the test ends.
//
// A missing binary skips the test with the command that builds it, except under CI=true, where it
// fails: CI must never pass by skipping the real thing.
package testenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/internal/procs"
)

// StartTimeout bounds how long a component may take to become ready.
const StartTimeout = 60 * time.Second

// InCI reports whether the tests run under CI (CI=true), where nothing may be skipped for a missing
// component.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable skips the test, or fails it under CI, because a real component is missing.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if InCI() {
		t.Fatalf("required component unavailable under CI=true: %v", err)
	}
	t.Skipf("skipping: %v", err)
}

// Binary returns the path of bin/name, or skips (fails under CI) with how to build it.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p, err := procs.Binary(name)
	if err != nil {
		Unavailable(t, err)
	}
	return p
}

// Fixtures returns the path of the shared third-party fixtures (../shared/fixtures from the repo
// root, or $WATTSON_FIXTURES), skipping (failing under CI) when they are absent.
func Fixtures(t testing.TB, elem ...string) string {
	t.Helper()
	dir := os.Getenv("WATTSON_FIXTURES")
	if dir == "" {
		root, err := procs.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "..", "shared", "fixtures")
	}
	p := filepath.Join(append([]string{dir}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		Unavailable(t, errors.New("third-party fixtures not found at "+p+" (they live in ../shared/fixtures beside the clone)"))
	}
	return p
}

func start(t testing.TB, what string, fn func(ctx context.Context) (*procs.Server, error)) *procs.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	s, err := fn(ctx)
	if errors.Is(err, procs.ErrMissingBinary) {
		Unavailable(t, err)
	}
	if err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output (last lines):\n%s", what, s.Tail(40))
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stop %s: %v", what, err)
		}
	})
	return s
}

// Postgres starts a throwaway PostgreSQL server; its URL is a DSN.
func Postgres(t testing.TB) *procs.Server {
	return start(t, "postgres", func(ctx context.Context) (*procs.Server, error) {
		return procs.StartPostgres(ctx, procs.Options{})
	})
}

// Prometheus starts Prometheus on the given config and extra files (e.g. rule files).
func Prometheus(t testing.TB, config string, files map[string]string) *procs.Server {
	return start(t, "prometheus", func(ctx context.Context) (*procs.Server, error) {
		return procs.StartPrometheus(ctx, config, files, procs.Options{})
	})
}

// VictoriaMetrics starts VictoriaMetrics single-node from bin/victoria-metrics on a free loopback
// port, or skips (fails under CI) when it is not built.
func VictoriaMetrics(t testing.TB) *procs.Server {
	t.Helper()
	Binary(t, "victoria-metrics")
	return start(t, "VictoriaMetrics", func(ctx context.Context) (*procs.Server, error) {
		return procs.StartVictoriaMetrics(ctx, procs.Options{})
	})
}

// Alertmanager starts Alertmanager on the given config.
func Alertmanager(t testing.TB, config string) *procs.Server {
	return start(t, "alertmanager", func(ctx context.Context) (*procs.Server, error) {
		return procs.StartAlertmanager(ctx, config, procs.Options{})
	})
}

// SNMPExporter starts snmp_exporter on the given snmp.yml contents.
func SNMPExporter(t testing.TB, config string, args ...string) *procs.Server {
	return start(t, "snmp_exporter", func(ctx context.Context) (*procs.Server, error) {
		return procs.StartSNMPExporter(ctx, config, procs.Options{Args: args})
	})
}
