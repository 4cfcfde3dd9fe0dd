package settings

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, args []string, env map[string]string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("specs", flag.ContinueOnError)
	c := Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return c, c.Load(fs, func(k string) string { return env[k] })
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		need Need
		// want are substrings of the error; none means valid.
		want []string
		// not are substrings the error must not contain.
		not []string
	}{
		{
			name: "nothing given names both required flags and their env vars",
			want: []string{"missing --wattson.prometheus-url (or env WATTSON_PROMETHEUS_URL)", "missing --wattson.alertmanager-url (or env WATTSON_ALERTMANAGER_URL)"},
			not:  []string{"simulator-url"},
		},
		{
			name: "simulator needed when its specs are selected",
			args: []string{"--wattson.prometheus-url=http://p:9090", "--wattson.alertmanager-url=http://a:9093"},
			need: Need{Simulator: true},
			want: []string{"missing --wattson.simulator-url (or env WATTSON_SIMULATOR_URL)", "!simulator"},
			not:  []string{"prometheus-url"},
		},
		{
			name: "from the environment",
			env:  map[string]string{"WATTSON_PROMETHEUS_URL": "http://p:9090", "WATTSON_ALERTMANAGER_URL": "https://a:9093", "WATTSON_SIMULATOR_URL": "http://s:8161"},
			need: Need{Simulator: true},
		},
		{
			name: "not a URL",
			args: []string{"--wattson.prometheus-url=prometheus:9090", "--wattson.alertmanager-url=http://a:9093"},
			want: []string{`--wattson.prometheus-url (env WATTSON_PROMETHEUS_URL) = "prometheus:9090": want an http(s) URL`},
		},
		{
			name: "bad numbers",
			args: []string{"--wattson.prometheus-url=http://p", "--wattson.alertmanager-url=http://a", "--wattson.power-tolerance=1.5", "--wattson.poll-interval=5m", "--wattson.alert-timeout=0s"},
			want: []string{"--wattson.power-tolerance (env WATTSON_POWER_TOLERANCE) = 1.5: want a fraction", "--wattson.poll-interval (5m0s) must be shorter than --wattson.eventually-timeout (3m0s)", "--wattson.alert-timeout (env WATTSON_ALERT_TIMEOUT) = 0s: want a positive duration"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate(tc.need)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error containing %q, got nil", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error should not mention %q:\n%v", n, err)
				}
			}
		})
	}
}

func TestFlagBeatsEnvironment(t *testing.T) {
	c, err := parse(t, []string{"--wattson.prometheus-url=http://flag:9090"},
		map[string]string{"WATTSON_PROMETHEUS_URL": "http://env:9090", "WATTSON_ALERT_TIMEOUT": "7m", "WATTSON_ENERGY_TOLERANCE": "0.2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.PrometheusURL != "http://flag:9090" {
		t.Errorf("PrometheusURL = %q, want the flag's value", c.PrometheusURL)
	}
	if c.AlertTimeout != 7*time.Minute || c.EnergyTolerance != 0.2 {
		t.Errorf("AlertTimeout, EnergyTolerance = %s, %v; want the environment's 7m, 0.2", c.AlertTimeout, c.EnergyTolerance)
	}
	if c.EventuallyTimeout != 3*time.Minute {
		t.Errorf("EventuallyTimeout default = %s, want 3m", c.EventuallyTimeout)
	}
}

func TestBadEnvironmentValueNamesVariableAndFlag(t *testing.T) {
	_, err := parse(t, nil, map[string]string{"WATTSON_ALERT_TIMEOUT": "soon"})
	if err == nil || !strings.Contains(err.Error(), `WATTSON_ALERT_TIMEOUT="soon" (flag --wattson.alert-timeout)`) {
		t.Fatalf("got %v, want an error naming WATTSON_ALERT_TIMEOUT and its flag", err)
	}
}
