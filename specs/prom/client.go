// Package prom is the specs' Prometheus client: client_golang's api/prometheus/v1 underneath,
// with results in Gomega-friendly types and matchers over them:
//
//	Eventually(ctx, prom.Query(`wattson_pdu_power_watts`)).Should(prom.HaveSeries(prom.Labels{"pdu": "rack-a01-pdu1"}))
//
// Results carry the query, so a failure message says what was asked and what came back. A query
// Prometheus rejects (bad PromQL) stops Eventually at once: retrying cannot fix it. Anything the
// helpers here do not wrap is one call away on the same connection: Client.API.
package prom

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/onsi/gomega"
	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Client talks to one Prometheus through client_golang's API client.
type Client struct {
	url string
	raw promapi.Client
	api promv1.API
}

// New returns a client for the Prometheus at base, with a 30-second timeout per request.
func New(base string) *Client { return NewWithHTTP(base, &http.Client{Timeout: 30 * time.Second}) }

// NewWithHTTP returns a client for the Prometheus at base that sends its requests through hc.
// A base that is no URL gives a client whose every call fails with that error (permanently, for
// Eventually), so that a misconfigured suite says why on its first query.
func NewWithHTTP(base string, hc *http.Client) *Client {
	c := &Client{url: strings.TrimSuffix(base, "/")}
	raw, err := promapi.NewClient(promapi.Config{Address: c.url, Client: hc})
	if err != nil {
		raw = brokenClient{err: &badURLError{url: base, err: err}}
	}
	c.raw, c.api = raw, promv1.NewAPI(raw)
	return c
}

// URL is the base URL the client was made for, e.g. http://127.0.0.1:9090.
func (c *Client) URL() string { return c.url }

// API is client_golang's v1 API on the same connection, for what the helpers here do not wrap
// (targets, range queries, metadata...).
func (c *Client) API() promv1.API { return c.api }

// badURLError is a Prometheus URL that does not parse.
type badURLError struct {
	url string
	err error
}

func (e *badURLError) Error() string { return fmt.Sprintf("prometheus URL %q: %v", e.url, e.err) }
func (e *badURLError) Unwrap() error { return e.err }

// brokenClient is the promapi.Client of a URL that does not parse: every request fails.
type brokenClient struct{ err error }

func (b brokenClient) URL(string, map[string]string) *url.URL { return &url.URL{} }
func (b brokenClient) Do(context.Context, *http.Request) (*http.Response, []byte, error) {
	return nil, nil, b.err
}

// Labels are a series' labels, or the subset of them a matcher looks for.
type Labels map[string]string

func labelsOf(m model.Metric) Labels {
	l := make(Labels, len(m))
	for k, v := range m {
		l[string(k)] = string(v)
	}
	return l
}

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
	// Warnings are what Prometheus warned about while answering (e.g. a partial response).
	Warnings []string
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

// Matrix is the answer to an instant query of a range selector (x[5m]).
type Matrix struct {
	Query    string
	Series   []Series
	Warnings []string
}

// errWrongShape is a query whose answer is not of the kind asked for: the query must change.
var errWrongShape = errors.New("wrong result type")

// permanent reports whether retrying cannot help: the query itself, or the URL, is wrong.
func permanent(err error) bool {
	var ae *promv1.Error
	var be *badURLError
	return errors.As(err, &ae) && ae.Type == promv1.ErrBadData || errors.Is(err, errWrongShape) || errors.As(err, &be)
}

// query runs an instant query at Prometheus' now.
func (c *Client) query(ctx context.Context, q string) (model.Value, []string, error) {
	v, warnings, err := c.api.Query(ctx, q, time.Time{})
	if err != nil {
		return nil, warnings, fmt.Errorf("query %s: %w", q, err)
	}
	return v, warnings, nil
}

