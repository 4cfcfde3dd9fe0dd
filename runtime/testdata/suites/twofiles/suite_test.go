// Package twofiles is a tiny Ginkgo suite with specs in two files, for the runtime's focused runs
// (dev mode runs a saved file's specs first).
package twofiles

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestSuite(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "twofiles")
}
