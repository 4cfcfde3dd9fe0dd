package specs_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/specs/prom"
	"github.com/wattson-dev/wattson/specs/sim"
)

// energySelector selects the energy (or power) series checked: all of them, or one namespace's.
func energySelector(metric string, extra prom.Labels) string {
	l := prom.Labels{}
	if cfg.Namespace != "" {
		l["namespace"] = cfg.Namespace
	}
	for k, v := range extra {
		l[k] = v
	}
	return prom.Selector(metric, l)
}

// errTooYoung says no series has enough history to compare yet.
var errTooYoung = fmt.Errorf("no energy series has enough samples yet")

// energyAgreement compares, for every energy counter with a power series of the same labels,
// its increase with the integral of power over the same interval, twice:
//
//   - over the whole window since `since` (first to last sample): the counter counts what the
//     PDU delivers;
//   - over its stall, from the sample where it last changed to its last sample: a counter
//     that stands still while power x time since its last step is more than a step is stuck (a
//     frozen PDU). Over a long window such a stall hides in the tolerance; on its own it shows
//     within seconds on a fine counter.
//
// The allowed difference is tolerance times the integral, plus the counter's resolution (its
// smallest step seen, at least one raw unit of its model: a counter in tenths of kWh cannot show
// less than 360 kJ), plus the power of the sampling lag: a recorded sample carries a raw scrape
// up to one scrape interval plus the scrape's duration (at most its timeout) old, so the ends of
// an interval may be off by that much. Windows whose power integral is below minIntegral joules
// are not judged yet (too little time for a coarse counter to move); errTooYoung says no window
// was.
func energyAgreement(ctx context.Context, extra prom.Labels, since time.Time, minIntegral float64) error {
	window := time.Since(since).Round(time.Second)
	rng := fmt.Sprintf("[%ds]", int(window.Seconds()))
	energy, err := promc.QueryMatrix(ctx, energySelector(v1alpha1.MetricEnergy, extra)+rng)
	if err != nil {
		return err
	}
	if len(energy.Series) == 0 {
		return fmt.Errorf("no %s series in the last %s", v1alpha1.MetricEnergy, window)
	}
	power, err := promc.QueryMatrix(ctx, energySelector(v1alpha1.MetricPower, extra)+rng)
	if err != nil {
		return err
	}
	powerOf := map[string]prom.Series{}
	for _, s := range power.Series {
		powerOf[s.Metric.Without("__name__").String()] = s
	}
	lagOf := map[string]time.Duration{}
	for _, p := range listPDUs(ctx) {
		lagOf[p.Namespace+"/"+p.Name] = interval(p) + timeout(p)
	}
	var bad []string
	compared := 0
	for _, e := range energy.Series {
		key := e.Metric.Without("__name__").String()
		p, ok := powerOf[key]
		if !ok {
			bad = append(bad, fmt.Sprintf("energy %s has no power series with the same labels", key))
			continue
		}
		if len(e.Points) < 3 || len(p.Points) < 2 {
			continue
		}
		step := math.Inf(1)
		for i := 1; i < len(e.Points); i++ {
			if d := e.Points[i].Value - e.Points[i-1].Value; d > 0 && d < step {
				step = d
			}
		}
		if math.IsInf(step, 1) {
			step = 0
		}
		if r := modelEnergyStep(e.Metric["model"]); r > step {
			step = r
		}
		lag, ok := lagOf[e.Metric["namespace"]+"/"+e.Metric["pdu"]]
		if !ok {
			lag = time.Minute + 10*time.Second // the PDU defaults: interval 60s, timeout 10s
		}
		allowed := func(from, to time.Time, integral float64) float64 {
			avg := integral / to.Sub(from).Seconds()
			return cfg.EnergyTolerance*integral + step + avg*lag.Seconds()
		}
		last := e.Points[len(e.Points)-1]

		j := len(e.Points) - 1
		for j > 0 && e.Points[j-1].Value == last.Value {
			j--
		}
		if stalled := e.Points[j]; last.Time.After(stalled.Time) {
			integral := integrate(p.Points, stalled.Time, last.Time)
			if limit := allowed(stalled.Time, last.Time, integral); integral > limit {
				bad = append(bad, fmt.Sprintf("%s: energy stood still at %.0f J from %s to %s, but power x time is %.0f J (allowed %.0f J: %g%% plus one counter step of %.0f J plus %s of sampling lag)",
					key, last.Value, stalled.Time.UTC().Format(time.RFC3339), last.Time.UTC().Format(time.RFC3339), integral,
					limit, cfg.EnergyTolerance*100, step, lag))
				continue
			}
		}

		first := e.Points[0]
		increase := last.Value - first.Value
		if increase < 0 {
			continue // a reset: the "only grow" spec reports it
		}
		integral := integrate(p.Points, first.Time, last.Time)
		if integral < minIntegral {
			continue
		}
		compared++
		if limit := allowed(first.Time, last.Time, integral); math.Abs(increase-integral) > limit {
			bad = append(bad, fmt.Sprintf("%s: energy grew %.0f J from %s to %s, but power x time is %.0f J (allowed difference %.0f J: %g%% plus one counter step of %.0f J plus %s of sampling lag)",
				key, increase, first.Time.UTC().Format(time.RFC3339), last.Time.UTC().Format(time.RFC3339), integral,
				limit, cfg.EnergyTolerance*100, step, lag))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("energy and power disagree:\n  %s", strings.Join(bad, "\n  "))
	}
	if compared == 0 {
		return errTooYoung
	}
	return nil
}

// modelEnergyStep is one raw unit of a model's energy counter in joules, 0 when unknown.
func modelEnergyStep(model string) float64 {
	for _, r := range sim.Models[model].Readings {
		if r.Metric == v1alpha1.MetricEnergy {
			return r.Scale
		}
	}
	return 0
}

// integrate returns the integral of a step-wise linear (trapezoid) power series from a to b, in
// joules. Before the first and after the last point the nearest value holds.
func integrate(points []prom.Point, a, b time.Time) float64 {
	at := func(t time.Time) float64 {
		if !t.After(points[0].Time) {
			return points[0].Value
		}
		for i := 1; i < len(points); i++ {
			if !t.After(points[i].Time) {
				p, q := points[i-1], points[i]
				f := t.Sub(p.Time).Seconds() / q.Time.Sub(p.Time).Seconds()
				return p.Value + f*(q.Value-p.Value)
			}
		}
		return points[len(points)-1].Value
	}
	ts := []time.Time{a}
	for _, p := range points {
		if p.Time.After(a) && p.Time.Before(b) {
			ts = append(ts, p.Time)
		}
	}
	ts = append(ts, b)
	var sum float64
	for i := 1; i < len(ts); i++ {
		sum += (at(ts[i-1]) + at(ts[i])) / 2 * ts[i].Sub(ts[i-1]).Seconds()
	}
	return sum
}

var _ = Describe("Energy counters", Label("energy"), func() {
	It("only grow", func(ctx SpecContext) {
		// A PDU reboot or a manual reset fails this spec too, for --wattson.energy-window: raw
		// counter values went back, which whoever reads them must know (rate() copes).
		Eventually(ctx, prom.QueryMatrix(energySelector(v1alpha1.MetricEnergy, nil)+
			fmt.Sprintf("[%ds]", int(cfg.EnergyWindow.Seconds())))).Should(prom.Lookback(prom.BeNonDecreasing()))
	})

	It("agree with power x time", func(ctx SpecContext) {
		err := energyAgreement(ctx, nil, time.Now().Add(-cfg.EnergyWindow), 0)
		if errors.Is(err, errTooYoung) {
			Skip(fmt.Sprintf("%v: each counter needs 3 samples within --wattson.energy-window (%s)", err, cfg.EnergyWindow))
		}
		Expect(err).NotTo(HaveOccurred())
	})
})