// QueryVector runs an instant query that must return an instant vector or a scalar (a scalar
// becomes one sample without labels).
func (c *Client) QueryVector(ctx context.Context, q string) (Vector, error) {
	v, warnings, err := c.query(ctx, q)
	out := Vector{Query: q, Samples: []Sample{}, Warnings: warnings}
	if err != nil {
		return out, err
	}
	switch v := v.(type) {
	case model.Vector:
		for _, s := range v {
			if s.Histogram != nil {
				continue // native histograms are not energy readings
			}
			out.Samples = append(out.Samples, Sample{Metric: labelsOf(s.Metric), Value: float64(s.Value), Time: s.Timestamp.Time()})
		}
	case *model.Scalar:
		out.Samples = append(out.Samples, Sample{Metric: Labels{}, Value: float64(v.Value), Time: v.Timestamp.Time()})
	default:
		return out, fmt.Errorf("query %s returned a %s; use QueryMatrix for range selectors: %w", q, v.Type(), errWrongShape)
	}
	return out, nil
}

// QueryMatrix runs an instant query of a range selector, e.g. wattson_pdu_energy_joules_total[10m],
// and returns the raw samples.
func (c *Client) QueryMatrix(ctx context.Context, q string) (Matrix, error) {
	v, warnings, err := c.query(ctx, q)
	out := Matrix{Query: q, Series: []Series{}, Warnings: warnings}
	if err != nil {
		return out, err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return out, fmt.Errorf("query %s returned a %s, want a range selector such as x[5m]: %w", q, v.Type(), errWrongShape)
	}
	for _, s := range m {
		se := Series{Metric: labelsOf(s.Metric), Points: make([]Point, 0, len(s.Values))}
		for _, p := range s.Values {
			se.Points = append(se.Points, Point{Time: p.Timestamp.Time(), Value: float64(p.Value)})
		}
		out.Series = append(out.Series, se)
	}
	return out, nil
}

// Rule is a recording or an alerting rule as Prometheus evaluates it, flat (client_golang gives
// one of two types in an []any), so that HaveField and a range over a group read plainly.
type Rule struct {
	Name      string
	Query     string
	Type      string // "recording" or "alerting"
	Health    string // "ok", "err" or "unknown" (not evaluated yet)
	LastError string
	State     string // alerting rules: inactive, pending, firing
}

// RuleGroup is a loaded rule group.
type RuleGroup struct {
	Name  string
	File  string
	Rules []Rule
}

// Rules returns the loaded rule groups.
func (c *Client) Rules(ctx context.Context) ([]RuleGroup, error) {
	res, err := c.api.Rules(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("prometheus rules: %w", err)
	}
	out := make([]RuleGroup, 0, len(res.Groups))
	for _, g := range res.Groups {
		rg := RuleGroup{Name: g.Name, File: g.File, Rules: make([]Rule, 0, len(g.Rules))}
		for _, r := range g.Rules {
			switch r := r.(type) {
			case promv1.AlertingRule:
				rg.Rules = append(rg.Rules, Rule{Name: r.Name, Query: r.Query, Type: string(promv1.RuleTypeAlerting),
					Health: string(r.Health), LastError: r.LastError, State: r.State})
			case promv1.RecordingRule:
				rg.Rules = append(rg.Rules, Rule{Name: r.Name, Query: r.Query, Type: string(promv1.RuleTypeRecording),
					Health: string(r.Health), LastError: r.LastError})
			default:
				return nil, fmt.Errorf("prometheus rules: group %s holds a %T", g.Name, r)
			}
		}
		out = append(out, rg)
	}
	return out, nil
}

// Alertmanagers returns the URLs of the Alertmanagers Prometheus sends alerts to.
func (c *Client) Alertmanagers(ctx context.Context) ([]string, error) {
	res, err := c.api.AlertManagers(ctx)
	if err != nil {
		return nil, fmt.Errorf("prometheus alertmanagers: %w", err)
	}
	out := make([]string, len(res.Active))
	for i, a := range res.Active {
		out[i] = a.URL
	}
	return out, nil
}

// Ready returns nil when Prometheus answers /-/ready with 200 (the v1 API has no such call).
func (c *Client) Ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.raw.URL("/-/ready", nil).String(), nil)
	if err != nil {
		return fmt.Errorf("prometheus /-/ready: %w", err)
	}
	resp, body, err := c.raw.Do(ctx, req) //nolint:bodyclose // promapi.Client.Do reads and closes the body
	if err != nil {
		return fmt.Errorf("prometheus /-/ready: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("prometheus /-/ready: %s: %.512s", resp.Status, strings.TrimSpace(string(body)))
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
