package main

import (
	"os/exec"
	"testing"

	"github.com/wattson-dev/wattson/runtime/internal/suitetest"
)

// BenchmarkDevEditToResult measures dev mode from a one-line spec edit to the new result in the
// history API (target < 5 s): detect, go test -c, run, parse, record.
func BenchmarkDevEditToResult(b *testing.B) {
	if _, err := exec.LookPath("go"); err != nil {
		b.Skip("go toolchain not found")
	}
	base, src := startDev(b)
	prev := waitNewRun(b, base, "").ID
	b.ResetTimer()
	for i := range b.N {
		old, new := "Equal(2)", "Equal(2) /* edit */"
		if i%2 == 1 {
			old, new = new, old
		}
		suitetest.Edit(b, src, old, new)
		prev = waitNewRun(b, base, prev).ID
	}
}
