package controller_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/manager"
)

// BenchmarkThousandPDUsReady creates 1,000 PDUs against a real kube-apiserver and measures how
// long the operator (in this process) takes to bring all of them to Ready=True, with
// prometheus-operator's CRDs when bin/ has them (one ScrapeConfig per PDU) and the plain scrape
// configuration otherwise. Target: under 60 s on 2 cores. Reports seconds per 1,000 PDUs and the
// process' peak RSS (operator plus the benchmark's own client).
//
//	go test ./operator/internal/controller -run '^$' -bench ThousandPDUs -benchtime 1x
func BenchmarkThousandPDUsReady(b *testing.B) {
	const n = 1000
	po := true
	if bin, err := os.Stat(filepath.Join(binDir(b), "prometheus-operator-crds")); err != nil || !bin.IsDir() {
		po = false
	}
	cfg, _ := testenv.Kube(b, testenv.KubeOptions{CRDDirs: []string{"../../config/crd/bases"}, PrometheusOperatorCRDs: po})
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opNamespace}}); err != nil {
		b.Fatal(err)
	}
	startOperator(b, cfg, nil)
	if err := c.Create(ctx, mibConfigMap(b)); err != nil {
		b.Fatal(err)
	}
	if err := c.Create(ctx, rackModel("rackpdu")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ns := fmt.Sprintf("bench-%d", i)
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
		if err := c.Create(ctx, communitySecret(ns, "snmp", "public")); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		createPDUs(b, c, ns, i, n)
		created := time.Since(start)
		for {
			var list v1alpha1.PDUList
			if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
				b.Fatal(err)
			}
			ready := 0
			for _, p := range list.Items {
				if apimeta.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.ReadyCondition) {
					ready++
				}
			}
			if ready == n {
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("only %d of %d PDUs Ready after %s", ready, n, time.Since(start))
			}
			time.Sleep(200 * time.Millisecond)
		}
		took := time.Since(start)
		b.ReportMetric(took.Seconds(), "s/1000-pdus-ready")
		b.Logf("%d PDUs Ready in %s (created in %s), prometheus-operator CRDs: %v, peak RSS %d MiB", n, took.Round(time.Millisecond), created.Round(time.Millisecond), po, peakRSS()>>20)
		if took > 60*time.Second {
			b.Errorf("1,000 PDUs took %s to become Ready, over the 60 s target", took)
		}
	}
	b.ReportMetric(float64(peakRSS()>>20), "MiB-peak-rss")
}

func createPDUs(b *testing.B, c client.Client, ns string, iter, n int) {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				p := pdu(ns, fmt.Sprintf("pdu-%04d", j), fmt.Sprintf("10.%d.%d.%d", iter, j/250, j%250+1), "rackpdu", "snmp")
				if err := c.Create(context.Background(), p); err != nil {
					errs <- err
				}
			}
		}()
	}
	for j := 0; j < n; j++ {
		work <- j
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// peakRSS is VmHWM, the process' peak resident set, in bytes.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func binDir(b *testing.B) string {
	dir, err := procs.BinDir()
	if err != nil {
		b.Fatal(err)
	}
	return dir
}
