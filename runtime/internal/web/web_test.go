package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/store"
	"github.com/wattson-dev/wattson/runtime/internal/web"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func server(t *testing.T, trigger func(string) <-chan *report.Run) (*httptest.Server, *store.Memory) {
	t.Helper()
	mem := store.NewMemory(10)
	ctx := context.Background()
	_ = mem.Save(ctx, &report.Run{ID: "r1", Suite: "energy", StartedAt: t0, Result: report.Passed, Passed: 1,
		Specs: []report.Spec{{Name: "outlet reports watts", State: "passed"}}})
	_ = mem.Save(ctx, &report.Run{ID: "r2", Suite: "energy", StartedAt: t0.Add(time.Minute), Result: report.Failed,
		Passed: 1, Failed: 1, Duration: 2 * time.Second,
		Specs: []report.Spec{
			{Name: "outlet reports watts", State: "failed", Message: "outlet 3 watts\nExpected <int>: 41 to equal <int>: 42",
				Location: "outlet_test.go:12", Output: "scraping outlet 3"},
			{Name: "outlet has a name", State: "passed"},
		}})
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(web.Handler(web.Options{Store: mem, Trigger: trigger, Ready: func() bool { return true },
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}))
	t.Cleanup(srv.Close)
	return srv, mem
}

func TestAPI(t *testing.T) {
	srv, _ := server(t, nil)
	tests := []struct {
		path string
		code int
		body string
	}{
		{"/api/runs", 200, `"id": "r2"`},
		{"/api/runs?limit=1", 200, `"failed": 1`},
		{"/api/runs?limit=0", 400, "limit must be an integer"},
		{"/api/runs/r2", 200, `Expected \u003cint\u003e: 41`},
		{"/api/runs/nope", 404, "run nope not found"},
		{"/api/specs/history?name=outlet%20reports%20watts", 200, `"run_id": "r1"`},
		{"/api/specs/history", 400, "name"},
		{"/api/flaky", 200, `"flips": 1`},
		{"/api/status", 200, `"ready": true`},
		{"/", 200, "<title>Wattson runtime</title>"},
		{"/static/app.js", 200, "showRun"},
		{"/metrics", 200, ""},
		{"/-/healthy", 200, "ok"},
		{"/nothing", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code || !strings.Contains(string(b), tt.body) {
				t.Errorf("%d %q, want %d containing %q", resp.StatusCode, b, tt.code, tt.body)
			}
		})
	}
}

func TestRerun(t *testing.T) {
	var reasons []string
	srv, _ := server(t, func(reason string) <-chan *report.Run {
		reasons = append(reasons, reason)
		c := make(chan *report.Run, 1)
		c <- &report.Run{ID: "r3", Result: report.Passed, Trigger: reason}
		return c
	})
	resp, err := http.Post(srv.URL+"/rerun?wait=true", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var run report.Run
	_ = json.NewDecoder(resp.Body).Decode(&run)
	resp.Body.Close()
	if resp.StatusCode != 200 || run.ID != "r3" || len(reasons) != 1 || reasons[0] != "rerun" {
		t.Errorf("rerun: %d %+v %v", resp.StatusCode, run, reasons)
	}
	if resp, err := http.Get(srv.URL + "/rerun"); err != nil {
		t.Errorf("GET /rerun: %v", err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /rerun: %d, want %d", resp.StatusCode, http.StatusMethodNotAllowed)
	}
	noTrigger, _ := server(t, nil)
	if resp, err := http.Post(noTrigger.URL+"/rerun", "", nil); err != nil {
		t.Errorf("rerun in CI mode: %v", err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusConflict {
		t.Errorf("rerun in CI mode: %d, want %d", resp.StatusCode, http.StatusConflict)
	}
}

// TestPageInChromium loads the page in headless Chromium and checks that the JavaScript rendered
// the failing spec's name and message.
func TestPageInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Unavailable(t, err)
	}
	srv, _ := server(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=10000", "--dump-dom", srv.URL+"/")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	dom := string(out)
	for _, want := range []string{
		`<div class="spec-name">outlet reports watts</div>`,
		"outlet 3 watts\nExpected &lt;int&gt;: 41 to equal &lt;int&gt;: 42",
		"failed at outlet_test.go:12",
		"last run failed",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
}

// TestRerunTriggerAndWaiters: ?trigger= names the run (checked text), and the waiters of
// ?wait=true are bounded and time out.
func TestRerunTriggerAndWaiters(t *testing.T) {
	var reasons []string
	block := make(chan *report.Run)
	t.Cleanup(func() { close(block) })
	mem := store.NewMemory(10)
	h := web.Handler(web.Options{Store: mem, MaxWaiters: 2, WaitTimeout: 300 * time.Millisecond,
		Trigger: func(reason string) <-chan *report.Run { reasons = append(reasons, reason); return block },
		Metrics: http.NotFoundHandler()})
	srv := httptest.NewUnstartedServer(h)
	srv.Config = web.Server(h)
	srv.Start()
	t.Cleanup(srv.Close)
	tests := []struct {
		query string
		code  int
		body  string
	}{
		{"?trigger=PDU+default/rack-1", 202, `"trigger": "PDU default/rack-1"`},
		{"", 202, `"trigger": "rerun"`},
		{"?trigger=" + strings.Repeat("x", web.MaxTriggerLen+1), 400, "longer than 200 bytes"},
		{"?trigger=a%0Ab", 400, "only printable characters on one line"},
		{"?trigger=a%00b", 400, "only printable"},
		{"?wait=sometimes", 400, "wait must be true or false"},
	}
	for _, tt := range tests {
		resp, err := http.Post(srv.URL+"/rerun"+tt.query, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || !strings.Contains(string(b), tt.body) {
			t.Errorf("%s: %d %s, want %d %q", tt.query, resp.StatusCode, b, tt.code, tt.body)
		}
	}
	if len(reasons) != 2 || reasons[0] != "PDU default/rack-1" {
		t.Errorf("triggers %q", reasons)
	}
	// Two waiters fill the bound; a third is refused at once; the two time out with 504.
	codes := make(chan int, 3)
	for range 2 {
		go func() {
			resp, err := http.Post(srv.URL+"/rerun?wait=true", "", nil)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	time.Sleep(100 * time.Millisecond)
	resp, err := http.Post(srv.URL+"/rerun?wait=true", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third waiter: %d, want 429 with Retry-After", resp.StatusCode)
	}
	for range 2 {
		if c := <-codes; c != http.StatusGatewayTimeout {
			t.Errorf("waiter: %d, want 504", c)
		}
	}
	if srv.Config.ReadTimeout == 0 || srv.Config.WriteTimeout == 0 || srv.Config.IdleTimeout == 0 || srv.Config.ReadHeaderTimeout == 0 {
		t.Errorf("server timeouts %+v", srv.Config)
	}
}
