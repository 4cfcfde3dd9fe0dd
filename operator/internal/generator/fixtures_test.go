package generator

import (
	"os"
	"path/filepath"
	"testing"
)

// fixturesDir returns ../shared/fixtures relative to the repository root,
// skipping the test when it is absent (failing under CI=true).
func fixturesDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
	fx := filepath.Join(dir, "..", "shared", "fixtures")
	if _, err := os.Stat(filepath.Join(fx, "README.md")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("third-party fixtures missing at %s (required under CI=true)", fx)
		}
		t.Skipf("third-party fixtures not found at %s; skipping", fx)
	}
	return fx
}

// fixtureMIBDirs lists every folder under fixtures/mibs that holds files,
// parents before children (so vendor/apc's patched PowerNet-MIB wins over
// vendor/apc/librenms's copy, as it does for the reference generator).
func fixtureMIBDirs(t testing.TB, fx string) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(filepath.Join(fx, "mibs"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}
