// Package runs is the operator's client of a Suite's runtime (wattson-runtime): its run history
// (GET /api/runs, /api/runs/{id}, /api/flaky) and reruns (POST /rerun?trigger=...), and the pure
// summary the Suite's status is made of.
//
// The types mirror the runtime's JSON (runtime/internal/report and store), which the operator
// cannot import: the JSON is the contract between the two.
package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Results of a run, as the runtime reports them.
const (
	Passed = "passed"
	Failed = "failed"
	Error  = "error"
)

// Run is one run of a suite.
type Run struct {
	ID         string    `json:"id"`
	Suite      string    `json:"suite"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Result     string    `json:"result"`
	Error      string    `json:"error,omitempty"`
	Trigger    string    `json:"trigger,omitempty"`
	Passed     int       `json:"passed"`
	Failed     int       `json:"failed"`
	Skipped    int       `json:"skipped"`
	Specs      []Spec    `json:"specs,omitempty"`
}

// Complete reports whether the run said something about the system (passed or failed).
func (r *Run) Complete() bool { return r.Result == Passed || r.Result == Failed }

// Spec is one spec's result in a run.
type Spec struct {
	Name     string   `json:"name"`
	Labels   []string `json:"labels,omitempty"`
	State    string   `json:"state"`
	Message  string   `json:"message,omitempty"`
	Location string   `json:"location,omitempty"`
}

// Failed reports whether the spec failed in any way.
func (s Spec) Failed() bool {
	switch s.State {
	case "failed", "panicked", "timedout", "interrupted", "aborted":
		return true
	}
	return false
}

// Flaky is a spec that flipped between pass and fail over recent complete runs.
type Flaky struct {
	Suite    string `json:"suite"`
	Name     string `json:"name"`
	Runs     int    `json:"runs"`
	Failures int    `json:"failures"`
	Flips    int    `json:"flips"`
}

// Client talks to one runtime.
type Client struct {
	// URL is the runtime's base URL, e.g. http://wattson-suite-energy.wattson-system.svc:9464.
	URL string
	// HTTP is the client to use; it should have a timeout.
	HTTP *http.Client
	// Token returns the bearer token sent with every request (a runtime with
	// --web.auth=kubernetes checks it with a TokenReview and a SubjectAccessReview of the verb on
	// /wattson-runtime + the path); nil sends none.
	Token func() (string, error)
}

// Runs returns the newest runs, newest first, without their specs.
func (c *Client) Runs(ctx context.Context, limit int) ([]Run, error) {
	var runs []Run
	err := c.get(ctx, "/api/runs?limit="+strconv.Itoa(limit), &runs)
	return runs, err
}

// Run returns one run with its specs.
func (c *Client) Run(ctx context.Context, id string) (*Run, error) {
	var run Run
	if err := c.get(ctx, "/api/runs/"+url.PathEscape(id), &run); err != nil {
		return nil, err
	}
	return &run, nil
}

// Flaky returns the specs that flipped over the last runs complete runs, most flips first.
func (c *Client) Flaky(ctx context.Context, runs int) ([]Flaky, error) {
	var f []Flaky
	err := c.get(ctx, "/api/flaky?runs="+strconv.Itoa(runs), &f)
	return f, err
}

// Rerun asks for a run now, naming what triggered it (recorded in the run's history).
func (c *Client) Rerun(ctx context.Context, trigger string) error {
	u := c.URL + "/rerun?trigger=" + url.QueryEscape(trigger)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST %s: %s: %s", u, resp.Status, apiError(resp.Body))
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

func (c *Client) get(ctx context.Context, path string, v any) error {
	u := c.URL + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, apiError(resp.Body))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: decoding the answer: %w", u, err)
	}
	return nil
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	if c.Token != nil {
		tok, err := c.Token()
		if err != nil {
			return nil, fmt.Errorf("bearer token: %w", err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	return c.HTTP.Do(req)
}

// apiError reads the runtime's {"error": "..."} body, or the start of whatever it sent.
func apiError(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 4096))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	return strings.TrimSpace(string(b))
}

// Summary is what a Suite's status says about its runs.
type Summary struct {
	// Last is the newest run of the suite (any result); nil when there is none.
	Last *Run
	// LastComplete is the newest passed or failed run; nil when there is none.
	LastComplete *Run
	// ConsecutiveFailures counts the newest complete runs that failed, in a row; harness
	// errors are skipped, as they say nothing about the system.
	ConsecutiveFailures int
}

// Summarize folds runs (newest first, as GET /api/runs gives them) of the named suite; runs of
// other suites (a shared PostgreSQL history) are ignored.
func Summarize(suite string, runs []Run) Summary {
	var s Summary
	counting := true
	for i := range runs {
		r := &runs[i]
		if r.Suite != suite {
			continue
		}
		if s.Last == nil {
			s.Last = r
		}
		if !r.Complete() {
			continue
		}
		if s.LastComplete == nil {
			s.LastComplete = r
		}
		if counting && r.Result == Failed {
			s.ConsecutiveFailures++
		} else {
			counting = false
		}
	}
	return s
}
