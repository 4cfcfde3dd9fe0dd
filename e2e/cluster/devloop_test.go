package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The dev loop's budgets on a warm machine (issue 15): `skaffold dev` to the first spec result,
// and a saved spec to its result.
const (
	devFirstBudget = 60 * time.Second
	devSaveBudget  = 5 * time.Second
)

var (
	// devRunLine is the dev runtime's line for a finished run (logfmt, which only the dev runtime
	// writes: the kit's writes JSON), as skaffold streams it.
	devRunLine = regexp.MustCompile(`msg="run (passed|failed)".*trigger=(start|change)`)
	// devSyncLine is hack/cluster/devsync.sh's report of one compile and copy.
	devSyncLine = regexp.MustCompile(`devsync: suite compiled in [0-9.]+s, copied into \S+ in [0-9.]+s`)
	watching    = regexp.MustCompile(`Watching for changes`)
)

// devLoop runs `skaffold dev` as specs/README.md says (the cluster-dev profile switches on by
// itself; --watch-poll-interval=200, skaffold's wait for a burst of writes to end) in the
// repository, times it to the dev runtime's first run in the log skaffold streams, saves a new
// spec file there (removed at the end) and times the save to that spec's result in the runtime's
// metrics (and its run in the log). The spec goes through skaffold's sync: hack/cluster/devsync.sh
// compiles it on the host and copies the binary in, naming the saved file; the runtime
// (--dev.watch-binary) runs that file's specs first, then the whole suite.
// The step checks that the loop works (a first run, the saved file's specs first, a sync and no
// rebuild) and prints its timings; over a budget it fails under `make cluster-devloop`
// (WATTSON_CLUSTER_DEVLOOP=1) only, and `make cluster-e2e` says so in its log: a timing is a
// measurement, which CI's load must not turn into a red build.
func (e *env) devLoop(t *testing.T, ctx context.Context) {
	overBudget := t.Logf
	if os.Getenv("WATTSON_CLUSTER_DEVLOOP") != "" {
		overBudget = t.Errorf
	}
	// In the repository itself, after the `skaffold run` of the steps before, as a user runs it:
	// skaffold finds the Wattson image it built then in its cache (the inputs are the same).
	work := e.root
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.Command(filepath.Join(e.bin, "skaffold"), "dev", "--kube-context", kubeContext, "--port-forward=off", "--cleanup=false", "--watch-poll-interval=200")
	cmd.Dir, cmd.Env = work, append(e.environ, "WATTSON_MIB_DIRS="+e.mibDirs())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	lines := newLineLog()
	start := time.Now()
	marks := &milestones{start: start}
	go lines.read(marks.tee(pr))
	defer func() { t.Logf("skaffold dev, seconds from start:\n%s", marks.String()) }()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// skaffold dev stops on SIGINT; the kit stays (--cleanup=false) for cluster down.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		pw.Close()
		if t.Failed() {
			t.Logf("skaffold dev output:\n%s", lines.tail(120))
		}
	}()

	// Any complete run: the redeployed kit may still be settling (the loop, not the verdict, is
	// timed), but it must be the dev runtime's first, on the suite the dev image brought.
	line, err := lines.wait(ctx, 10*time.Minute, 0, devRunLine)
	if err != nil {
		t.Fatalf("the dev runtime never reported a run: %v", err)
	}
	first := time.Since(start)
	e.took(fmt.Sprintf("skaffold dev: start → first spec result (budget %s)", devFirstBudget), first)
	t.Logf("first run after %.1fs: %s", first.Seconds(), line)
	if !strings.Contains(line, "trigger=start") {
		t.Errorf("the dev runtime's first run was not its start run: %s", line)
	}
	// skaffold watches only once it has deployed and the kit is rolled out.
	if _, err := lines.wait(ctx, 5*time.Minute, 0, watching); err != nil {
		t.Fatalf("skaffold dev never started watching: %v", err)
	}
	runtimeURL := e.portForward(t, ctx, "wattson-system", "wattson-runtime", 9464)

	nonce := fmt.Sprintf("%d", time.Now().UnixNano())
	name := "Dev loop " + nonce
	spec := fmt.Sprintf(`package specs_test

import . "github.com/onsi/ginkgo/v2"

var _ = Describe(%q, Label("devloop"), func() {
	It("reruns on save", func() {})
})
`, name)
	series := regexp.MustCompile(`wattson_spec_passing\{[^}]*spec="` + regexp.QuoteMeta(name+" reruns on save") + `"[^}]*\} 1`)
	mark := lines.len()
	saved := time.Now()
	specFile := filepath.Join(work, "specs", "devloop_"+nonce+"_test.go")
	t.Cleanup(func() { os.Remove(specFile) }) // .gitignore has specs/devloop_*_test.go too
	if err := os.WriteFile(specFile, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	// The new spec passing in the runtime's metrics is its result; polled every 50 ms.
	if err := pollEvery(ctx, 2*time.Minute, 50*time.Millisecond, func() error {
		b, err := httpGet(ctx, runtimeURL+"/metrics")
		if err != nil {
			return err
		}
		if !series.Match(b) {
			return fmt.Errorf("no passing series for the new spec %q", name)
		}
		return nil
	}); err != nil {
		t.Fatalf("save → result: %v", err)
	}
	toResult := time.Since(saved)
	e.took(fmt.Sprintf("skaffold dev: save → new spec's result in the runtime's metrics (budget %s)", devSaveBudget), toResult)
	// It came first from a focused run of the saved file (devsync.sh names it, the runtime runs
	// its specs before the whole suite). skaffold drops pod log lines during the dev-loop
	// iteration, so devsync.sh prints the focused run's line from the runtime's log itself.
	focused := regexp.MustCompile(`msg="focused run (passed|failed)".*focus=devloop_` + nonce + `_test.go`)
	if _, err := lines.wait(ctx, 5*time.Second, mark, focused); err != nil {
		t.Errorf("the saved file's specs did not run on their own first: %v", err)
	}
	changeRun := regexp.MustCompile(`msg="run (passed|failed)".*trigger=change`)
	// The whole suite after the focused run: a minute or more when specs fail (each failing
	// Eventually waits its 20 s), as after the fault and Rollout steps before this one.
	// In skaffold's stream (devsync.sh prints it when it ends within 5 s) or, when it ends in the
	// instant between the hook and skaffold streaming again, in the runtime's own log.
	if err := poll(ctx, 4*time.Minute, func() error {
		if _, err := lines.wait(ctx, 0, mark, changeRun); err == nil {
			return nil
		}
		out, err := e.output(ctx, filepath.Join(e.bin, "kubectl"), "-n", "wattson-system", "logs", "deploy/wattson-runtime", "-c", "runtime",
			"--since-time", saved.UTC().Truncate(time.Second).Format(time.RFC3339))
		if err != nil {
			return err
		}
		if !changeRun.MatchString(out) {
			return fmt.Errorf("no line matching %s in skaffold's stream or the runtime's log since the save", changeRun)
		}
		return nil
	}); err != nil {
		t.Errorf("no rerun after the save: %v", err)
	} else {
		e.took("skaffold dev: save → rerun in the log skaffold streams", time.Since(saved))
	}
	sync, err := lines.wait(ctx, time.Second, mark, devSyncLine)
	if err != nil {
		t.Errorf("the save did not go through skaffold's sync hook (hack/cluster/devsync.sh): %v", err)
	} else {
		t.Logf("%s", sync)
		e.took("skaffold dev: "+devSyncLine.FindString(sync), 0)
	}
	if s := lines.since(mark); strings.Contains(s, "Building [ghcr.io/wattson-dev/wattson") {
		t.Errorf("the save rebuilt an image instead of syncing:\n%s", s)
	}
	if first > devFirstBudget {
		overBudget("OVER BUDGET: skaffold dev took %.1fs to the first spec result, over the budget of %s", first.Seconds(), devFirstBudget)
	}
	if toResult > devSaveBudget {
		overBudget("OVER BUDGET: save → result took %.1fs, over the budget of %s", toResult.Seconds(), devSaveBudget)
	}
}

