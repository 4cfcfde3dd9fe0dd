// Command wattson-operator runs Wattson's controller manager (no subcommand, or "manager"), or
// the MIB compiler's command line ("generate", "parse-errors"), which takes the flags of
// snmp_exporter's generator, or "suggest-model", which proposes a PDUModel for a new vendor.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/wattson-dev/wattson/internal/buildinfo"
	"github.com/wattson-dev/wattson/internal/logging"

	"github.com/wattson-dev/wattson/operator/internal/generator"
	"github.com/wattson-dev/wattson/operator/internal/manager"
	"github.com/wattson-dev/wattson/operator/internal/suggest"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 {
		switch args[0] {
		case "generate", "parse-errors", "parse_errors":
			os.Exit(generator.Main(args, os.Stdout, os.Stderr))
		case "suggest-model":
			os.Exit(suggest.Main(args[1:], os.Stdout, os.Stderr))
		case "manager":
			args = args[1:]
		}
	}
	os.Exit(runManager(args, os.Stderr))
}

// runManager parses the manager's flags, wires the logging of controller-runtime and klog to the
// one logger they chose, and runs the manager until a signal; it returns the exit code.
func runManager(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("wattson-operator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := manager.Options{}
	fs.StringVar(&o.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of the MIB ConfigMaps, the exporter, its configuration and the rules (default $POD_NAMESPACE)")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443", "address of the metrics endpoint (HTTPS unless --metrics-secure=false); 0 disables it")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", true, "serve /metrics over HTTPS to clients whose bearer token the apiserver authenticates (TokenReview) and allows get on the non-resource URL /metrics (SubjectAccessReview, e.g. ClusterRole wattson-metrics-reader); false serves plain HTTP to anyone")
	fs.StringVar(&o.MetricsCertDir, "metrics-cert-path", "", "folder holding the metrics server's certificate and key (e.g. a cert-manager Secret's volume), reloaded when they change; empty: a self-signed certificate made at start")
	fs.StringVar(&o.MetricsCertName, "metrics-cert-name", "tls.crt", "the certificate's file name in --metrics-cert-path")
	fs.StringVar(&o.MetricsKeyName, "metrics-cert-key", "tls.key", "the key's file name in --metrics-cert-path")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.BoolVar(&o.LeaderElection, "leader-elect", false, "elect a leader so only one replica reconciles")
	fs.StringVar(&o.PrometheusURL, "prometheus.url", "", "Prometheus to query for the Collecting condition, e.g. http://prometheus-operated.monitoring.svc:9090; empty leaves Collecting Unknown")
	fs.DurationVar(&o.PollInterval, "prometheus.poll-interval", 30*time.Second, "how often Prometheus is queried")
	fs.StringVar(&o.ScrapeMode, "scrape-mode", manager.ScrapeModeAuto, "auto (prometheus-operator if its CRDs are served), prometheus-operator, or plain (a scrape configuration Secret)")
	fs.StringVar(&o.ExporterImage, "exporter.image", "quay.io/prometheus/snmp-exporter:v0.30.1", "snmp_exporter image")
	var replicas int
	fs.IntVar(&replicas, "exporter.replicas", 2, "snmp_exporter replicas behind the Service")
	fs.StringVar(&o.ExporterAddr, "exporter.address", "", "host:port Prometheus scrapes snmp_exporter at (default the Service's cluster DNS name)")
	var qps float64
	fs.Float64Var(&qps, "kube-api-qps", 100, "requests per second to the apiserver")
	fs.IntVar(&o.Burst, "kube-api-burst", 200, "request burst to the apiserver")
	fs.IntVar(&o.MaxConcurrentReconcile, "max-concurrent-reconciles", 4, "PDUs reconciled in parallel")
	fs.StringVar(&o.UploadAddr, "upload.listen-address", "", "address of the MIB upload page, e.g. :8082; empty disables it")
	fs.StringVar(&o.UploadTokenSecret, "upload.token-secret", "", "Secret (name or namespace/name, key \"token\") with the upload token; empty accepts Kubernetes tokens allowed to create ConfigMaps")
	fs.StringVar(&o.SuiteDefaultImage, "suite.default-image", "", "image for Suites without spec.image, holding wattson-runtime and the compiled suite; empty: such Suites are not Ready (ImageMissing)")
	fs.DurationVar(&o.SuitePollInterval, "suite.poll-interval", 30*time.Second, "how often each Suite's runtime history is read into its status")
	fs.DurationVar(&o.SuiteTriggerDebounce, "suite.trigger-debounce", time.Second, "changes of a Suite's triggers within this window are folded into one rerun (at most 10 windows after the first)")
	ctrlconfig.RegisterFlags(fs) // --kubeconfig, which ctrl.GetConfig reads
	logConfig := logging.AddFlags(fs)
	showVersion := buildinfo.Flag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2 // the flag package has printed the error and the usage
	}
	if *showVersion {
		buildinfo.Fprint(os.Stdout, "wattson-operator")
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wattson-operator: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	o.ExporterReplicas, o.QPS = int32(replicas), float32(qps)
	if err := o.Validate(); err != nil {
		fmt.Fprintln(stderr, "wattson-operator:", err)
		return 2
	}
	log := setLoggers(logConfig, stderr)

	ctrlmetrics.Registry.MustRegister(buildinfo.NewCollector())
	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error("no Kubernetes configuration", "err", err)
		return 1
	}
	mgr, err := manager.New(cfg, o)
	if err != nil {
		log.Error("building the manager", "err", err)
		return 1
	}
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error("manager stopped", "err", err)
		return 1
	}
	return 0
}

// setLoggers makes the logger --log.level and --log.format chose the one every library of the
// manager logs through: controller-runtime (logr), client-go (klog: leader election, watches,
// throttling) and the standard library's log (net/http's servers: "TLS handshake error"), so that
// --log.format=json gives JSON lines only.
func setLoggers(c *logging.Config, w io.Writer) *slog.Logger {
	logger := c.New(w)
	slog.SetDefault(logger)
	ctrl.SetLogger(logr.FromSlogHandler(logger.Handler()))
	klog.SetSlogLogger(logger)
	// klog filters its V(n) calls itself, by -v; logr maps V(n) to slog level -n. At debug (-4)
	// let client-go's V(1) to V(4) through, as kube components' -v=4.
	if c.SlogLevel() <= slog.LevelDebug {
		var kfs flag.FlagSet
		klog.InitFlags(&kfs)
		_ = kfs.Set("v", "4")
	}
	return logger.With("logger", "setup")
}
