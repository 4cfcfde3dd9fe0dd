package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
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

// TestDevWatchBinary: dev mode for a suite compiled elsewhere. The runtime starts on
// --specs.binary; a truncated binary copied into the watched path never runs; the whole one is
// run at once, with its own result; swapping back (with a digest file) reruns again.
func TestDevWatchBinary(t *testing.T) {
	t.Parallel()
	passing, failing := suitetest.Binary(t, "passing"), suitetest.Binary(t, "failing")
	full, err := os.ReadFile(failing)
	if err != nil {
		t.Fatal(err)
	}
	watched := filepath.Join(t.TempDir(), "specs.test")
	base, logs := startRuntime(t, "--specs.binary="+passing, "--dev.watch-binary="+watched, "--dev.poll=20ms",
		"--specs.interval=1h", "--rerun.debounce=0")
	first := waitNewRun(t, base, "")
	if first.Result != report.Passed || first.Trigger != "start" {
		t.Fatalf("first run %+v", first)
	}
	// Half a binary, written in place as tar does: never run, and the log says why.
	if err := os.WriteFile(watched, full[:len(full)/2], 0o755); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if r := latestRun(base, first.ID); r != nil {
			t.Fatalf("a run after a truncated binary: %+v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "is not complete") {
		t.Fatalf("no log of the incomplete binary:\n%s", logs.String())
	}
	// The rest arrives: rerun at once, with the new suite's result.
	if err := os.WriteFile(watched, full, 0o755); err != nil {
		t.Fatal(err)
	}
	run := waitNewRun(t, base, first.ID)
	if run.Result != report.Failed || run.Trigger != "change" || run.Failed != 1 {
		t.Fatalf("after the new binary: %+v", run)
	}
	// Back to the passing suite, with its digest beside it.
	b, err := os.ReadFile(passing)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if err := os.WriteFile(watched, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(watched+".sha256", []byte(hex.EncodeToString(sum[:])+"  specs.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if again := waitNewRun(t, base, run.ID); again.Result != report.Passed || again.Trigger != "change" {
		t.Fatalf("after swapping back: %+v", again)
	}
}
