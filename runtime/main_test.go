package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/suitetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	suitetest.Cleanup()
	os.Exit(code)
}

// syncBuffer is a log sink shared by the runtime goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRuntime starts the real runtime (run) with args and returns its base URL and logs. A free
// port can be taken by another process before the runtime binds it (the machine is shared), so a
// failed listen is retried on a new port.
func startRuntime(t testing.TB, args ...string) (string, *syncBuffer) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		addr, err := procs.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		logs := &syncBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() { done <- run(ctx, append(args, "--web.listen-address="+addr), logs) }()
		base := "http://" + addr
		if err := waitHealthy(base, done); err != nil {
			cancel()
			if attempt < 3 && strings.Contains(logs.String(), "address already in use") {
				continue
			}
			t.Fatalf("runtime did not start: %v\n%s", err, logs.String())
		}
		t.Cleanup(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("runtime exited %d", code)
			}
			if t.Failed() {
				t.Logf("runtime logs:\n%s", logs.String())
			}
		})
		return base, logs
	}
}

func waitHealthy(base string, done chan int) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-done:
			done <- code
			return fmt.Errorf("exited %d", code)
		default:
		}
		if resp, err := http.Get(base + "/-/healthy"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not healthy after 30s")
}

func get(t *testing.T, url string, v any) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return string(b)
}

// waitRuns waits until the runtime has recorded n runs and returns them, newest first.
func waitRuns(t *testing.T, base string, n int) []report.Run {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var runs []report.Run
		resp, err := http.Get(base + "/api/runs")
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&runs)
			resp.Body.Close()
			if len(runs) >= n {
				return runs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d runs after 60s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWatchMode runs every sample suite through the real runtime and checks what ends up in the
// metrics, the history API and the logs.
func TestWatchMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		suite   string // "" for a binary that does not exist
		args    []string
		result  report.Result
		metrics []string // lines that must be in /metrics
		absent  []string // metric names that must not be
		failing string   // a failing spec's name, shown with its message in the API
		message string
		logs    string
	}{
		{suite: "passing", result: report.Passed,
			metrics: []string{"wattson_runtime_ready 1", "assertions_failed 0", "tests_run 2", "assert_files_seen 1",
				`wattson_runtime_runs_total{result="passed"} 1`,
				`wattson_spec_passing{labels="pdu,smoke",spec="power adds up",suite="passing"} 1`,
				`wattson_spec_passing{labels="fast,pdu,smoke",spec="power is positive",suite="passing"} 1`},
			absent: []string{`spec="power is pending"`}, logs: `msg="run passed"`},
		{suite: "failing", result: report.Failed,
			metrics: []string{"wattson_runtime_ready 1", "assertions_failed 1", "assertions_failed_total 1", "tests_run 2",
				`wattson_runtime_runs_total{result="failed"} 1`,
				`wattson_spec_passing{labels="pdu",spec="outlet reports watts",suite="failing"} 0`,
				`wattson_spec_consecutive_failures{labels="pdu",spec="outlet reports watts",suite="failing"} 1`},
			failing: "outlet reports watts", message: "outlet 3 watts", logs: `msg="spec failed"`},
		{suite: "panicking", result: report.Failed,
			metrics: []string{"wattson_runtime_ready 1", "assertions_failed 1",
				`wattson_spec_passing{labels="",spec="agent panics",suite="panicking"} 0`},
			failing: "agent panics", message: "assignment to entry in nil map"},
		{suite: "hanging", args: []string{"--specs.timeout=2s", "--specs.grace-period=1s"}, result: report.Failed,
			metrics: []string{"wattson_runtime_ready 1", "assertions_failed 1",
				`wattson_spec_passing{labels="",spec="scrape hangs and ignores its context",suite="hanging"} 0`},
			failing: "scrape hangs and ignores its context", message: "suite timeout"},
		{suite: "empty", result: report.Error,
			metrics: []string{"wattson_runtime_ready 0", `wattson_runtime_runs_total{result="error"} 1`,
				"wattson_runtime_last_success_timestamp_seconds 0"},
			absent: []string{"assertions_failed", "tests_run", "wattson_spec_passing"}, logs: "no specs ran"},
		{suite: "", result: report.Error,
			metrics: []string{"wattson_runtime_ready 0", `wattson_runtime_runs_total{result="error"} 1`},
			absent:  []string{"assertions_failed", "tests_run"}, logs: "no such file or directory"},
	}
	for _, tt := range tests {
		name := tt.suite
		if name == "" {
			name = "missing"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bin := filepath.Join(t.TempDir(), "missing.test")
			if tt.suite != "" {
				bin = suitetest.Binary(t, tt.suite)
			}
			base, logs := startRuntime(t, append([]string{"--specs.binary=" + bin, "--specs.interval=1h"}, tt.args...)...)
			runs := waitRuns(t, base, 1)
			if runs[0].Result != tt.result {
				t.Fatalf("result %s, want %s (%s)", runs[0].Result, tt.result, runs[0].Error)
			}
			m := get(t, base+"/metrics", nil)
			for _, line := range tt.metrics {
				if !strings.Contains(m, "\n"+line+"\n") {
					t.Errorf("metrics lack %q", line)
				}
			}
			for _, name := range tt.absent {
				if strings.Contains(m, "\n"+name) || strings.Contains(m, name+"=") && strings.HasPrefix(name, "spec") {
					t.Errorf("metrics have %q before a complete run", name)
				}
			}
			if t.Failed() {
				t.Logf("metrics:\n%s", m)
			}
			var detail report.Run
			get(t, base+"/api/runs/"+runs[0].ID, &detail)
			if tt.failing != "" {
				f := detail.FailedSpecs()
				if len(f) == 0 || f[0].Name != tt.failing || !strings.Contains(f[0].Message, tt.message) {
					t.Errorf("failing specs %+v", f)
				}
				var hist []report.Spec
				get(t, base+"/api/specs/history?name="+strings.ReplaceAll(tt.failing, " ", "%20"), &hist)
				if len(hist) != 1 || hist[0].RunID != runs[0].ID {
					t.Errorf("history %+v", hist)
				}
			}
			if tt.logs != "" && !strings.Contains(logs.String(), tt.logs) {
				t.Errorf("logs lack %q", tt.logs)
			}
		})
	}
}

