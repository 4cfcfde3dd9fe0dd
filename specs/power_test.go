package specs_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Power readings", Label("power", "simulator"), func() {
	// Power, energy, current and voltage in Prometheus, after the operator's recording rules,
	// must be what the simulator serves, converted to SI units by specs/sim.Models (written
	// independently of the PDUModels): a wrong scale or unit is off by 10, 100 or 1000, far
	// beyond --wattson.power-tolerance.
	It("equal what the simulator serves, in SI units", func(ctx SpecContext) {
		for _, s := range simulatedPDUs(ctx) {
			// Values move between a scrape and now; retrying lets a comparison land close to a
			// fresh scrape instead of failing on drift. Two fresh scrapes are enough for that: a
			// disagreement that outlives them is no drift, and retrying longer would only delay
			// the verdict, and the page, by the rest of the Eventually timeout.
			Eventually(ctx, func(ctx context.Context) error { return compareWithTruth(ctx, s) }).
				WithTimeout(min(cfg.EventuallyTimeout, 2*interval(s.PDU)+cfg.PollInterval)).Should(Succeed())
		}
	})
})
