package specs_test

import (
	"context"
	"flag"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	monitoringclient "github.com/prometheus-operator/prometheus-operator/pkg/client/versioned"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/specs/alerts"
	"github.com/wattson-dev/wattson/specs/kube"
	"github.com/wattson-dev/wattson/specs/prom"
	"github.com/wattson-dev/wattson/specs/settings"
	"github.com/wattson-dev/wattson/specs/sim"
)

// cfg is filled from --wattson.* flags (registered here, before the test binary parses its
// flags) and WATTSON_* environment variables (in BeforeSuite).
var cfg = settings.Register(flag.CommandLine)

// Clients of the live system, set up in BeforeSuite.
var (
	promc *prom.Client
	am    *alerts.Client
	k8s   client.Client
	mon   monitoringclient.Interface // prometheus-operator's objects
	simc  *sim.Client                // nil unless specs labelled simulator are selected
)

func TestSpecs(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "wattson energy pipeline")
}

// selected reports whether specs with this label run under the current --ginkgo.label-filter.
func selected(label string) bool {
	return Label(label).MatchesLabelFilter(GinkgoLabelFilter())
}

// faultsSelected reports whether the fault specs were asked for: they are opt-in, so an empty
// filter (which selects everything) does not run them.
func faultsSelected() bool {
	return GinkgoLabelFilter() != "" && selected("faults")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	if err := cfg.Load(flag.CommandLine, nil); err != nil {
		Fail(err.Error())
	}
	if err := cfg.Validate(settings.Need{Simulator: selected("simulator")}); err != nil {
		Fail(err.Error())
	}
	SetDefaultEventuallyTimeout(cfg.EventuallyTimeout)
	SetDefaultEventuallyPollingInterval(cfg.PollInterval)
	// Specs pass their SpecContext to Eventually; without this, a context without a deadline
	// makes Eventually retry until the suite's timeout instead of --wattson.eventually-timeout.
	EnforceDefaultTimeoutsWhenUsingContexts()

	promc = prom.New(cfg.PrometheusURL)
	prom.SetDefault(promc)
	am = alerts.New(cfg.AlertmanagerURL)
	if cfg.SimulatorURL != "" {
		simc = sim.New(cfg.SimulatorURL)
	}
	rc, err := kube.RESTConfig(cfg.Kubeconfig)
	if err != nil {
		Fail(err.Error())
	}
	rc.Timeout = 30 * time.Second
	k8s, err = kube.NewClient(rc)
	if err != nil {
		Fail(err.Error())
	}
	mon, err = kube.NewMonitoringClient(rc)
	if err != nil {
		Fail(err.Error())
	}

	// Reachability, so that an unreachable component is one clear failure here, not a timeout in
	// every spec.
	reach := func(what string, ready func(context.Context) error) {
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		Eventually(c, ready).WithTimeout(30*time.Second).WithPolling(time.Second).Should(Succeed(), "%s is not reachable", what)
	}
	reach("Prometheus at "+cfg.PrometheusURL+" (--wattson.prometheus-url)", promc.Ready)
	reach("Alertmanager at "+cfg.AlertmanagerURL+" (--wattson.alertmanager-url)", am.Ready)
	if simc != nil {
		reach("the simulator at "+cfg.SimulatorURL+" (--wattson.simulator-url)", simc.Healthy)
	}
}, NodeTimeout(2*time.Minute))
