// Package runner runs a precompiled Ginkgo suite once as a subprocess and turns its JSON report
// into a report.Run. A Ginkgo suite cannot be run twice in one process, so every iteration is a
// fresh process; the runner owns the timeout, the process group and the temporary report file.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/wattson-dev/wattson/runtime/internal/report"
)

// Runner runs one suite binary.
type Runner struct {
	// Binary is the compiled suite (`ginkgo build` or `go test -c`).
	Binary string
	// Suite names the suite in metrics and history; the report's suite description when empty.
	Suite string
	// LabelFilter is passed as --ginkgo.label-filter when set.
	LabelFilter string
	// Timeout bounds one run. It is passed to Ginkgo as --ginkgo.timeout so that Ginkgo itself
	// interrupts a hanging spec and still writes its report; the process is killed if it is still
	// running Grace (plus a margin) later.
	Timeout time.Duration
	// Grace is Ginkgo's --ginkgo.grace-period: how long an interrupted node may take to clean up.
	Grace time.Duration
	// FocusFiles limits the run to the specs of these source files (Ginkgo's --ginkgo.focus-file,
	// one per name, matched as a literal file name): dev mode runs a saved file's specs first.
	FocusFiles []string
	// Args are extra arguments for the suite (after the Ginkgo flags).
	Args []string
	// Env is added to the runtime's environment.
	Env []string
	// Dir is the working directory of the suite; the binary's folder when empty.
	Dir string
	// Output, when set, also receives the suite's output as it runs.
	Output io.Writer
	// MaxReport bounds the size of the report read from disk (MaxReport when <= 0).
	MaxReport int64
}

// killMargin is how long after Timeout+Grace the process is killed if Ginkgo has not stopped it.
const killMargin = 5 * time.Second

// Run runs the suite once. It never returns nil: harness problems are reported as a Run with
// Result report.Error and the reason in Error.
func (r *Runner) Run(ctx context.Context) *report.Run {
	run := &report.Run{ID: report.NewID(), Suite: r.Suite, StartedAt: time.Now()}
	defer func() {
		run.FinishedAt = time.Now()
		run.Duration = run.FinishedAt.Sub(run.StartedAt)
		if run.Suite == "" {
			run.Suite = filepath.Base(r.Binary)
		}
	}()
	if len(r.FocusFiles) > 0 {
		run.Focus = slices.Clone(r.FocusFiles)
	}
	if err := r.run(ctx, run); err != nil {
		run.Result = report.Error
		run.Error = err.Error()
	}
	return run
}

func (r *Runner) run(ctx context.Context, run *report.Run) error {
	bin, err := filepath.Abs(r.Binary)
	if err != nil {
		return fmt.Errorf("suite binary %q: %w", r.Binary, err)
	}
	if fi, err := os.Stat(bin); err != nil {
		return fmt.Errorf("suite binary: %w", err)
	} else if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("suite binary %s is not an executable file", bin)
	}
	tmp, err := os.MkdirTemp("", "wattson-run-")
	if err != nil {
		return fmt.Errorf("create report folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	reportPath := filepath.Join(tmp, "report.json")

	args := []string{
		"--ginkgo.json-report=" + reportPath,
		"--ginkgo.no-color",
	}
	if r.LabelFilter != "" {
		args = append(args, "--ginkgo.label-filter="+r.LabelFilter)
	}
	for _, f := range r.FocusFiles {
		// Ginkgo reads FILE_REGEX[:LINES] against the spec's file path: the quoted name, anchored
		// at a path separator and at the end, is that file only.
		args = append(args, "--ginkgo.focus-file=(^|/)"+regexp.QuoteMeta(f)+"$")
	}
	grace := r.Grace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	if r.Timeout > 0 {
		args = append(args, "--ginkgo.timeout="+r.Timeout.String(), "--ginkgo.grace-period="+grace.String())
	}
	args = append(args, r.Args...)

	cmd := exec.Command(bin, args...)
	cmd.Dir = r.Dir
	if cmd.Dir == "" {
		cmd.Dir = filepath.Dir(bin)
	}
	cmd.Env = append(os.Environ(), r.Env...)
	// Own process group, so a timeout also ends whatever the suite started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &tailWriter{max: report.MaxRunOutput}
	var w io.Writer = out
	if r.Output != nil {
		w = io.MultiWriter(out, r.Output)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start suite %s: %w", bin, err)
	}

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var deadline <-chan time.Time
	if r.Timeout > 0 {
		t := time.NewTimer(r.Timeout + grace + killMargin)
		defer t.Stop()
		deadline = t.C
	}
	var waitErr, killed error
	select {
	case waitErr = <-done:
	case <-deadline:
		killed = fmt.Errorf("suite still running %s after its %s timeout: killed", grace+killMargin, r.Timeout)
	case <-ctx.Done():
		killed = fmt.Errorf("run cancelled: %w", ctx.Err())
	}
	if killed != nil {
		// SIGTERM first so that Ginkgo can still write its report, then SIGKILL.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case waitErr = <-done:
		case <-time.After(grace):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			waitErr = <-done
		}
	}
	run.Output = out.String()

	limit := r.MaxReport
	if limit <= 0 {
		limit = MaxReport
	}
	raw, err := readReport(reportPath, limit)
	if errors.Is(err, errReportTooLarge) {
		return fmt.Errorf("%w; last output:\n%s", err, lastLines(run.Output, 40))
	}
	if err != nil || len(raw) == 0 {
		reason := "suite wrote no report"
		if killed != nil {
			reason = killed.Error()
		} else if waitErr != nil {
			reason = fmt.Sprintf("suite wrote no report and exited: %v", waitErr)
		}
		return fmt.Errorf("%s; last output:\n%s", reason, lastLines(run.Output, 40))
	}
	if err := report.FromGinkgo(run, raw); err != nil {
		return err
	}
	if r.Suite != "" {
		run.Suite = r.Suite
	}
	if run.Result == report.Error {
		return errors.New(run.Error)
	}
	if killed != nil && run.Result == report.Passed {
		// A report that says "passed" from a process we had to kill cannot be trusted.
		return killed
	}
	return nil
}

// MaxReport bounds the Ginkgo JSON report read from disk: a larger one is a harness error rather
// than an allocation as large as whatever a suite wrote.
const MaxReport = 64 << 20

var errReportTooLarge = errors.New("ginkgo report too large")

// readReport reads at most max bytes of path, failing with errReportTooLarge beyond.
func readReport(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: over %d bytes", errReportTooLarge, max)
	}
	return b, nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return report.Tail(string(t.buf), t.max)
}

func lastLines(s string, n int) string {
	count := 0
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' && i != len(s)-1 {
			count++
			if count >= n {
				return s[i+1:]
			}
		}
	}
	return s
}
