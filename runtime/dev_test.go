package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/suitetest"
)

// latestRun returns the newest run whose ID is not prev, or nil.
func latestRun(base, prev string) *report.Run {
	resp, err := http.Get(base + "/api/runs?limit=1")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var runs []report.Run
	if json.NewDecoder(resp.Body).Decode(&runs) != nil || len(runs) == 0 || runs[0].ID == prev {
		return nil
	}
	return &runs[0]
}

func waitNewRun(t testing.TB, base, prev string) *report.Run {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if r := latestRun(base, prev); r != nil {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no new run after %s", prev)
	return nil
}

func startDev(t testing.TB) (base, src string) {
	dir := suitetest.Module(t, "passing")
	base, _ = startRuntime(t, "--dev.watch-dir="+dir, "--dev.package=.", "--dev.poll=50ms",
		"--specs.binary="+filepath.Join(t.TempDir(), "specs.test"), "--specs.interval=1h")
	return base, filepath.Join(dir, "passing_test.go")
}

func TestDevMode(t *testing.T) {
	t.Parallel()
	base, src := startDev(t)
	first := waitNewRun(t, base, "")
	if first.Result != report.Passed || first.Trigger != "start" {
		t.Fatalf("first run %+v", first)
	}
	// An edit that breaks a spec: rebuilt and rerun, and the failure shows.
	suitetest.Edit(t, src, "Equal(2)", "Equal(5)")
	run := waitNewRun(t, base, first.ID)
	if run.Result != report.Failed || run.Trigger != "change" || run.Failed != 1 {
		t.Fatalf("after edit: %+v", run)
	}
	// An edit that does not compile: a harness error with the compiler's output.
	suitetest.Edit(t, src, "Equal(5)", "Equal(5")
	broken := waitNewRun(t, base, run.ID)
	if broken.Result != report.Error || !strings.Contains(broken.Error, "passing_test.go:11") {
		t.Fatalf("after a compile error: %+v", broken)
	}
	// Fixed: green again.
	suitetest.Edit(t, src, "Equal(5", "Equal(2)")
	if fixed := waitNewRun(t, base, broken.ID); fixed.Result != report.Passed {
		t.Fatalf("after the fix: %+v", fixed)
	}
}
