package store_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wattson-dev/wattson/runtime/internal/metrics"
	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/store"
)

// BenchmarkMemoryFlat feeds 10,000 runs of a 50-spec suite (a few failing, with output) through
// the metrics and the default in-memory store and reports the live heap after 1,000 and after
// 10,000 runs: they must be about equal (memory flat).
func BenchmarkMemoryFlat(b *testing.B) {
	for b.Loop() {
		ctx := context.Background()
		reg := prometheus.NewRegistry()
		m := metrics.NewMetrics(reg, 0, time.Minute)
		mem := store.NewMemory(0)
		out := strings.Repeat("scraping outlet\n", 64) // 1 KiB per spec
		var heap1k float64
		for i := range 10_000 {
			r := &report.Run{ID: report.NewID(), Suite: "energy", StartedAt: time.Now(), FinishedAt: time.Now(),
				Result: report.Passed, Output: strings.Repeat("x", 8<<10), Raw: make([]byte, 32<<10)}
			for j := range 50 {
				s := report.Spec{Name: fmt.Sprintf("spec %d", j), State: "passed", Labels: []string{"pdu"}, Output: fmt.Sprintf("%s%d", out, i)}
				if (i+j)%17 == 0 {
					s.State, s.Message = "failed", fmt.Sprintf("run %d: Expected 41 to equal 42", i)
					r.Failed++
				} else {
					r.Passed++
				}
				r.Specs = append(r.Specs, s)
			}
			if r.Failed > 0 {
				r.Result = report.Failed
			}
			m.Observe(r)
			_ = mem.Save(ctx, r)
			if i%100 == 0 {
				_ = testutil.CollectAndCount(m) // scrapes happen too
			}
			if i == 999 {
				heap1k = liveHeapMiB()
			}
		}
		heap10k := liveHeapMiB()
		runtime.KeepAlive(mem) // measured live, not collected
		runtime.KeepAlive(m)
		b.ReportMetric(heap1k, "MiB-heap@1k")
		b.ReportMetric(heap10k, "MiB-heap@10k")
		if heap10k > heap1k*1.2+1 {
			b.Errorf("heap grew from %.1f MiB at 1,000 runs to %.1f MiB at 10,000", heap1k, heap10k)
		}
	}
}

func liveHeapMiB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}
