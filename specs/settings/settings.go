// Package settings holds what the energy-pipeline suite needs to reach the live system: the
// Prometheus, Alertmanager and simulator URLs, the Kubernetes connection, and the timeouts and
// tolerances of its assertions.
//
// Every setting is a flag (--wattson.prometheus-url) with an environment variable of the same
// name (WATTSON_PROMETHEUS_URL); a flag given on the command line wins. Register the flags before
// flag.Parse (a package-level var in the suite does that) and call Validate in BeforeSuite, so a
// misconfigured run stops at once with every problem named, instead of timing out spec by spec.
package settings

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the suite's configuration.
type Config struct {
	// PrometheusURL is the Prometheus that scrapes the PDUs and evaluates Wattson's rules.
	PrometheusURL string
	// AlertmanagerURL is the Alertmanager that Prometheus sends Wattson's alerts to.
	AlertmanagerURL string
	// SimulatorURL is wattson-snmpsim's control API (truth and faults). Only specs labelled
	// "simulator" need it.
	SimulatorURL string
	// Kubeconfig is a kubeconfig file; empty means in-cluster when running in a pod, else the
	// usual KUBECONFIG / ~/.kube/config rules.
	Kubeconfig string
	// Namespace limits the PDUs checked to one namespace; empty means all namespaces.
	Namespace string

	// EventuallyTimeout is the default timeout of Eventually: long enough for a scrape and a
	// rule evaluation to pass (PDUs are scraped every 60s by default).
	EventuallyTimeout time.Duration
	// PollInterval is the default polling interval of Eventually.
	PollInterval time.Duration
	// AlertTimeout bounds how long a fault spec waits for an alert to fire or resolve (and for
	// a spec-detected fault to show): the scrape interval, the rule evaluation interval and the
	// alert's `for`, with room. The default suits production's `for` of 5 to 15 minutes; a test
	// stack with shorter intervals should shorten it too, so that a missing page fails quickly.
	AlertTimeout time.Duration
	// PowerTolerance is the relative difference allowed between Prometheus and the simulator's
	// truth. Live values move between a scrape and the comparison, so it cannot be tiny; it is
	// far below the factors of 10, 100 and 1000 that scale and unit bugs cause.
	PowerTolerance float64
	// EnergyWindow is how much history the energy specs look at.
	EnergyWindow time.Duration
	// EnergyTolerance is the relative difference allowed between an energy counter's increase
	// and the integral of power over the same samples (plus one counter step).
	EnergyTolerance float64
}

// setting describes one flag and its environment variable.
type setting struct {
	flag, env, usage string
	bind             func(fs *flag.FlagSet, name, usage string)
	set              func(string) error
}

func (c *Config) settings() []setting {
	str := func(p *string, def string) (func(*flag.FlagSet, string, string), func(string) error) {
		return func(fs *flag.FlagSet, name, usage string) { fs.StringVar(p, name, def, usage) },
			func(v string) error { *p = v; return nil }
	}
	dur := func(p *time.Duration, def time.Duration) (func(*flag.FlagSet, string, string), func(string) error) {
		return func(fs *flag.FlagSet, name, usage string) { fs.DurationVar(p, name, def, usage) },
			func(v string) error {
				d, err := time.ParseDuration(v)
				if err != nil {
					return err
				}
				*p = d
				return nil
			}
	}
	flt := func(p *float64, def float64) (func(*flag.FlagSet, string, string), func(string) error) {
		return func(fs *flag.FlagSet, name, usage string) { fs.Float64Var(p, name, def, usage) },
			func(v string) error {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return err
				}
				*p = f
				return nil
			}
	}
	mk := func(name, usage string, b func(*flag.FlagSet, string, string), s func(string) error) setting {
		return setting{flag: "wattson." + name, env: EnvName("wattson." + name), usage: usage, bind: b, set: s}
	}
	var out []setting
	add := func(name, usage string, b func(*flag.FlagSet, string, string), s func(string) error) {
		out = append(out, mk(name, usage, b, s))
	}
	b, s := str(&c.PrometheusURL, "")
	add("prometheus-url", "Prometheus base URL, e.g. http://prometheus.wattson-system.svc:9090 (required)", b, s)
	b, s = str(&c.AlertmanagerURL, "")
	add("alertmanager-url", "Alertmanager base URL, e.g. http://alertmanager.wattson-system.svc:9093 (required)", b, s)
	b, s = str(&c.SimulatorURL, "")
	add("simulator-url", "wattson-snmpsim control API base URL, e.g. http://snmpsim.wattson-system.svc:8161 (required by specs labelled simulator)", b, s)
	b, s = str(&c.Kubeconfig, "")
	add("kubeconfig", "kubeconfig file; in-cluster config in a pod, else KUBECONFIG or ~/.kube/config when empty", b, s)
	b, s = str(&c.Namespace, "")
	add("namespace", "namespace of the PDUs to check; all namespaces when empty", b, s)
	b, s = dur(&c.EventuallyTimeout, 3*time.Minute)
	add("eventually-timeout", "default Eventually timeout; cover a scrape interval plus a rule evaluation", b, s)
	b, s = dur(&c.PollInterval, 5*time.Second)
	add("poll-interval", "default Eventually polling interval", b, s)
	b, s = dur(&c.AlertTimeout, 20*time.Minute)
	add("alert-timeout", "how long a fault spec waits for its alert to fire, then to resolve (longer than the rule's `for`)", b, s)
	b, s = flt(&c.PowerTolerance, 0.15)
	add("power-tolerance", "relative difference allowed between Prometheus and the simulator's truth (0.15 = 15%)", b, s)
	b, s = dur(&c.EnergyWindow, 10*time.Minute)
	add("energy-window", "history the energy specs look at", b, s)
	b, s = flt(&c.EnergyTolerance, 0.1)
	add("energy-tolerance", "relative difference allowed between energy increase and power x time", b, s)
	return out
}

