// Package collect asks Prometheus whether energy data really flows for each PDU. A Poller runs
// three queries per period for all PDUs at once (so 10,000 PDUs cost three queries, not 10,000),
// keeps the answers, and signals the PDUs whose answer changed so their Collecting condition is
// recomputed.
package collect

import (
	"context"
	"fmt"
	"sync"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// Queries the Poller runs. They select on the labels every PDU series carries.
const (
	UpQuery    = `up{job="` + v1alpha1.PDUJob + `"}`
	PowerQuery = `sum by (` + v1alpha1.NamespaceLabel + `, ` + v1alpha1.PDUNameLabel + `, ` + v1alpha1.ScopeLabel + `) (` + v1alpha1.MetricPower + `)`
	AgeQuery   = `max by (` + v1alpha1.NamespaceLabel + `, ` + v1alpha1.PDUNameLabel + `) (timestamp(` + v1alpha1.MetricPower + `))`
)

// Reading is what Prometheus knows about one PDU.
type Reading struct {
	// Scraped is true when an up series exists for the PDU.
	Scraped bool
	// Up is the value of up (1 when the last scrape succeeded).
	Up float64
	// Watts is the summed power per scope (device, inlet, phase, outlet).
	Watts map[string]float64
	// SampleTime is the timestamp of the newest power sample.
	SampleTime time.Time
}

// Snapshot is the result of one poll.
type Snapshot struct {
	// At is when the poll ran, in Prometheus' clock.
	At time.Time
	// Err is set when Prometheus could not be queried; readings are then empty.
	Err      error
	readings map[types.NamespacedName]Reading
}

// Reading returns what Prometheus knows about one PDU.
func (s *Snapshot) Reading(key types.NamespacedName) Reading { return s.readings[key] }

// Querier is the part of Prometheus' API the Poller needs; promv1.API satisfies it.
type Querier interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...promv1.Option) (model.Value, promv1.Warnings, error)
}

// Poller queries Prometheus every Interval. It is a controller-runtime Runnable.
type Poller struct {
	api      Querier
	interval time.Duration
	changed  func(types.NamespacedName)

	mu   sync.RWMutex
	snap *Snapshot
}

// NewPoller returns a Poller on the Prometheus at url. changed is called for each PDU whose
// reading changed after a poll (and for all known PDUs when the error state changes).
func NewPoller(url string, interval time.Duration, changed func(types.NamespacedName)) (*Poller, error) {
	c, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", url, err)
	}
	return NewPollerWithAPI(promv1.NewAPI(c), interval, changed), nil
}

// NewPollerWithAPI returns a Poller on q, for tests.
func NewPollerWithAPI(q Querier, interval time.Duration, changed func(types.NamespacedName)) *Poller {
	return &Poller{api: q, interval: interval, changed: changed}
}

// Snapshot returns the latest poll, or nil before the first one.
func (p *Poller) Snapshot() *Snapshot {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.snap
}

// Start polls until ctx ends.
func (p *Poller) Start(ctx context.Context) error {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.Poll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Poll runs the queries once and publishes the snapshot.
func (p *Poller) Poll(ctx context.Context) {
	now := time.Now()
	snap := &Snapshot{At: now, readings: map[types.NamespacedName]Reading{}}
	if err := p.query(ctx, now, snap); err != nil {
		log.FromContext(ctx).Error(err, "querying Prometheus")
		snap = &Snapshot{At: now, Err: err, readings: map[types.NamespacedName]Reading{}}
	}
	p.mu.Lock()
	old := p.snap
	p.snap = snap
	p.mu.Unlock()
	if p.changed == nil {
		return
	}
	for key := range diff(old, snap) {
		p.changed(key)
	}
}

func (p *Poller) query(ctx context.Context, now time.Time, snap *Snapshot) error {
	ctx, cancel := context.WithTimeout(ctx, p.interval)
	defer cancel()
	vec := func(q string) (model.Vector, error) {
		v, _, err := p.api.Query(ctx, q, now)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q, err)
		}
		vv, ok := v.(model.Vector)
		if !ok {
			return nil, fmt.Errorf("query %s: got %s, want a vector", q, v.Type())
		}
		return vv, nil
	}
	get := func(m model.Metric) (types.NamespacedName, Reading) {
		key := types.NamespacedName{Namespace: string(m[v1alpha1.NamespaceLabel]), Name: string(m[v1alpha1.PDUNameLabel])}
		return key, snap.readings[key]
	}
	up, err := vec(UpQuery)
	if err != nil {
		return err
	}
	for _, s := range up {
		key, r := get(s.Metric)
		r.Scraped, r.Up = true, float64(s.Value)
		snap.readings[key] = r
	}
	power, err := vec(PowerQuery)
	if err != nil {
		return err
	}
	for _, s := range power {
		key, r := get(s.Metric)
		if r.Watts == nil {
			r.Watts = map[string]float64{}
		}
		r.Watts[string(s.Metric[v1alpha1.ScopeLabel])] = float64(s.Value)
		snap.readings[key] = r
	}
	age, err := vec(AgeQuery)
	if err != nil {
		return err
	}
	for _, s := range age {
		key, r := get(s.Metric)
		r.SampleTime = time.UnixMilli(int64(float64(s.Value) * 1000))
		snap.readings[key] = r
	}
	return nil
}

// diff returns the PDUs whose reading differs between two snapshots. Power values count as
// changed too, so the Watts column follows the device.
func diff(old, cur *Snapshot) map[types.NamespacedName]struct{} {
	out := map[types.NamespacedName]struct{}{}
	if old == nil || (old.Err == nil) != (cur.Err == nil) {
		for k := range cur.readings {
			out[k] = struct{}{}
		}
		if old != nil {
			for k := range old.readings {
				out[k] = struct{}{}
			}
		}
		return out
	}
	for k, r := range cur.readings {
		if !equal(old.readings[k], r) {
			out[k] = struct{}{}
		}
	}
	for k := range old.readings {
		if _, ok := cur.readings[k]; !ok {
			out[k] = struct{}{}
		}
	}
	return out
}

func equal(a, b Reading) bool {
	if a.Scraped != b.Scraped || a.Up != b.Up || !a.SampleTime.Equal(b.SampleTime) || len(a.Watts) != len(b.Watts) {
		return false
	}
	for k, v := range a.Watts {
		if w, ok := b.Watts[k]; !ok || w != v {
			return false
		}
	}
	return true
}
