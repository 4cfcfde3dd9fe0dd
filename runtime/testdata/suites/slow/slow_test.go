package slow

import (
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("the chain", Label("pdu"), func() {
	It("answers after a while", func() {
		d := time.Second
		if s := os.Getenv("SLOW_SUITE_SLEEP"); s != "" {
			var err error
			d, err = time.ParseDuration(s)
			Expect(err).NotTo(HaveOccurred())
		}
		time.Sleep(d)
		Expect(d).To(BeNumerically(">", 0))
	})
})
