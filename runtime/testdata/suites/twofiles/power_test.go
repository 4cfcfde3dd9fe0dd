package twofiles

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("power", func() {
	It("adds up", func() { Expect(1 + 1).To(Equal(2)) })
	It("is positive", func() { Expect(3).To(BeNumerically(">", 0)) })
})