func TestRerun(t *testing.T) {
	t.Parallel()
	base, _ := startRuntime(t, "--specs.binary="+suitetest.Binary(t, "failing"), "--specs.interval=1h")
	waitRuns(t, base, 1)
	resp, err := http.Post(base+"/rerun?wait=true", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var run report.Run
	err = json.NewDecoder(resp.Body).Decode(&run)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("rerun: %d %v", resp.StatusCode, err)
	}
	if run.Result != report.Failed || run.Trigger != "rerun" || len(run.FailedSpecs()) != 1 {
		t.Errorf("rerun returned %+v", run)
	}
	m := get(t, base+"/metrics", nil)
	for _, line := range []string{"assertions_failed_total 2", `wattson_runtime_runs_total{result="failed"} 2`,
		`wattson_spec_consecutive_failures{labels="pdu",spec="outlet reports watts",suite="failing"} 2`} {
		if !strings.Contains(m, line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
	resp, err = http.Post(base+"/rerun", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("rerun without wait: %d", resp.StatusCode)
	}
	waitRuns(t, base, 3)
}

func TestCIMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		suite      string
		args       []string
		noInterval bool // leave --specs.interval to its default
		code       int
		out        []string // in the summary
		junit      []string // in the JUnit file
	}{
		{suite: "passing", args: []string{"--until-green=2", "--timeout=1m"}, code: 0,
			out: []string{"GREEN: 2 consecutive passed runs"}, junit: []string{"power adds up", `failures="0"`}},
		// Issue 18: without --specs.interval, CI mode reruns at a short interval rather than the
		// watch mode's minute, so 2 green runs fit in 30s.
		{suite: "passing", args: []string{"--until-green=2", "--timeout=30s"}, noInterval: true, code: 0,
			out: []string{"GREEN: 2 consecutive passed runs (2 runs in all)"}, junit: []string{`failures="0"`}},
		{suite: "failing", args: []string{"--until-green=1", "--timeout=2s"}, code: 1,
			out:   []string{"NOT GREEN after 2s", "[FAILED] outlet reports watts", "outlet 3 watts", "failing_test.go:"},
			junit: []string{`failures="1"`, "outlet 3 watts"}},
		{suite: "", args: []string{"--until-green=1", "--timeout=1s"}, code: 1,
			out: []string{"NOT GREEN", "harness error", "no such file"}, junit: []string{`errors="1"`, "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.suite, func(t *testing.T) {
			t.Parallel()
			bin := filepath.Join(t.TempDir(), "missing.test")
			if tt.suite != "" {
				bin = suitetest.Binary(t, tt.suite)
			}
			junit := filepath.Join(t.TempDir(), "junit.xml")
			var out syncBuffer
			args := []string{"--specs.binary=" + bin, "--junit.output=" + junit}
			if !tt.noInterval {
				args = append(args, "--specs.interval=100ms")
			}
			code := run(context.Background(), append(args, tt.args...), &out)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			for _, s := range tt.out {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q", s)
				}
			}
			b, err := os.ReadFile(junit)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.junit {
				if !strings.Contains(string(b), s) {
					t.Errorf("junit lacks %q:\n%s", s, b)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out.String())
			}
		})
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "x.test")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--help"}, 0, "--specs.binary"},
		{[]string{"--dry-run", "--specs.binary=" + bin}, 0, "configuration OK"},
		{[]string{"--dry-run", "--specs.binary=/nonexistent"}, 2, "--specs.binary"},
		{[]string{"--specs.interval=0s"}, 2, "--specs.interval must be positive"},
		{[]string{"--dev.watch-dir=."}, 2, "--dev.watch-dir and --dev.package go together"},
		{[]string{"--dev.watch-binary=/suite/specs.test", "--dev.watch-dir=.", "--dev.package=."}, 2, "--dev.watch-binary (a suite compiled elsewhere) and --dev.watch-dir (compiled here) exclude each other"},
		{[]string{"--dev.watch-binary=/suite/specs.test", "--until-green=1"}, 2, "dev mode (--dev.watch-binary) and CI mode (--until-green) exclude each other"},
		{[]string{"--dev.watch-binary=/suite/specs.test", "--dev.poll=0s"}, 2, "--dev.poll must be positive"},
		{[]string{"--dry-run", "--dev.watch-binary=/suite/specs.test", "--specs.binary=/nonexistent", "--web.listen-address=:9464", "--web.auth=none"}, 0, "configuration OK"},
		{[]string{"--junit.output=x.xml"}, 2, "--junit.output needs CI mode"},
		{[]string{"--store.postgres-url=::nope"}, 2, "--store.postgres-url"},
		{[]string{"--log.level=loud"}, 2, `invalid value "loud" for flag -log.level: unrecognized log level loud (one of: debug, info, warn, error)`},
		{[]string{"--log.format=xml"}, 2, `invalid value "xml" for flag -log.format: unrecognized log format xml (one of: logfmt, json)`},
		{[]string{"--dry-run", "--specs.binary=" + bin, "--log.level=DEBUG", "--log.format=json"}, 0, "configuration OK"},
		{[]string{"--until-green=2", "--timeout=30s", "--specs.interval=1m"}, 2, "--until-green 2 cannot succeed within --timeout 30s"},
		{[]string{"--until-green=3", "--timeout=10s"}, 2, "2 pauses of --specs.interval 5s alone take 10s"},
		{[]string{"--web.auth=open"}, 2, `--web.auth "open": want kubernetes or none`},
		{[]string{"--web.max-waiters=0"}, 2, "--web.max-waiters"},
		{[]string{"--fleet.lease=10ms"}, 2, "--fleet.lease"},
		{[]string{"stray"}, 2, `unexpected argument "stray"`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.args), func(t *testing.T) {
			var out syncBuffer
			if code := run(context.Background(), tt.args, &out); code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Errorf("output lacks %q:\n%s", tt.out, out.String())
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

// TestDevBinaryDefaults: --dev.watch-binary comes from $WATTSON_DEV_WATCH_BINARY too (a Suite's
// env is how an operator-made runtime gets it) and makes the loop quick unless told otherwise.
func TestDevBinaryDefaults(t *testing.T) {
	t.Setenv("WATTSON_DEV_WATCH_BINARY", "/tmp/suite/specs.test")
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.devBinary != "/tmp/suite/specs.test" || o.devPoll != 100*time.Millisecond || o.debounce != 0 {
		t.Errorf("from the environment: watch %q, poll %s, debounce %s; want the file, 100ms, 0", o.devBinary, o.devPoll, o.debounce)
	}
	o, err = parseFlags([]string{"--dev.poll=1s", "--rerun.debounce=3s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.devPoll != time.Second || o.debounce != 3*time.Second {
		t.Errorf("given flags: poll %s, debounce %s; want 1s, 3s", o.devPoll, o.debounce)
	}
	t.Setenv("WATTSON_DEV_WATCH_BINARY", "")
	if o, _ := parseFlags(nil, io.Discard); o.devBinary != "" || o.debounce != 2*time.Second {
		t.Errorf("without it: watch %q, debounce %s", o.devBinary, o.debounce)
	}
}
