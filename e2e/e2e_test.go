// Package e2e runs the whole chain on loopback (internal/stack, as `make demo` does), asserts that
// the energy suite goes green in the runtime, then injects every simulator fault and measures the
// time from each fault to its alert in Alertmanager against its lower bound, and finally runs the
// suite's opt-in fault specs against the same stack, with and without each alert rule they need.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/wattson-dev/wattson/internal/stack"
	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/specs/prom"
	"github.com/wattson-dev/wattson/specs/sim"
)

const (
	scrapeInterval = 2 * time.Second
	evalInterval   = 2 * time.Second
	specsInterval  = 5 * time.Second
	alertFor       = 6 * time.Second
	// specsEventually is how long a failing spec retries before it fails.
	specsEventually = 8 * time.Second
	// slack is what the issue allows above the lower bound.
	slack = 10 * time.Second
	// energyTolerance is the suite's default --wattson.energy-tolerance (the stack sets none).
	energyTolerance = 0.1
)

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("the end-to-end stack takes minutes; skipped with -short")
	}
	for _, b := range []string{"kube-apiserver", "etcd", "prometheus", "alertmanager", "snmp_exporter",
		"wattson-operator", "wattson-snmpsim", "wattson-runtime", "specs.test"} {
		testenv.Binary(t, b)
	}
	testenv.Fixtures(t, "mibs", "vendor", "apc", "PowerNet-MIB")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	rules, err := stack.AlertRules(alertFor)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	var logw io.Writer = &log
	// WATTSON_E2E_LOG also writes the stack's log to a file, to study a run that passed.
	if p := os.Getenv("WATTSON_E2E_LOG"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		logw = io.MultiWriter(&log, f)
	}
	s, err := stack.Start(ctx, stack.Options{
		Log: logw, Verbose: os.Getenv("WATTSON_E2E_VERBOSE") != "",
		ScrapeInterval: scrapeInterval, EvalInterval: evalInterval, SpecsInterval: specsInterval,
		SpecsEventually: specsEventually,
		// The fault specs wait for an alert as long as the slowest rule path's bound allows.
		AlertTimeout:     scrapeInterval + stack.PDUTimeout(scrapeInterval) + 2*evalInterval + alertFor + slack,
		SpecsLabelFilter: "!faults", ExtraRuleFiles: rules,
	})
	if err != nil {
		t.Fatalf("start the stack: %v\n%s", err, log.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stack log:\n%s", log.String())
			t.Logf("operator output:\n%s", s.Operator.Tail(60))
			t.Logf("runtime output:\n%s", s.Runtime.Tail(80))
		}
		s.Stop()
	})
	logf := func(format string, args ...any) {
		fmt.Fprintf(logw, "%s  e2e: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}

	t.Run("green", func(t *testing.T) {
		start := time.Now()
		var st stack.Status
		var down error
		for time.Since(start) < 4*time.Minute {
			st = s.Status(ctx)
			down = kitTargetsDown(ctx, s)
			if st.PDUs == len(stack.DemoPDUs) && st.PDUsReady == st.PDUs && st.PDUsCollecting == st.PDUs &&
				st.RunResult == "passed" && st.SpecsFailed == 0 && st.SpecsPassed > 0 && down == nil {
				t.Logf("all green after %s: %s; every kit target up", time.Since(start).Round(time.Second), st)
				return
			}
			time.Sleep(time.Second)
		}
		t.Fatalf("not green within 4m: %s; kit targets down: %v", st, down)
	})
	if t.Failed() {
		return
	}

	t.Run("fault to alert", func(t *testing.T) { faultLatencies(ctx, t, s, logf) })
	t.Run("fault specs need their rules", func(t *testing.T) { faultSpecsNeedRules(ctx, t, s, rules, logf) })
}

// kitTargetsDown is nil when Prometheus has an up target for each of Wattson's own components, as
// the cluster e2e requires of the kit's ServiceMonitors; the operator's is HTTPS with a token.
func kitTargetsDown(ctx context.Context, s *stack.Stack) error {
	res, err := prom.New(s.Prometheus.URL).API().Targets(ctx)
	if err != nil {
		return err
	}
	targets := res.Active
	var down []string
	for _, job := range []string{"wattson-operator", "wattson-runtime", "wattson-snmpsim", "wattson-snmp-exporter"} {
		up := false
		for _, tg := range targets {
			up = up || (tg.ScrapePool == job && tg.Health == "up")
		}
		if !up {
			state := "no target"
			for _, tg := range targets {
				if tg.ScrapePool == job {
					state = fmt.Sprintf("%s %s: %s", tg.ScrapeURL, tg.Health, tg.LastError)
				}
			}
			down = append(down, job+" ("+state+")")
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("%v", down)
	}
	return nil
}

// fault is a simulator fault and the alert that must page for it.
type fault struct {
	device, alert string
	// set is the fault injected into the device.
	set sim.Fault
	// pdu: the alert must carry this PDU's label (spec alerts name the spec instead).
	pdu bool
	// spec: the spec whose WattsonSpecFailing alert must fire.
	spec string
	// bound is the lower bound of a rule-path alert; specBound computes the spec path's.
	bound time.Duration
	// visible: how long after the fault the spec can see it at the latest (spec path).
	visible func() time.Duration
	// event faults (a counter reset) cannot be undone: their alert lasts its rule's window.
	event bool
}

func (f fault) match(l map[string]string) bool {
	return l["alertname"] == f.alert && (!f.pdu || l["pdu"] == pduFor(f.device)) && (f.spec == "" || l["spec"] == f.spec)
}

// faultLatencies injects each fault, waits for its alert and then for its resolution, and holds
// the time to the alert to the fault's lower bound plus the 10 s.
func faultLatencies(ctx context.Context, t *testing.T, s *stack.Stack, logf func(string, ...any)) {
	timeout := stack.PDUTimeout(scrapeInterval)
	// Lower bounds of the rule path (the issue's "scrape interval + rule evaluation interval +
	// for"): what the pipeline's intervals and `for` take when every interval is against it; the
	// alert must come within that plus the 10 s. The fault shows in the first scrape after it (within one scrape interval); a
	// scrape that fails is known only when it times out; the rule sees it at its next evaluation
	// and fires after its `for` (a multiple of the evaluation interval here, so evaluated at
	// once); Prometheus sends it to Alertmanager right after that evaluation.
	scrapeFails := scrapeInterval + timeout + evalInterval + alertFor
	// A missing or changed reading reaches an alert through two rule groups: the operator's
	// recording rules make wattson_pdu_power_watts and wattson_pdu_energy_joules_total, and the
	// alert rule reads those, evaluated in its own group at its own offset.
	viaRecording := scrapeInterval + 2*evalInterval
	// A frozen PDU shows once its energy counter has stood still for longer than the specs allow
	// (specs/energy_test.go, energyAgreement): power x time since the counter's last step must
	// exceed one step plus the tolerance plus the power of the sampling lag (the PDU's interval
	// plus its timeout). The last step is at the latest in the first frozen sample, and a sample
	// past the stall must be recorded too.
	frozenVisible := func(device string, step float64) func() time.Duration {
		return func() time.Duration {
			w, err := s.QueryScalar(ctx, fmt.Sprintf(`sum(%s{pdu=%q})`, v1alpha1.MetricPower, pduFor(device)))
			if err != nil || w <= 0 {
				t.Errorf("power of %s: %v (%g W)", device, err, w)
				return 0
			}
			stall := time.Duration((step/w + (scrapeInterval + timeout).Seconds()) / (1 - energyTolerance) * float64(time.Second))
			return viaRecording + stall + evalInterval
		}
	}
	simulator := sim.New(s.Sim.URL)
	faults := []fault{
		{device: "apc-rpdu2", set: sim.Fault{Type: sim.FaultTimeout}, alert: "WattsonPDUScrapeDown", pdu: true, bound: scrapeFails},
		// snmp_exporter keeps up at 1 on an SNMP error-status: the power vanishes instead.
		{device: "cyberpower-epdu", set: sim.Fault{Type: sim.FaultError, Status: "genErr"}, alert: "WattsonPDUPowerAbsent", pdu: true,
			bound: viaRecording + alertFor},
		// Every answer held back for the whole scrape timeout: a slow PDU whose scrapes fail, what
		// a user sees first. (Slowness under the timeout pages WattsonPDUScrapeNearTimeout, over a
		// 10-minute average.)
		{device: "cyberpower-epdu", set: sim.Fault{Type: sim.FaultDelay, Delay: timeout}, alert: "WattsonPDUScrapeDown", pdu: true,
			bound: scrapeFails},
		{device: "raritan-px3", set: sim.Fault{Type: sim.FaultDrop, Prefixes: []string{"1.3.6.1.4.1.13742.6.5"}}, alert: "WattsonPDUPowerAbsent", pdu: true,
			bound: viaRecording + alertFor},
		// A frozen PDU serves its last values for ever: only the energy specs can tell (before
		// the scale fault, which upsets the same spec for its whole energy window).
		{device: "raritan-px3", set: sim.Fault{Type: sim.FaultFreeze}, alert: "WattsonSpecFailing", spec: "Energy counters agree with power x time",
			visible: frozenVisible("raritan-px3", 3600)},
		// No rule knows a PDU's true power: the comparison with the simulator's truth pages.
		{device: "apc-rpdu2", set: sim.Fault{Type: sim.FaultScale, Factor: 10, Prefixes: []string{"1.3.6.1.4.1.318.1.1.26.4.3.1.5"}}, alert: "WattsonSpecFailing",
			spec: "Power readings equal what the simulator serves, in SI units", visible: func() time.Duration { return viaRecording }},
		// A reset shows in the recorded counter; the alert has no `for`. On APC, so that the
		// fault specs' target (the finest counter, Raritan's) has no reset alert (an hour long).
		{device: "apc-rpdu2", set: sim.Fault{Type: sim.FaultReset}, alert: "WattsonPDUEnergyCounterReset", pdu: true, bound: viaRecording, event: true},
	}
	type result struct {
		fault
		latency, bound, resolve time.Duration
		runs                    string
		err                     error
	}
	var results []result
	for _, f := range faults {
		r := result{fault: f, bound: f.bound, runs: "-"}
		// An alert still active from before would make the latency meaningless.
		if _, _, err := waitAlert(ctx, s, f.match, false, time.Minute); err != nil {
			t.Fatalf("%s on %s: %s was still firing before the fault: %v", f.set.Type, f.device, f.alert, err)
		}
		t0 := time.Now()
		var visible time.Duration
		if f.visible != nil {
			visible = f.visible()
		}
		if _, err := simulator.SetFault(ctx, f.device, f.set); err != nil {
			t.Fatal(err)
		}
		logf("fault %s on %s", f.set.Type, f.device)
		var fired map[string]string
		fired, r.latency, r.err = waitAlert(ctx, s, f.match, true, 3*time.Minute)
		logf("%s fired after %s", f.alert, r.latency.Round(100*time.Millisecond))
		if f.visible != nil && r.err == nil {
			r.bound, r.runs, r.err = specBound(ctx, s, t0, visible)
		}
		match := f.match
		if fired != nil {
			// Resolution is of that very alert.
			match = func(l map[string]string) bool {
				return l["alertname"] == fired["alertname"] && l["pdu"] == fired["pdu"] && l["spec"] == fired["spec"]
			}
		}
		if _, err := simulator.ClearFaults(ctx, f.device); err != nil {
			t.Fatal(err)
		}
		cleared := time.Now()
		if r.err == nil && !f.event {
			if _, _, err := waitAlert(ctx, s, match, false, 3*time.Minute); err != nil {
				r.err = fmt.Errorf("did not resolve: %w", err)
			}
			r.resolve = time.Since(cleared)
		}
		results = append(results, r)
	}

	var tab bytes.Buffer
	w := tabwriter.NewWriter(&tab, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "fault\tdevice\talert\tfault→alert\tlower bound\tbound+10s\tfailing runs\tresolved after\tresult")
	for _, r := range results {
		verdict := "ok"
		switch {
		case r.err != nil:
			verdict = r.err.Error()
		case r.latency > r.bound+slack:
			verdict = "too slow"
		}
		resolved := fmt.Sprintf("%.1fs", r.resolve.Seconds())
		if r.event {
			resolved = "(event)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%.1fs\t%.1fs\t%.1fs\t%s\t%s\t%s\n", r.set.Type, r.device, r.alert,
			r.latency.Seconds(), r.bound.Seconds(), (r.bound + slack).Seconds(), r.runs, resolved, verdict)
		if verdict != "ok" {
			t.Errorf("%s on %s: %s", r.set.Type, r.device, verdict)
		}
	}
	w.Flush()
	t.Logf("fault → alert latency (scrape %s, eval %s, for %s, specs every %s):\n%s", scrapeInterval, evalInterval, alertFor, specsInterval, tab.String())
	fmt.Print(tab.String())
}

// specBound is the lower bound of an alert that only the specs can raise (WattsonSpecFailing,
// which needs two failed runs in a row and has no `for`): the rule path's "rerun interval +
// scrape interval + rule evaluation interval + for", with the runs themselves in it.
//
//   - visible: the fault reaches what the spec reads (a scrape, the recording rules; for a
//     frozen counter, the stall the spec allows);
//   - then the first run to start after that must fail, and so must the next: a run in flight
//     may have checked before the fault showed, and the runtime waits its interval after each
//     run (from its end) before the next;
//   - the second failed run's result is exported when it ends, scraped from the runtime within
//     a scrape interval, and the alert fires at the next rule evaluation.
//
// The runs' start and end come from the runtime's own records (/api/runs), since a run lasts as
// long as its specs take: a failing spec retries for its Eventually timeout. specBound waits for
// those two runs (the fault still on) and returns the bound and their durations; an alert may
// come before them, when an earlier run already saw the fault.
func specBound(ctx context.Context, s *stack.Stack, t0 time.Time, visible time.Duration) (time.Duration, string, error) {
	var after []stack.Run
	for start := time.Now(); ; time.Sleep(500 * time.Millisecond) {
		runs, err := s.Runs(ctx)
		if err != nil {
			return 0, "", fmt.Errorf("the runtime's runs: %w", err)
		}
		after = slices.DeleteFunc(runs, func(r stack.Run) bool { return !r.Complete() || r.StartedAt.Before(t0.Add(visible)) })
		if len(after) >= 2 {
			break
		}
		if time.Since(start) > 2*time.Minute {
			return 0, "", fmt.Errorf("the runtime completed %d runs in the 2m after the fault was visible (%s after it)", len(after), visible.Round(100*time.Millisecond))
		}
	}
	r1, r2 := after[0], after[1]
	desc := fmt.Sprintf("%.1fs+%.1fs", r1.FinishedAt.Sub(r1.StartedAt).Seconds(), r2.FinishedAt.Sub(r2.StartedAt).Seconds())
	if r1.Result != "failed" || r2.Result != "failed" {
		return 0, desc, fmt.Errorf("the first runs after the fault was visible (%s after it) did not both fail: %s, %s", visible.Round(100*time.Millisecond), r1.Result, r2.Result)
	}
	return r2.FinishedAt.Sub(t0) + scrapeInterval + evalInterval, desc, nil
}

// pduFor is the PDU the stack declared for a simulator device.
func pduFor(device string) string {
	for _, d := range stack.DemoPDUs {
		if d.Community == device {
			return d.Name
		}
	}
	return ""
}

// waitAlert waits until an alert matching match is active in Alertmanager (or, with firing
// false, until none is) and returns its labels and how long that took.
func waitAlert(ctx context.Context, s *stack.Stack, match func(map[string]string) bool, firing bool, timeout time.Duration) (map[string]string, time.Duration, error) {
	start := time.Now()
	for time.Since(start) < timeout {
		active, err := s.ActiveAlerts(ctx)
		if err == nil {
			i := slices.IndexFunc(active, match)
			if firing && i >= 0 {
				return active[i], time.Since(start), nil
			}
			if !firing && i < 0 {
				return nil, time.Since(start), nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	state := "fire"
	if !firing {
		state = "resolve"
	}
	return nil, time.Since(start), fmt.Errorf("did not %s within %s", state, timeout)
}
