// Package prom is a small Prometheus HTTP API client for specs, with Gomega matchers over its
// results:
//
//	Eventually(ctx, prom.Query(`wattson_pdu_power_watts`)).Should(prom.HaveSeries(prom.Labels{"pdu": "rack-a01-pdu1"}))
//
// Results carry the query, so a failure message says what was asked and what came back. A query
// Prometheus rejects (bad PromQL) stops Eventually at once: retrying cannot fix it.
package prom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/onsi/gomega"
)

// Client talks to one Prometheus.
type Client struct {
	// URL is the base URL, e.g. http://127.0.0.1:9090.
	URL  string
	HTTP *http.Client
}

// New returns a client for the Prometheus at base.
func New(base string) *Client {
	return &Client{URL: strings.TrimSuffix(base, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Labels are a series' labels, or the subset of them a matcher looks for.
type Labels map[string]string

// String renders labels as PromQL does: {a="1", b="2"}, sorted, __name__ in front.
func (l Labels) String() string {
	keys := slices.Sorted(maps.Keys(l))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if k != "__name__" {
			parts = append(parts, fmt.Sprintf("%s=%q", k, l[k]))
		}
	}
	return l["__name__"] + "{" + strings.Join(parts, ", ") + "}"
}

// Has reports whether l includes every label of subset with the same value.
func (l Labels) Has(subset Labels) bool {
	for k, v := range subset {
		if got, ok := l[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Without returns a copy of l without the given labels.
func (l Labels) Without(names ...string) Labels {
	out := maps.Clone(l)
	for _, n := range names {
		delete(out, n)
	}
	return out
}

// Sample is one value of an instant vector.
type Sample struct {
	Metric Labels
	Value  float64
	Time   time.Time
}

// Vector is the answer to an instant query.
type Vector struct {
	Query   string
	Samples []Sample
}

// Point is one sample of a range.
type Point struct {
	Time  time.Time
	Value float64
}

// Series is one series of a range vector.
type Series struct {
	Metric Labels
	Points []Point
}

// Matrix is the answer to a range query, or to an instant query of a range selector (x[5m]).
type Matrix struct {
	Query  string
	Series []Series
}

// APIError is an error Prometheus answered with (status "error").
type APIError struct {
	Type, Message string
	StatusCode    int
}

func (e *APIError) Error() string {
	return fmt.Sprintf("prometheus answered %d %s: %s", e.StatusCode, e.Type, e.Message)
}

// permanent reports whether retrying cannot help: the query itself is wrong.
func permanent(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Type == "bad_data"
}

func (c *Client) get(ctx context.Context, path string, params url.Values, data any) error {
	u := c.URL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("prometheus %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("prometheus %s: read answer: %w", path, err)
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("prometheus %s: %s: not an API answer: %.200s", path, resp.Status, body)
	}
	if env.Status != "success" {
		return &APIError{Type: env.ErrorType, Message: env.Error, StatusCode: resp.StatusCode}
	}
	if err := json.Unmarshal(env.Data, data); err != nil {
		return fmt.Errorf("prometheus %s: decode data: %w", path, err)
	}
	return nil
}

type rawResult struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

type rawSample struct {
	Metric Labels           `json:"metric"`
	Value  [2]any           `json:"value"`
	Values [][2]any         `json:"values"`
	Hist   *json.RawMessage `json:"histogram"`
}

func parsePoint(v [2]any) (Point, error) {
	ts, ok := v[0].(float64)
	if !ok {
		return Point{}, fmt.Errorf("timestamp %v is not a number", v[0])
	}
	s, ok := v[1].(string)
	if !ok {
		return Point{}, fmt.Errorf("value %v is not a string", v[1])
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return Point{}, fmt.Errorf("value %q: %w", s, err)
	}
	sec, frac := math.Modf(ts)
	return Point{Time: time.Unix(int64(sec), int64(frac*1e9)), Value: f}, nil
}

// QueryVector runs an instant query that must return an instant vector or a scalar (a scalar
// becomes one sample without labels).
func (c *Client) QueryVector(ctx context.Context, q string) (Vector, error) {
	var r rawResult
	if err := c.get(ctx, "/api/v1/query", url.Values{"query": {q}}, &r); err != nil {
		return Vector{Query: q}, fmt.Errorf("query %s: %w", q, err)
	}
	out := Vector{Query: q, Samples: []Sample{}}
	switch r.ResultType {
	case "vector":
		var raw []rawSample
		if err := json.Unmarshal(r.Result, &raw); err != nil {
			return out, fmt.Errorf("query %s: %w", q, err)
		}
		for _, s := range raw {
			if s.Hist != nil {
				continue // native histograms are not energy readings
			}
			p, err := parsePoint(s.Value)
			if err != nil {
				return out, fmt.Errorf("query %s: %w", q, err)
			}
			out.Samples = append(out.Samples, Sample{Metric: s.Metric, Value: p.Value, Time: p.Time})
		}
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(r.Result, &v); err != nil {
			return out, fmt.Errorf("query %s: %w", q, err)
		}
		p, err := parsePoint(v)
		if err != nil {
			return out, fmt.Errorf("query %s: %w", q, err)
		}
		out.Samples = append(out.Samples, Sample{Metric: Labels{}, Value: p.Value, Time: p.Time})
	default:
		return out, &APIError{Type: "bad_data", Message: fmt.Sprintf("query %s returned a %s; use QueryMatrix for range selectors", q, r.ResultType)}
	}
	return out, nil
}

// QueryMatrix runs an instant query of a range selector, e.g. wattson_pdu_energy_joules_total[10m],
// and returns the raw samples.
func (c *Client) QueryMatrix(ctx context.Context, q string) (Matrix, error) {
	var r rawResult
	if err := c.get(ctx, "/api/v1/query", url.Values{"query": {q}}, &r); err != nil {
		return Matrix{Query: q}, fmt.Errorf("query %s: %w", q, err)
	}
	if r.ResultType != "matrix" {
		return Matrix{Query: q}, &APIError{Type: "bad_data", Message: fmt.Sprintf("query %s returned a %s, want a range selector such as x[5m]", q, r.ResultType)}
	}
	return decodeMatrix(q, r.Result)
}

// QueryRange runs a range query from start to end with the given step.
func (c *Client) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) (Matrix, error) {
	var r rawResult
	params := url.Values{"query": {q}, "start": {formatTime(start)}, "end": {formatTime(end)}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	if err := c.get(ctx, "/api/v1/query_range", params, &r); err != nil {
		return Matrix{Query: q}, fmt.Errorf("query range %s: %w", q, err)
	}
	return decodeMatrix(q, r.Result)
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64)
}

func decodeMatrix(q string, raw json.RawMessage) (Matrix, error) {
	var rs []rawSample
	if err := json.Unmarshal(raw, &rs); err != nil {
		return Matrix{Query: q}, fmt.Errorf("query %s: %w", q, err)
	}
	out := Matrix{Query: q, Series: []Series{}}
	for _, s := range rs {
		se := Series{Metric: s.Metric}
		for _, v := range s.Values {
			p, err := parsePoint(v)
			if err != nil {
				return out, fmt.Errorf("query %s: %w", q, err)
			}
			se.Points = append(se.Points, p)
		}
		out.Series = append(out.Series, se)
	}
	return out, nil
}

// Target is an active scrape target.
type Target struct {
	Labels             Labels    `json:"labels"`
	ScrapePool         string    `json:"scrapePool"`
	ScrapeURL          string    `json:"scrapeUrl"`
	Health             string    `json:"health"`
	LastError          string    `json:"lastError"`
	LastScrape         time.Time `json:"lastScrape"`
	LastScrapeDuration float64   `json:"lastScrapeDuration"`
	ScrapeInterval     string    `json:"scrapeInterval"`
	ScrapeTimeout      string    `json:"scrapeTimeout"`
}

// Targets returns the active scrape targets.
func (c *Client) Targets(ctx context.Context) ([]Target, error) {
	var d struct {
		Active []Target `json:"activeTargets"`
	}
	if err := c.get(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &d); err != nil {
		return nil, err
	}
	return d.Active, nil
}

// Rule is a recording or alerting rule as Prometheus evaluates it.
type Rule struct {
	Name      string `json:"name"`
	Query     string `json:"query"`
	Type      string `json:"type"` // "recording" or "alerting"
	Health    string `json:"health"`
	LastError string `json:"lastError"`
	State     string `json:"state"` // alerting rules: inactive, pending, firing
}

// RuleGroup is a loaded rule group.
type RuleGroup struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Rules []Rule `json:"rules"`
}

// Rules returns the loaded rule groups.
func (c *Client) Rules(ctx context.Context) ([]RuleGroup, error) {
	var d struct {
		Groups []RuleGroup `json:"groups"`
	}
	if err := c.get(ctx, "/api/v1/rules", nil, &d); err != nil {
		return nil, err
	}
	return d.Groups, nil
}

// Alertmanagers returns the URLs of the Alertmanagers Prometheus sends alerts to.
func (c *Client) Alertmanagers(ctx context.Context) ([]string, error) {
	var d struct {
		Active []struct {
			URL string `json:"url"`
		} `json:"activeAlertmanagers"`
	}
	if err := c.get(ctx, "/api/v1/alertmanagers", nil, &d); err != nil {
		return nil, err
	}
	out := make([]string, len(d.Active))
	for i, a := range d.Active {
		out[i] = a.URL
	}
	return out, nil
}

// Ready returns nil when Prometheus answers /-/ready with 200.
func (c *Client) Ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/-/ready", nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("prometheus /-/ready: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("prometheus /-/ready: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// stop turns a permanent error into Gomega's StopTrying, so Eventually fails at once.
func stop(err error) error {
	if err != nil && permanent(err) {
		return gomega.StopTrying("Prometheus rejected the query; retrying cannot help").Wrap(err)
	}
	return err
}

// Poll returns a function for Eventually that runs instant query q.
func (c *Client) Poll(q string) func(context.Context) (Vector, error) {
	return func(ctx context.Context) (Vector, error) {
		v, err := c.QueryVector(ctx, q)
		return v, stop(err)
	}
}

// PollMatrix returns a function for Eventually that runs range-selector query q.
func (c *Client) PollMatrix(q string) func(context.Context) (Matrix, error) {
	return func(ctx context.Context) (Matrix, error) {
		m, err := c.QueryMatrix(ctx, q)
		return m, stop(err)
	}
}

var (
	defaultMu     sync.RWMutex
	defaultClient *Client
)

// SetDefault sets the client used by the package-level Query and QueryMatrix (the suite does it
// in BeforeSuite).
func SetDefault(c *Client) {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	defaultClient = c
}

// Default returns the client set by SetDefault, or nil.
func Default() *Client {
	defaultMu.RLock()
	defer defaultMu.RUnlock()
	return defaultClient
}

func errNoDefault() error {
	return gomega.StopTrying("prom: no default client: call prom.SetDefault(prom.New(url)) in BeforeSuite")
}

// Query returns a function for Eventually that runs instant query q on the default client.
func Query(q string) func(context.Context) (Vector, error) {
	return func(ctx context.Context) (Vector, error) {
		c := Default()
		if c == nil {
			return Vector{Query: q}, errNoDefault()
		}
		return c.Poll(q)(ctx)
	}
}

// QueryMatrix returns a function for Eventually that runs range-selector query q on the default
// client.
func QueryMatrix(q string) func(context.Context) (Matrix, error) {
	return func(ctx context.Context) (Matrix, error) {
		c := Default()
		if c == nil {
			return Matrix{Query: q}, errNoDefault()
		}
		return c.PollMatrix(q)(ctx)
	}
}

// Quote escapes s as a PromQL string literal, for building selectors from names.
func Quote(s string) string { return strconv.Quote(s) }

// Selector renders a metric selector from a name and exact label matches:
// Selector("up", Labels{"pdu": "a"}) is up{pdu="a"}.
func Selector(metric string, l Labels) string {
	keys := slices.Sorted(maps.Keys(l))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + Quote(l[k])
	}
	return metric + "{" + strings.Join(parts, ",") + "}"
}
