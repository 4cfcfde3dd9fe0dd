package hanging

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
)

var _ = Describe("scrape", func() {
	It("hangs and ignores its context", func() {
		time.Sleep(time.Hour)
	})
})
