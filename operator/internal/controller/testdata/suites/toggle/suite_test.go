// Package toggle is a tiny Ginkgo suite for the Suite reconciler's tests: "checkout charges
// card" fails while the file named by $TOGGLE_FILE says fail, so a test can make it pass, fail
// and flip between runs of one runtime.
package toggle

import (
	"os"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestSuite(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "toggle")
}

var _ = Describe("checkout", func() {
	It("charges card", Label("payments"), func() {
		b, err := os.ReadFile(os.Getenv("TOGGLE_FILE"))
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.TrimSpace(string(b))).To(Equal("pass"), "card declined")
	})
	It("lists products", Label("catalog"), func() {
		Expect([]string{"lamp"}).NotTo(BeEmpty())
	})
})
