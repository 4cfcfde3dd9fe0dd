// Command wattson-operator runs Wattson's controller manager (no subcommand, or "manager"), or
// the MIB compiler's command line ("generate", "parse-errors"), which takes the flags of
// snmp_exporter's generator, or "suggest-model", which proposes a PDUModel for a new vendor.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/wattson-dev/wattson/internal/buildinfo"

	"github.com/wattson-dev/wattson/operator/internal/generator"
	"github.com/wattson-dev/wattson/operator/internal/manager"
	"github.com/wattson-dev/wattson/operator/internal/suggest"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "generate", "parse-errors", "parse_errors":
			os.Exit(generator.Main(os.Args[1:], os.Stdout, os.Stderr))
		case "suggest-model":
			os.Exit(suggest.Main(os.Args[2:], os.Stdout, os.Stderr))
		case "manager":
			os.Args = append(os.Args[:1], os.Args[2:]...)
		}
	}
	os.Exit(runManager())
}

func runManager() int {
	o := manager.Options{}
	flag.StringVar(&o.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of the MIB ConfigMaps, the exporter, its configuration and the rules (default $POD_NAMESPACE)")
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "address of the metrics endpoint; 0 disables it")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	flag.BoolVar(&o.LeaderElection, "leader-elect", false, "elect a leader so only one replica reconciles")
	flag.StringVar(&o.PrometheusURL, "prometheus.url", "", "Prometheus to query for the Collecting condition, e.g. http://prometheus-operated.monitoring.svc:9090; empty leaves Collecting Unknown")
	flag.DurationVar(&o.PollInterval, "prometheus.poll-interval", 30*time.Second, "how often Prometheus is queried")
	flag.StringVar(&o.ScrapeMode, "scrape-mode", manager.ScrapeModeAuto, "auto (prometheus-operator if its CRDs are served), prometheus-operator, or plain (a scrape configuration Secret)")
	flag.StringVar(&o.ExporterImage, "exporter.image", "quay.io/prometheus/snmp-exporter:v0.30.1", "snmp_exporter image")
	var replicas int
	flag.IntVar(&replicas, "exporter.replicas", 2, "snmp_exporter replicas behind the Service")
	flag.StringVar(&o.ExporterAddr, "exporter.address", "", "host:port Prometheus scrapes snmp_exporter at (default the Service's cluster DNS name)")
	var qps float64
	flag.Float64Var(&qps, "kube-api-qps", 100, "requests per second to the apiserver")
	flag.IntVar(&o.Burst, "kube-api-burst", 200, "request burst to the apiserver")
	flag.IntVar(&o.MaxConcurrentReconcile, "max-concurrent-reconciles", 4, "PDUs reconciled in parallel")
	flag.StringVar(&o.UploadAddr, "upload.listen-address", "", "address of the MIB upload page, e.g. :8082; empty disables it")
	flag.StringVar(&o.UploadTokenSecret, "upload.token-secret", "", "Secret (name or namespace/name, key \"token\") with the upload token; empty accepts Kubernetes tokens allowed to create ConfigMaps")
	flag.StringVar(&o.SuiteDefaultImage, "suite.default-image", "", "image holding wattson-runtime and the compiled suite, for Suites without spec.image; empty: such Suites are not Ready (ImageMissing)")
	flag.DurationVar(&o.SuitePollInterval, "suite.poll-interval", 30*time.Second, "how often each Suite's runtime history is read into its status")
	flag.DurationVar(&o.SuiteTriggerDebounce, "suite.trigger-debounce", time.Second, "changes of a Suite's triggers within this window are folded into one rerun (at most 10 windows after the first)")
	var level slog.Level
	flag.TextVar(&level, "log.level", slog.LevelInfo, "log level: debug, info, warn or error")
	showVersion := buildinfo.Flag(flag.CommandLine)
	flag.Parse()
	if *showVersion {
		buildinfo.Fprint(os.Stdout, "wattson-operator")
		return 0
	}
	ctrlmetrics.Registry.MustRegister(buildinfo.NewCollector())
	o.ExporterReplicas, o.QPS = int32(replicas), float32(qps)
	// controller-runtime logs through logr; JSON from log/slog keeps one format everywhere.
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	log := ctrl.Log.WithName("setup")

	if err := o.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "no Kubernetes configuration")
		return 1
	}
	mgr, err := manager.New(cfg, o)
	if err != nil {
		log.Error(err, "building the manager")
		return 1
	}
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped")
		return 1
	}
	return 0
}
