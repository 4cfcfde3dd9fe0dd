package failing

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("outlet", Label("pdu"), func() {
	It("reports watts", func() {
		GinkgoWriter.Println("scraping outlet 3")
		Expect(41).To(Equal(42), "outlet 3 watts")
	})
	It("has a name", func() {
		Expect("A1").NotTo(BeEmpty())
	})
})
