// Package alerts is an Alertmanager API v2 client for specs: list the alerts Alertmanager holds,
// by name and labels, and match them with Gomega:
//
//	Eventually(ctx, am.Poll("WattsonPDUScrapeDown", alerts.Labels{"pdu": "rack-a01-pdu1"})).Should(alerts.BeFiring())
//	Eventually(ctx, am.Poll("WattsonPDUScrapeDown", alerts.Labels{"pdu": "rack-a01-pdu1"})).Should(alerts.BeResolved())
//
// Alertmanager lists only alerts that have not ended, so "resolved" means "no longer listed".
package alerts

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/wattson-dev/wattson/specs/internal/jsonhttp"
)

// Client talks to one Alertmanager.
type Client struct {
	URL  string
	HTTP *http.Client
}

// New returns a client for the Alertmanager at base.
func New(base string) *Client {
	return &Client{URL: strings.TrimSuffix(base, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Labels are an alert's labels, or the subset a query asks for.
type Labels map[string]string

// String renders labels as {a="1", b="2"}, sorted.
func (l Labels) String() string {
	keys := slices.Sorted(maps.Keys(l))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, l[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Status is an alert's state in Alertmanager.
type Status struct {
	// State is active, suppressed (silenced or inhibited) or unprocessed.
	State       string   `json:"state"`
	SilencedBy  []string `json:"silencedBy"`
	InhibitedBy []string `json:"inhibitedBy"`
}

// Alert is one alert as Alertmanager holds it.
type Alert struct {
	Labels       Labels            `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	Status       Status            `json:"status"`
	Receivers    []struct {
		Name string `json:"name"`
	} `json:"receivers"`
}

// Name is the alert's alertname.
func (a Alert) Name() string { return a.Labels["alertname"] }

// Query selects alerts by name (empty for any) and exact labels.
type Query struct {
	Name   string
	Labels Labels
}

func (q Query) String() string {
	l := maps.Clone(q.Labels)
	if l == nil {
		l = Labels{}
	}
	if q.Name != "" {
		l["alertname"] = q.Name
	}
	return l.String()
}

// List is the answer to a query: the alerts Alertmanager holds that match it.
type List struct {
	Query  Query
	Alerts []Alert
}

// GomegaString renders the list one alert a line, for failure messages.
func (l List) GomegaString() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Alertmanager holds %d alerts matching %s", len(l.Alerts), l.Query)
	for _, a := range l.Alerts {
		fmt.Fprintf(&b, "\n  %s %s since %s", a.Labels, a.Status.State, a.StartsAt.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// Alerts returns the alerts Alertmanager holds (active, silenced and inhibited; never resolved
// ones) that match q.
func (c *Client) Alerts(ctx context.Context, q Query) (List, error) {
	params := url.Values{}
	for _, k := range slices.Sorted(maps.Keys(q.Labels)) {
		params.Add("filter", fmt.Sprintf("%s=%q", k, q.Labels[k]))
	}
	if q.Name != "" {
		params.Add("filter", fmt.Sprintf("alertname=%q", q.Name))
	}
	out := List{Query: q, Alerts: []Alert{}}
	if err := c.do(ctx, http.MethodGet, "/api/v2/alerts?"+params.Encode(), nil, &out.Alerts); err != nil {
		return out, fmt.Errorf("list alerts %s: %w", q, err)
	}
	return out, nil
}

// Post sends alerts to Alertmanager as Prometheus does. An alert with EndsAt in the past is
// resolved.
func (c *Client) Post(ctx context.Context, alerts ...Alert) error {
	type posted struct {
		Labels       Labels            `json:"labels"`
		Annotations  map[string]string `json:"annotations,omitempty"`
		StartsAt     *time.Time        `json:"startsAt,omitempty"`
		EndsAt       *time.Time        `json:"endsAt,omitempty"`
		GeneratorURL string            `json:"generatorURL,omitempty"`
	}
	body := make([]posted, len(alerts))
	for i, a := range alerts {
		body[i] = posted{Labels: a.Labels, Annotations: a.Annotations, GeneratorURL: a.GeneratorURL}
		if !a.StartsAt.IsZero() {
			body[i].StartsAt = &alerts[i].StartsAt
		}
		if !a.EndsAt.IsZero() {
			body[i].EndsAt = &alerts[i].EndsAt
		}
	}
	if err := c.do(ctx, http.MethodPost, "/api/v2/alerts", body, nil); err != nil {
		return fmt.Errorf("post alerts: %w", err)
	}
	return nil
}

// ClusterStatus is the part of /api/v2/status that says Alertmanager is up and configured.
type ClusterStatus struct {
	Cluster struct {
		Status string `json:"status"` // ready, settling or disabled
	} `json:"cluster"`
	Config struct {
		Original string `json:"original"`
	} `json:"config"`
	VersionInfo struct {
		Version string `json:"version"`
	} `json:"versionInfo"`
	Uptime time.Time `json:"uptime"`
}

// Status returns Alertmanager's status: version, cluster state and loaded configuration.
func (c *Client) Status(ctx context.Context) (ClusterStatus, error) {
	var s ClusterStatus
	if err := c.do(ctx, http.MethodGet, "/api/v2/status", nil, &s); err != nil {
		return s, fmt.Errorf("alertmanager status: %w", err)
	}
	return s, nil
}

// Ready returns nil when Alertmanager answers /-/ready with 200.
func (c *Client) Ready(ctx context.Context) error {
	if err := c.do(ctx, http.MethodGet, "/-/ready", nil, nil); err != nil {
		return fmt.Errorf("alertmanager ready: %w", err)
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return jsonhttp.Do(ctx, c.HTTP, method, c.URL, path, in, out)
}

// Poll returns a function for Eventually that lists the alerts named name (any when empty) with
// the given labels.
func (c *Client) Poll(name string, labels Labels) func(context.Context) (List, error) {
	return func(ctx context.Context) (List, error) {
		return c.Alerts(ctx, Query{Name: name, Labels: labels})
	}
}