// EnvName is the environment variable of a flag: wattson.prometheus-url -> WATTSON_PROMETHEUS_URL.
func EnvName(flagName string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flagName))
}

// Register adds the flags to fs and returns the Config they fill. Call Load after fs is parsed.
func Register(fs *flag.FlagSet) *Config {
	c := &Config{}
	for _, s := range c.settings() {
		s.bind(fs, s.flag, s.usage+" (env "+s.env+")")
	}
	return c
}

// Load fills every setting not given on the command line from its environment variable.
// getenv is os.Getenv outside tests.
func (c *Config) Load(fs *flag.FlagSet, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	for _, s := range c.settings() {
		if given[s.flag] {
			continue
		}
		if v := getenv(s.env); v != "" {
			if err := s.set(v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s=%q (flag --%s): %w", s.env, v, s.flag, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Need says which optional parts a run needs, from the specs the label filter selects.
type Need struct {
	// Simulator is true when specs labelled "simulator" will run.
	Simulator bool
}

// Validate checks the configuration and returns every problem at once, each naming its flag and
// environment variable.
func (c *Config) Validate(need Need) error {
	var errs []error
	checkURL := func(v, name string, required bool) {
		f := "--wattson." + name
		env := EnvName("wattson." + name)
		if v == "" {
			if required {
				errs = append(errs, fmt.Errorf("missing %s (or env %s)", f, env))
			}
			return
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s (env %s) = %q: want an http(s) URL such as http://host:port", f, env, v))
		}
	}
	checkURL(c.PrometheusURL, "prometheus-url", true)
	checkURL(c.AlertmanagerURL, "alertmanager-url", true)
	checkURL(c.SimulatorURL, "simulator-url", need.Simulator)
	if need.Simulator && c.SimulatorURL == "" {
		errs[len(errs)-1] = fmt.Errorf("%w: specs labelled simulator are selected; give the URL or add !simulator to --ginkgo.label-filter", errs[len(errs)-1])
	}
	positive := func(d time.Duration, name string) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("--wattson.%s (env %s) = %s: want a positive duration", name, EnvName("wattson."+name), d))
		}
	}
	positive(c.EventuallyTimeout, "eventually-timeout")
	positive(c.PollInterval, "poll-interval")
	positive(c.AlertTimeout, "alert-timeout")
	positive(c.EnergyWindow, "energy-window")
	if c.PollInterval > 0 && c.EventuallyTimeout > 0 && c.PollInterval >= c.EventuallyTimeout {
		errs = append(errs, fmt.Errorf("--wattson.poll-interval (%s) must be shorter than --wattson.eventually-timeout (%s)", c.PollInterval, c.EventuallyTimeout))
	}
	fraction := func(f float64, name string) {
		if !(f > 0 && f < 1) {
			errs = append(errs, fmt.Errorf("--wattson.%s (env %s) = %v: want a fraction between 0 and 1, e.g. 0.1", name, EnvName("wattson."+name), f))
		}
	}
	fraction(c.PowerTolerance, "power-tolerance")
	fraction(c.EnergyTolerance, "energy-tolerance")
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = "  - " + e.Error()
	}
	return fmt.Errorf("invalid wattson suite configuration:\n%s", strings.Join(msgs, "\n"))
}
