package runner_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wattson-dev/wattson/runtime/internal/metrics"
	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/runner"
	"github.com/wattson-dev/wattson/runtime/internal/store"
	"github.com/wattson-dev/wattson/runtime/internal/suitetest"
)

// BenchmarkIteration compares running the compiled suite directly with one runtime iteration
// (exec with a JSON report, parse, metrics, history). The difference is the runtime's overhead
// per iteration (target <= 100 ms).
func BenchmarkIteration(b *testing.B) {
	bin := suitetest.Binary(b, "passing")
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			if out, err := exec.Command(bin, "--ginkgo.no-color").CombinedOutput(); err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
		}
	})
	b.Run("runtime", func(b *testing.B) {
		r := &runner.Runner{Binary: bin, Timeout: time.Minute}
		m := metrics.NewMetrics(prometheus.NewRegistry(), 0, time.Minute)
		mem := store.NewMemory(0)
		for b.Loop() {
			run := r.Run(context.Background())
			if run.Result != report.Passed {
				b.Fatalf("%s: %s", run.Result, run.Error)
			}
			m.Observe(run)
			_ = mem.Save(context.Background(), run)
		}
	})
}
