package suitetest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
)

// Runtime returns the path of the wattson-runtime binary built from this tree (once per test
// process), for tests that need real processes: SIGTERM, SIGKILL, several replicas.
func Runtime(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built["wattson-runtime"]; ok {
		return p
	}
	root, err := procs.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "wattson-suites-"); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "wattson-runtime")
	cmd := exec.Command("go", "build", "-o", out, "./runtime")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build wattson-runtime: %v\n%s", err, b)
	}
	built["wattson-runtime"] = out
	return out
}

// Postgres is a real PostgreSQL that a test can stop (an outage) and start again on the same
// address and data.
type Postgres struct {
	t    testing.TB
	addr string
	dir  string
	srv  *procs.Server
	URL  string
}

// RestartablePostgres starts PostgreSQL in a fresh folder on a free loopback port.
func RestartablePostgres(t testing.TB) *Postgres {
	t.Helper()
	if _, err := procs.PostgresBinDir(); err != nil {
		testenv.Unavailable(t, err)
	}
	addr, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is private, and postgres may run as another user.
	parent, err := os.MkdirTemp("", "wattson-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &Postgres{t: t, addr: addr, dir: filepath.Join(parent, "pg")}
	p.Start()
	t.Cleanup(func() {
		if p.srv != nil {
			_ = p.srv.Stop()
		}
	})
	return p
}

// Start starts the server (again).
func (p *Postgres) Start() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.StartTimeout)
	defer cancel()
	s, err := procs.StartPostgres(ctx, procs.Options{Addr: p.addr, Dir: p.dir})
	if err != nil {
		p.t.Fatal(err)
	}
	p.srv, p.URL = s, s.URL
}

// Stop stops the server with a fast shutdown (SIGINT), which ends it even with clients
// connected; the data stays for Start.
func (p *Postgres) Stop() {
	p.t.Helper()
	_ = syscall.Kill(p.srv.Pid(), syscall.SIGINT)
	select {
	case <-p.srv.Done():
	case <-time.After(30 * time.Second):
		p.t.Fatal("postgres did not stop")
	}
	p.srv = nil
}