// mibDirs are the shared fixtures' MIB folders, named for prepare.sh (WATTSON_MIB_DIRS) so that
// the skaffold and helm steps find them without make's defaults.
func (e *env) mibDirs() string {
	base := filepath.Join(e.root, "..", "shared", "fixtures", "mibs")
	var dirs []string
	for _, d := range []string{"ietf", "vendor/apc", "vendor/raritan", "vendor/cyberpower"} {
		dirs = append(dirs, filepath.Join(base, d))
	}
	return strings.Join(dirs, " ")
}

// pollEvery retries f every interval until it succeeds or timeout passes, returning its last error.
func pollEvery(ctx context.Context, timeout, interval time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(interval)
	}
}

// since is the log from line index from on.
func (l *lineLog) since(from int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[min(from, len(l.lines)):], "\n")
}

// milestone lines of skaffold dev's output, timed for the breakdown the step logs: where the
// loop's seconds go when a budget is missed.
var milestone = regexp.MustCompile(`Generating tags|Checking cache|Found Locally|Building \[|Build \[.*\] succeeded|Starting deploy|Deployments stabilized|Watching for changes|Syncing|hooks for artifact|devsync:|msg="dev mode: (new suite binary|run superseded)|msg="(focused )?run (passed|failed|error)"`)

type milestones struct {
	start time.Time
	mu    sync.Mutex
	seen  []string
}

// tee passes r's lines on and notes when each milestone line arrived.
func (m *milestones) tee(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		s := bufio.NewScanner(r)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			if line := s.Text(); milestone.MatchString(line) {
				m.mu.Lock()
				m.seen = append(m.seen, fmt.Sprintf("%7.1f  %s", time.Since(m.start).Seconds(), line[:min(len(line), 160)]))
				m.mu.Unlock()
			}
			fmt.Fprintln(pw, s.Text())
		}
		pw.CloseWithError(s.Err())
	}()
	return pr
}

func (m *milestones) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.seen, "\n")
}
