package passing

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("power", Label("pdu", "smoke"), func() {
	It("adds up", func() {
		GinkgoWriter.Println("adding")
		Expect(1 + 1).To(Equal(2))
	})
	It("is positive", Label("fast"), func() {
		Expect(3).To(BeNumerically(">", 0))
	})
	It("is pending", Pending, func() {})
})
