// Package slow is a tiny Ginkgo suite whose run lasts SLOW_SUITE_SLEEP (default 1s), so that a
// test can kill a runtime replica in the middle of a run.
package slow

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestSuite(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "slow")
}
