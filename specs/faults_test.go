package specs_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/wattson-dev/wattson/specs/alerts"
	"github.com/wattson-dev/wattson/specs/prom"
	"github.com/wattson-dev/wattson/specs/sim"
)

// alertLabelPrefix labels a fault spec with the alert it waits for ("alert:WattsonPDUScrapeDown"),
// so that a report says which alerting rule each spec depends on.
const alertLabelPrefix = "alert:"

// faultCase is one simulator fault and how the system must notice it.
type faultCase struct {
	name  string
	fault func(s simPDU) sim.Fault
	// alert must fire while the fault lasts and resolve after it is cleared (unless event).
	alert string
	// event: the fault is an event (reset) whose alert lasts for its rule's window.
	event bool
	// detect, instead of an alert, must fail while the fault lasts and pass after it is cleared.
	// It returns errTooYoung while it cannot decide yet.
	detect func(ctx context.Context, s simPDU, since time.Time) error
	// needsEnergy: skip models without an energy reading.
	needsEnergy bool
}

func faultCases() []faultCase {
	return []faultCase{
		{name: "an unanswering PDU fires WattsonPDUScrapeDown", alert: "WattsonPDUScrapeDown",
			fault: func(simPDU) sim.Fault { return sim.Fault{Type: sim.FaultTimeout} }},
		// snmp_exporter ends a walk on an SNMP error-status and still answers 200 with its own
		// metrics, so up stays 1: what pages is the power that vanished.
		{name: "a PDU answering with SNMP errors fires WattsonPDUPowerAbsent", alert: "WattsonPDUPowerAbsent",
			fault: func(simPDU) sim.Fault { return sim.Fault{Type: sim.FaultError, Status: "genErr"} }},
		// Every answer held back for the PDU's whole scrape timeout: no walk can finish in time,
		// so the scrape fails as it does for a PDU that does not answer. A slowness under the
		// timeout is WattsonPDUScrapeNearTimeout's, over a 10-minute average: too slow to wait for
		// here.
		{name: "a PDU slower than its scrape timeout fires WattsonPDUScrapeDown", alert: "WattsonPDUScrapeDown",
			fault: func(s simPDU) sim.Fault { return sim.Fault{Type: sim.FaultDelay, Delay: timeout(s.PDU)} }},
		{name: "a PDU that stops reporting its readings fires WattsonPDUPowerAbsent", alert: "WattsonPDUPowerAbsent",
			fault: func(s simPDU) sim.Fault {
				return sim.Fault{Type: sim.FaultDrop, Prefixes: []string{s.Model.VendorPrefix}}
			}},
		{name: "a PDU whose energy counter restarts fires WattsonPDUEnergyCounterReset", alert: "WattsonPDUEnergyCounterReset",
			event: true, needsEnergy: true,
			fault: func(simPDU) sim.Fault { return sim.Fault{Type: sim.FaultReset} }},
		// No alert can know a PDU's true power: the comparison with the simulator's truth is what
		// catches a scale bug, so it must fail while power is scaled.
		{name: "a PDU reporting power x10 fails the comparison with the truth",
			fault: func(s simPDU) sim.Fault {
				return sim.Fault{Type: sim.FaultScale, Factor: 10, Prefixes: s.Model.PowerOIDs}
			},
			detect: func(ctx context.Context, s simPDU, _ time.Time) error { return compareWithTruth(ctx, s) }},
		// A frozen PDU keeps reporting the same power while its energy counter stands still.
		{name: "a frozen PDU fails the energy-power agreement", needsEnergy: true,
			fault: func(simPDU) sim.Fault { return sim.Fault{Type: sim.FaultFreeze} },
			detect: func(ctx context.Context, s simPDU, since time.Time) error {
				// Judged once power x time is three steps of the counter, so that the window
				// check has something to weigh too, not only the stall.
				return energyAgreement(ctx, pduLabels(s.PDU), since, 3*energyStep(s))
			}},
	}
}

func hasEnergy(s simPDU) bool { return energyStep(s) > 0 }

// energyStep is the smallest step of the model's energy counter in joules (one raw unit), 0
// without an energy reading.
func energyStep(s simPDU) float64 { return modelEnergyStep(s.PDU.Spec.Model) }

