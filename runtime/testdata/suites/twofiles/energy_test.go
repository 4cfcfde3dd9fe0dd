package twofiles

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("energy", func() {
	It("only grows", func() { Expect(2).To(BeNumerically(">=", 1)) })
})
