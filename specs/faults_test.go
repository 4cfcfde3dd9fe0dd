package specs_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/wattson-dev/wattson/specs/alerts"
	"github.com/wattson-dev/wattson/specs/sim"
)

// faultCase is one simulator fault and how the system must notice it.
type faultCase struct {
	name  string
	fault func(s simPDU) sim.Fault
	// alert must fire while the fault lasts and resolve after it is cleared (unless noResolve).
	alert string
	// noResolve: the fault is an event (reset) whose alert lasts for its rule's window.
	noResolve bool
	// detect, instead of an alert, must fail while the fault lasts and pass after it is cleared.
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
		{name: "a slow PDU fires WattsonPDUScrapeNearTimeout", alert: "WattsonPDUScrapeNearTimeout",
			fault: func(simPDU) sim.Fault { return sim.Fault{Type: sim.FaultDelay, Delay: cfg.FaultDelay} }},
		{name: "a PDU that stops reporting its readings fires WattsonPDUPowerAbsent", alert: "WattsonPDUPowerAbsent",
			fault: func(s simPDU) sim.Fault {
				return sim.Fault{Type: sim.FaultDrop, Prefixes: []string{s.Model.VendorPrefix}}
			}},
		{name: "a PDU whose energy counter restarts fires WattsonPDUEnergyCounterReset", alert: "WattsonPDUEnergyCounterReset",
			noResolve: true, needsEnergy: true,
			fault: func(simPDU) sim.Fault { return sim.Fault{Type: sim.FaultReset} }},
		// No alert can know a PDU's true power: the comparison with the simulator's truth is what
		// catches a scale bug, so it must fail while power is scaled.
		{name: "a PDU reporting power x10 fails the comparison with the truth",
			fault: func(s simPDU) sim.Fault {
				return sim.Fault{Type: sim.FaultScale, Factor: 10, Prefixes: s.Model.PowerOIDs}
			},
			detect: func(ctx context.Context, s simPDU, _ time.Time) error { return compareWithTruth(ctx, s) }},
		// A frozen PDU keeps reporting the same power while its energy stops: energy no longer
		// agrees with power x time since the freeze.
		{name: "a frozen PDU fails the energy-power agreement", needsEnergy: true,
			fault: func(simPDU) sim.Fault { return sim.Fault{Type: sim.FaultFreeze} },
			detect: func(ctx context.Context, s simPDU, since time.Time) error {
				// Judge only once power x time is three steps of the counter, or a coarse
				// counter (APC: 360 kJ) standing still would look frozen even when it is not.
				err := energyAgreement(ctx, pduLabels(s.PDU), since, 3*energyStep(s))
				if err == errTooYoung {
					return nil // not yet decidable: keep waiting
				}
				return err
			}},
	}
}

func hasEnergy(s simPDU) bool { return energyStep(s) > 0 }

// energyStep is the smallest step of the model's energy counter in joules (one raw unit), 0
// without an energy reading.
func energyStep(s simPDU) float64 {
	for _, r := range s.Model.Readings {
		if r.Metric == "wattson_pdu_energy_joules_total" {
			return r.Scale
		}
	}
	return 0
}

// Fault specs break a PDU on purpose and page whoever receives Wattson's alerts, so they are
// opt-in: they run only when --ginkgo.label-filter selects "faults" explicitly.
var _ = Describe("Simulator faults", Label("faults", "simulator"), Ordered, func() {
	var target simPDU

	BeforeAll(func(ctx SpecContext) {
		if !faultsSelected() {
			Skip("fault specs are opt-in: run with --ginkgo.label-filter=faults")
		}
		all := simulatedPDUs(ctx)
		target = all[0]
		for _, s := range all {
			if hasEnergy(s) {
				target = s
				break
			}
		}
		// Start from a healthy PDU: a fault left over from an interrupted run would make every
		// spec here pass or fail for the wrong reason.
		_, err := simc.ClearFaults(ctx, target.Device)
		Expect(err).NotTo(HaveOccurred())
		Eventually(ctx, func(ctx context.Context) error { return compareWithTruth(ctx, target) }).Should(Succeed())
	})

	for _, fc := range faultCases() {
		It(fc.name, SpecTimeout(2*cfg.AlertTimeout+2*time.Minute), func(ctx SpecContext) {
			if fc.needsEnergy && !hasEnergy(target) {
				Skip(fmt.Sprintf("%s has no energy reading", target))
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

			poll := am.Poll(fc.alert, alerts.Labels{"namespace": target.PDU.Namespace, "pdu": target.PDU.Name})
			if fc.alert != "" {
				Eventually(ctx, poll).WithTimeout(cfg.AlertTimeout).Should(alerts.BeFiring())
			} else {
				Eventually(ctx, func(ctx context.Context) error { return fc.detect(ctx, target, since) }).
					WithTimeout(cfg.AlertTimeout).ShouldNot(Succeed())
			}

			By("clearing the fault")
			_, err = simc.ClearFault(ctx, target.Device, f.Type)
			Expect(err).NotTo(HaveOccurred())
			switch {
			case fc.noResolve:
				// The alert covers its rule's whole window (an hour of resets); waiting for that
				// is not worth a spec's time.
			case fc.alert != "":
				Eventually(ctx, poll).WithTimeout(cfg.AlertTimeout).Should(alerts.BeResolved())
			default:
				cleared := time.Now()
				Eventually(ctx, func(ctx context.Context) error { return fc.detect(ctx, target, cleared) }).
					WithTimeout(cfg.AlertTimeout).Should(Succeed())
			}
		})
	}
})
