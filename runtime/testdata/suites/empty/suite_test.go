// Package empty is a tiny Ginkgo suite the runtime's integration tests compile and run.
package empty

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestSuite(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "empty")
}
