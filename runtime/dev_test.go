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

// TestDevWatchBinaryFocus: a new binary with a focus file (what devsync.sh copies in after a
// save) supersedes the run in progress, which is cancelled and recorded nowhere; the saved
// file's specs run first, on their own, into the per-spec series and the log but not the
// history; then the whole suite runs and is recorded.
func TestDevWatchBinaryFocus(t *testing.T) {
	t.Setenv("SLOW_SUITE_SLEEP", "1h") // the slow suite's run lasts until something ends it
	passing, slow, twofiles := suitetest.Binary(t, "passing"), suitetest.Binary(t, "slow"), suitetest.Binary(t, "twofiles")
	watched := filepath.Join(t.TempDir(), "specs.test")
	base, logs := startRuntime(t, "--specs.binary="+passing, "--dev.watch-binary="+watched, "--dev.poll=20ms",
		"--specs.interval=1h", "--rerun.debounce=0")
	first := waitNewRun(t, base, "")
	copyIn := func(bin, focus string) {
		t.Helper()
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		digest := hex.EncodeToString(sum[:])
		if focus != "" {
			if err := os.WriteFile(watched+".focus", []byte("sha256 "+digest+"\n"+focus+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(watched, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(watched+".sha256", []byte(digest+"  specs.test\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitLog := func(what string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(logs.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", what, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The slow suite, without a focus: a whole run starts and would last an hour.
	copyIn(slow, "")
	waitLog("dev mode: new suite binary, rerunning")
	time.Sleep(500 * time.Millisecond) // well inside the slow run
	// A save: the new binary names power_test.go.
	start := time.Now()
	copyIn(twofiles, "power_test.go")
	run := waitNewRun(t, base, first.ID)
	took := time.Since(start)
	if run.Result != report.Passed || run.Passed != 3 || run.Trigger != "change" || len(run.Focus) != 0 {
		t.Fatalf("the run after the save: %+v, want the whole twofiles suite (3 passed, trigger change)", run)
	}
	t.Logf("copy in → whole run recorded: %s", took.Round(time.Millisecond))
	if took > 30*time.Second {
		t.Errorf("the save took %s to its result: the slow run was not superseded", took)
	}
	log := logs.String()
	for _, want := range []string{
		"dev mode: run superseded by a new suite binary, not recorded",
		`msg="focused run passed"`, "focus=power_test.go", "passed=2",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Index(log, `msg="focused run passed"`) > strings.LastIndex(log, `msg="run passed"`) {
		t.Errorf("the focused run came after the whole run:\n%s", log)
	}
	// The history has the start run and the whole run: no superseded run, no focused run.
	resp, err := http.Get(base + "/api/runs?limit=10")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var runs []report.Run
	if err := json.NewDecoder(resp.Body).Decode(&runs); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != run.ID || runs[1].ID != first.ID {
		t.Errorf("history %+v, want the whole run and the start run only", runs)
	}
}