// Fault specs break a PDU on purpose and page whoever receives Wattson's alerts, so they are
// opt-in: they run only when --ginkgo.label-filter selects "faults" explicitly. Ordered for one
// target chosen once; ContinueOnFailure because each fault stands on its own: a missing rule must
// not hide what the other faults do.
var _ = Describe("Simulator faults", Label("faults", "simulator"), Ordered, ContinueOnFailure, func() {
	var target simPDU

	BeforeAll(func(ctx SpecContext) {
		if !faultsSelected() {
			Skip("fault specs are opt-in: run with --ginkgo.label-filter=faults")
		}
		// The PDU with the finest energy counter: a frozen counter shows once power x time
		// since its last step is more than a step, seconds on a counter in Wh, minutes on one in
		// tenths of kWh.
		all := simulatedPDUs(ctx)
		target = slices.MinFunc(all, func(a, b simPDU) int {
			sa, sb := energyStep(a), energyStep(b)
			switch {
			case sa == sb:
				return 0
			case sa == 0: // no energy at all: last
				return 1
			case sb == 0:
				return -1
			case sa < sb:
				return -1
			}
			return 1
		})
		// Start from a healthy PDU: a fault left over from an interrupted run would make every
		// spec here pass or fail for the wrong reason.
		_, err := simc.ClearFaults(ctx, target.Device)
		Expect(err).NotTo(HaveOccurred())
		Eventually(ctx, func(ctx context.Context) error { return compareWithTruth(ctx, target) }).Should(Succeed())
	})

	for _, fc := range faultCases() {
		args := []any{SpecTimeout(3*cfg.AlertTimeout + time.Minute)}
		if fc.alert != "" {
			args = append(args, Label(alertLabelPrefix+fc.alert))
		}
		args = append(args, func(ctx SpecContext) {
			if fc.needsEnergy && !hasEnergy(target) {
				Skip(fmt.Sprintf("%s has no energy reading", target))
			}
			var poll func(context.Context) (alerts.List, error)
			if fc.alert != "" {
				// Without its rule the alert cannot fire: say so at once, by name.
				Expect(promc.Rules(ctx)).To(prom.HaveAlertingRule(fc.alert),
					"the fault cannot page: Prometheus at %s does not evaluate the rule of %s", cfg.PrometheusURL, fc.alert)
				poll = am.Poll(fc.alert, alerts.Labels{"namespace": target.PDU.Namespace, "pdu": target.PDU.Name})
				// An alert already firing would pass this spec whatever the fault does.
				before, err := poll(ctx)
				Expect(err).NotTo(HaveOccurred())
				if fc.event && len(before.Alerts) > 0 {
					Skip(fmt.Sprintf("%s is still firing for %s from an earlier event (its rule looks back over a window): a new one cannot be told apart", fc.alert, target))
				}
				Eventually(ctx, poll).WithTimeout(cfg.AlertTimeout).Should(alerts.BeResolved(),
					"%s was firing for %s before the fault and did not resolve", fc.alert, target)
			}

			f := fc.fault(target)
			By(fmt.Sprintf("injecting fault %s into %s", f.Type, target))
			since := time.Now()
			_, err := simc.SetFault(ctx, target.Device, f)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func(ctx SpecContext) {
				_, err := simc.ClearFaults(ctx, target.Device)
				Expect(err).NotTo(HaveOccurred())
			}, NodeTimeout(30*time.Second))

			if fc.alert != "" {
				Eventually(ctx, poll).WithTimeout(cfg.AlertTimeout).Should(alerts.BeFiring(), func() string {
					return fmt.Sprintf("fault %s on %s did not page %s within --wattson.alert-timeout (%s); %s",
						f.Type, target, fc.alert, cfg.AlertTimeout, ruleState(ctx, fc.alert))
				})
			} else {
				Eventually(ctx, func(ctx context.Context) error { return fc.detect(ctx, target, since) }).
					WithTimeout(cfg.AlertTimeout).Should(And(HaveOccurred(), Not(MatchError(errTooYoung))),
					"fault %s on %s went unnoticed for --wattson.alert-timeout (%s)", f.Type, target, cfg.AlertTimeout)
			}

			By("clearing the fault")
			_, err = simc.ClearFault(ctx, target.Device, f.Type)
			Expect(err).NotTo(HaveOccurred())
			switch {
			case fc.event:
				// The alert covers its rule's whole window (an hour of resets); waiting for that
				// is not worth a spec's time.
			case fc.alert != "":
				Eventually(ctx, poll).WithTimeout(cfg.AlertTimeout).Should(alerts.BeResolved())
			default:
				cleared := time.Now()
				Eventually(ctx, func(ctx context.Context) error { return fc.detect(ctx, target, cleared) }).
					WithTimeout(cfg.AlertTimeout).Should(Succeed(), "%s on %s still disagrees after the fault was cleared", f.Type, target)
			}
		})
		It(fc.name, args...)
	}
})

// ruleState says what Prometheus makes of an alerting rule, for a failure message.
func ruleState(ctx context.Context, name string) string {
	groups, err := promc.Rules(ctx)
	if err != nil {
		return fmt.Sprintf("its rule's state is unknown: %v", err)
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Type == "alerting" && r.Name == name {
				return fmt.Sprintf("Prometheus has its rule %s (group %s) in state %s, health %s %s", name, g.Name, r.State, r.Health, r.LastError)
			}
		}
	}
	return fmt.Sprintf("Prometheus no longer has a rule %s", name)
}
