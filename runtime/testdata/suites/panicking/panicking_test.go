package panicking

import (
	. "github.com/onsi/ginkgo/v2"
)

var _ = Describe("agent", func() {
	It("panics", func() {
		var m map[string]int
		m["boom"] = 1
	})
	It("passes", func() {})
})
