// Package suitetest compiles the tiny Ginkgo suites under runtime/testdata/suites for the
// runtime's tests and benchmarks, once per test process.
package suitetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wattson-dev/wattson/internal/procs"
)

var (
	mu    sync.Mutex
	dir   string
	built = map[string]string{}
)

// Binary returns the path of the compiled suite runtime/testdata/suites/name, building it with
// `go test -c` on first use in this process.
func Binary(t testing.TB, name string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[name]; ok {
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
	out := filepath.Join(dir, name+".test")
	cmd := exec.Command("go", "test", "-c", "-o", out, "./runtime/testdata/suites/"+name)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build suite %s: %v\n%s", name, err, b)
	}
	built[name] = out
	return out
}

// Cleanup removes the compiled suites; call it from TestMain after m.Run.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
	dir, built = "", map[string]string{}
}

// Module copies the sample suite name into a new module outside the repository (same
// requirements, so the module cache serves it, offline) and returns its folder: a place where
// tests can edit spec sources and rebuild, as in dev mode.
func Module(t testing.TB, name string) string {
	t.Helper()
	root, err := procs.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	gomod = []byte(strings.Replace(string(gomod), "module github.com/wattson-dev/wattson", "module example.com/devsuite", 1))
	files := map[string][]byte{"go.mod": gomod}
	if files["go.sum"], err = os.ReadFile(filepath.Join(root, "go.sum")); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "runtime/testdata/suites", name)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if files[e.Name()], err = os.ReadFile(filepath.Join(src, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Edit replaces the first old in file path by new, failing the test if old is not there.
func Edit(t testing.TB, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%q not in %s", old, path)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
