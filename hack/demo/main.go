// Command demo runs the whole Wattson chain on loopback (`make demo`): kube-apiserver and etcd, the
// operator with sample PDUModels and PDUs, simulated PDUs, snmp_exporter, Prometheus, Alertmanager
// and the spec runtime. It prints the URLs and a live status line; Ctrl-C stops everything.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wattson-dev/wattson/internal/listflag"
	"github.com/wattson-dev/wattson/internal/stack"
)

func main() { os.Exit(run()) }

func run() int {
	var (
		mibDirs  listflag.Strings
		verbose  = flag.Bool("verbose", false, "also print every process's output")
		interval = flag.Duration("scrape-interval", 5*time.Second, "Prometheus scrape and rule evaluation interval")
		specs    = flag.Duration("specs-interval", 15*time.Second, "how often the runtime reruns the energy suite")
		alertFor = flag.Duration("alert-for", 10*time.Second, "replaces every alert rule's for: duration, so alerts show in seconds (0 keeps the rules' own)")
	)
	flag.Var(&mibDirs, "mibs-dir", "folder of MIB files for the sample models (repeatable; default ../shared/fixtures/mibs/*)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Println("Starting Wattson on loopback (Ctrl-C stops everything)...")
	rules, err := stack.AlertRules(*alertFor)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	s, err := stack.Start(ctx, stack.Options{
		MIBDirs: mibDirs, Log: os.Stdout, Verbose: *verbose,
		ScrapeInterval: *interval, EvalInterval: *interval, SpecsInterval: *specs,
		ExtraRuleFiles: rules, AlertTimeout: alertTimeout(*interval, *alertFor),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	defer func() {
		fmt.Println("\nStopping...")
		s.Stop()
		fmt.Println("Stopped; nothing left running.")
	}()

	fmt.Printf(`
Wattson is running:
  Prometheus      %s   (try: wattson_pdu_power_watts)
  Alertmanager    %s
  Spec runtime    %s   (metrics: %s/metrics)
  MIB upload      %s   (token: %s)
  Simulator API   %s/api/v1/devices
  kubectl         KUBECONFIG=%s kubectl get pdus -A

Inject a fault and watch the specs and alerts react, e.g.:
  curl -X PUT %s/api/v1/devices/apc-rpdu2/faults/timeout
  curl -X DELETE %s/api/v1/devices/apc-rpdu2/faults

Or run the suite's opt-in fault specs against it (each breaks a PDU and waits for its alert):
  env %s bin/specs.test --ginkgo.label-filter=faults

`, s.Prometheus.URL, s.AlertMgr.URL, s.Runtime.URL, s.Runtime.URL, s.UploadURL, s.UploadToken, s.Sim.URL,
		s.KubeconfigPath, s.Sim.URL, s.Sim.URL, strings.Join(s.SpecEnv(), " "))

	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	tty := isTerminal()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return 0
		case <-tick.C:
		}
		line := s.Status(ctx).String()
		switch {
		case tty:
			fmt.Printf("\r\033[K%s", line)
		case line != last:
			fmt.Printf("%s  %s\n", time.Now().Format("15:04:05"), line)
		}
		last = line
	}
}

// alertTimeout is how long a fault spec waits for its alert on the demo: the slowest rule path
// (a scrape that times out, two rule groups, the alert's `for`), with room. Without a `for`
// override the rules' own minutes apply, and so does the suite's default.
func alertTimeout(interval, alertFor time.Duration) time.Duration {
	if alertFor == 0 {
		return 0
	}
	return interval + stack.PDUTimeout(interval) + 2*interval + alertFor + 10*time.Second
}

func isTerminal() bool {
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
