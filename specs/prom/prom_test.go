package prom_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/specs/prom"
)

const rules = `
groups:
  - name: wattson.test
    rules:
      - record: test:up:sum
        expr: sum(up)
      - alert: TestAlwaysFiring
        expr: vector(1)
  - name: wattson.broken
    rules:
      - record: test:broken
        # Parses, but fails at every evaluation: many-to-many matching.
        expr: '{job="self", __name__=~"up|scrape_duration_seconds"} * on(job) {job="self", __name__=~"up|scrape_samples_scraped"}'
`

// startSelfScraping starts a real Prometheus that scrapes itself every second, loads rules and
// sends alerts to alertmanager (if not empty), and waits until its own target is up.
func startSelfScraping(t *testing.T, alertmanager string) (*procs.Server, *prom.Client) {
	t.Helper()
	p := testenv.Prometheus(t, "global: {scrape_interval: 1s}\n", map[string]string{"rules.yml": rules})
	cfg := fmt.Sprintf(`
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml]
scrape_configs:
  - job_name: self
    static_configs: [{targets: [%q], labels: {pdu: self-pdu}}]
`, p.Addr)
	if alertmanager != "" {
		cfg += fmt.Sprintf("alerting:\n  alertmanagers: [{static_configs: [{targets: [%q]}]}]\n", alertmanager)
	}
	if err := os.WriteFile(p.Dir+"/prometheus.yml", []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(p.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %s", resp.Status)
	}
	c := prom.New(p.URL)
	NewWithT(t).Eventually(t.Context(), c.Poll(`up{job="self"}`)).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).
		Should(prom.HaveSeries(prom.Labels{"job": "self"}, Equal(1.0)))
	return p, c
}

// failure runs fn with a Gomega whose failures are captured instead of failing t.
func failure(fn func(g Gomega)) (msg string) {
	g := NewGomega(func(message string, _ ...int) {
		msg = message
		panic(captured{})
	})
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(captured); !ok {
				panic(r)
			}
		}
	}()
	fn(g)
	return ""
}

type captured struct{}

func TestMatchersAgainstRealPrometheus(t *testing.T) {
	p, c := startSelfScraping(t, "")
	g := NewWithT(t)
	ctx := t.Context()
	prom.SetDefault(c)
	t.Cleanup(func() { prom.SetDefault(nil) })

	// The package-level Query from the example, through the default client.
	g.Eventually(ctx, prom.Query(`prometheus_build_info`)).WithTimeout(10 * time.Second).
		Should(prom.HaveSeries(prom.Labels{"job": "self", "pdu": "self-pdu"}))

	// Recording rules run and their result is queryable; then the rules API shows both groups.
	g.Eventually(ctx, prom.Query(`test:up:sum`)).WithTimeout(20 * time.Second).WithPolling(200 * time.Millisecond).
		Should(prom.EverySeries(BeNumerically(">=", 1)))
	g.Eventually(ctx, prom.Rules()).WithTimeout(10 * time.Second).Should(prom.HaveRuleGroup("wattson.test"))

	up, err := c.QueryVector(ctx, `up{job="self"}`)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(up.Samples).To(HaveLen(1))
	g.Expect(up.Samples[0].Metric).To(HaveKeyWithValue("instance", p.Addr))
	g.Expect(time.Since(up.Samples[0].Time)).To(BeNumerically("<", 10*time.Second))

	// A counter over a range never decreases (once it has a few points).
	const counter = `prometheus_http_requests_total{handler="/api/v1/query"}[30s]`
	g.Eventually(ctx, c.PollMatrix(counter)).WithTimeout(20 * time.Second).WithPolling(500 * time.Millisecond).
		Should(And(HaveField("Series", ContainElement(HaveField("Points", WithTransform(func(p []prom.Point) int { return len(p) }, BeNumerically(">=", 3))))), prom.BeNonDecreasing()))

	// Scalars become one unlabelled sample.
	s, err := c.QueryVector(ctx, `scalar(vector(42))`)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Samples).To(ConsistOf(HaveField("Value", 42.0)))

	// Whatever the helpers do not wrap, client_golang's API does, on the same connection.
	g.Expect(c.URL()).To(Equal(p.URL))
	targets, err := c.API().Targets(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(targets.Active).To(ContainElement(And(HaveField("Health", BeEquivalentTo("up")), HaveField("ScrapePool", "self"),
		HaveField("Labels", HaveKeyWithValue(BeEquivalentTo("pdu"), BeEquivalentTo("self-pdu"))))))
	g.Expect(c.Ready(ctx)).To(Succeed())

	// Both kinds of rule come out flat, each with its own kind.
	groups, err := c.Rules(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(groups).To(ContainElement(And(HaveField("Name", "wattson.test"), HaveField("Rules", ConsistOf(
		And(HaveField("Name", "test:up:sum"), HaveField("Type", "recording"), HaveField("Query", "sum(up)")),
		And(HaveField("Name", "TestAlwaysFiring"), HaveField("Type", "alerting"), HaveField("State", "firing")),
	)))))

	t.Run("failure messages", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			query   string
			matcher types.GomegaMatcher
			want    []string
		}{
			{"labels nobody has", `up`, prom.HaveSeries(prom.Labels{"pdu": "rack-z99"}),
				[]string{`Expected a series with labels {pdu="rack-z99"}`, `no series has the labels {pdu="rack-z99"}`, "query up returned 1 series", `up{instance="` + p.Addr + `", job="self", pdu="self-pdu"} => 1 @`}},
			{"wrong value", `up`, prom.HaveSeries(prom.Labels{"job": "self"}, BeNumerically("~", 1000, 1)),
				[]string{"1 series have the labels {job=\"self\"} but no value matches", "=> 1: Expected <float64>: 1 to be within 1 of ~ <int>: 1000", "BeNumericallyMatcher{Comparator:~ CompareTo:[1000 1]}"}},
			{"empty is not every", `up{job="none"}`, prom.EverySeries(BeNumerically(">", 0)),
				[]string{`Expected every series of query up{job="none"}`, "the query returned no series"}},
			{"some values fail", `up or vector(0)`, prom.EverySeries(BeNumerically(">", 0)),
				[]string{"1 of 2 series fail", "{} => 0: Expected <float64>: 0 to be > <int>: 0"}},
			{"series where none are wanted", `up`, prom.HaveNoSeries(),
				[]string{"Expected no series:", "query up returned 1 series"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				v, err := c.QueryVector(ctx, tc.query)
				if err != nil {
					t.Fatal(err)
				}
				ok, err := tc.matcher.Match(v)
				if err != nil || ok {
					t.Fatalf("Match = %v, %v; want a failure", ok, err)
				}
				msg := tc.matcher.FailureMessage(v)
				for _, w := range tc.want {
					if !strings.Contains(msg, w) {
						t.Errorf("failure message lacks %q:\n%s", w, msg)
					}
				}
			})
		}

		// A counter that went down: a real matrix from Prometheus, with one point edited.
		m, err := c.QueryMatrix(ctx, counter)
		if err != nil || len(m.Series) == 0 || len(m.Series[0].Points) < 2 {
			t.Fatalf("matrix: %v %+v", err, m)
		}
		m.Series[0].Points[1].Value = m.Series[0].Points[0].Value - 1
		nd := prom.BeNonDecreasing()
		if ok, _ := nd.Match(m); ok {
			t.Fatal("BeNonDecreasing accepted a series that went down")
		}
		if msg := nd.FailureMessage(m); !strings.Contains(msg, "prometheus_http_requests_total{") || !strings.Contains(msg, "went down from") {
			t.Errorf("BeNonDecreasing message does not say which series went down:\n%s", msg)
		}

		rules, err := c.Rules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rg := prom.HaveRuleGroup("wattson.missing")
		if ok, _ := rg.Match(rules); ok {
			t.Fatal("HaveRuleGroup found a group that is not loaded")
		}
		if msg := rg.FailureMessage(rules); !strings.Contains(msg, `"wattson.missing"`) || !strings.Contains(msg, "wattson.test") {
			t.Errorf("HaveRuleGroup message should name the missing and the loaded groups:\n%s", msg)
		}
	})

	t.Run("a broken rule fails HaveRuleGroup with Prometheus' error", func(t *testing.T) {
		msg := failure(func(g Gomega) {
			g.Eventually(ctx, prom.Rules()).WithTimeout(5 * time.Second).WithPolling(200 * time.Millisecond).Should(prom.HaveRuleGroup("wattson.broken"))
		})
		if !strings.Contains(msg, "rules fail to evaluate") || !strings.Contains(msg, "recording test:broken") {
			t.Errorf("message:\n%s", msg)
		}
	})

	t.Run("bad PromQL stops Eventually at once", func(t *testing.T) {
		start := time.Now()
		msg := failure(func(g Gomega) {
			g.Eventually(ctx, prom.Query(`up{`)).WithTimeout(time.Minute).Should(prom.HaveNoSeries())
		})
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("Eventually kept retrying a bad query for %s", took)
		}
		if !strings.Contains(msg, "Prometheus rejected the query") || !strings.Contains(msg, "bad_data") {
			t.Errorf("message:\n%s", msg)
		}
	})

	t.Run("HaveAlertingRule names the missing rule and the loaded ones", func(t *testing.T) {
		g := NewWithT(t)
		g.Eventually(ctx, prom.Rules()).WithTimeout(10 * time.Second).Should(prom.HaveAlertingRule("TestAlwaysFiring"))
		rules, err := c.Rules(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		m := prom.HaveAlertingRule("TestMissing")
		ok, err := m.Match(rules)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ok).To(BeFalse(), "HaveAlertingRule found a rule that is not loaded")
		g.Expect(m.FailureMessage(rules)).To(And(ContainSubstring("alerting rule TestMissing"), ContainSubstring("[TestAlwaysFiring]")))
		// A recording rule of that name is no alerting rule.
		ok, _ = prom.HaveAlertingRule("test:up:sum").Match(rules)
		g.Expect(ok).To(BeFalse(), "HaveAlertingRule took a recording rule")
	})

	t.Run("Lookback waits for series, then its first verdict is final", func(t *testing.T) {
		start := time.Now()
		msg := failure(func(g Gomega) {
			g.Eventually(ctx, prom.Query(`max_over_time(up{job="self"}[1m])`)).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).
				Should(prom.Lookback(prom.EverySeries(BeNumerically(">", 1))))
		})
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("Eventually kept retrying a look-back verdict for %s", took)
		}
		if !strings.Contains(msg, "max_over_time(up") || !strings.Contains(msg, "to be >") {
			t.Errorf("message:\n%s", msg)
		}
		// No series yet: keep waiting, up to the timeout.
		start = time.Now()
		msg = failure(func(g Gomega) {
			g.Eventually(ctx, prom.Query(`max_over_time(up{job="none"}[1m])`)).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).
				Should(prom.Lookback(prom.EverySeries(BeNumerically(">", 0))))
		})
		if took := time.Since(start); took < 2*time.Second || !strings.Contains(msg, "the query returned no series") {
			t.Errorf("with no series, Lookback gave up after %s: %s", took, msg)
		}
	})

	t.Run("a range query through QueryVector is a permanent error", func(t *testing.T) {
		_, err := c.QueryVector(ctx, `up[1m]`)
		if err == nil || !strings.Contains(err.Error(), "use QueryMatrix") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("no default client", func(t *testing.T) {
		prom.SetDefault(nil)
		defer prom.SetDefault(c)
		msg := failure(func(g Gomega) {
			g.Eventually(context.Background(), prom.Query(`up`)).WithTimeout(time.Minute).Should(prom.HaveNoSeries())
		})
		if !strings.Contains(msg, "prom.SetDefault") {
			t.Errorf("message:\n%s", msg)
		}
	})
}

func TestPrometheusSendsToAlertmanager(t *testing.T) {
	am := testenv.Alertmanager(t, "route: {receiver: none}\nreceivers: [{name: none}]\n")
	_, c := startSelfScraping(t, am.Addr)
	g := NewWithT(t)
	g.Eventually(func(ctx context.Context) ([]string, error) { return c.Alertmanagers(ctx) }).WithContext(t.Context()).
		WithTimeout(20 * time.Second).WithPolling(200 * time.Millisecond).Should(ContainElement(ContainSubstring(am.Addr)))
	g.Eventually(t.Context(), c.Poll(`ALERTS{alertname="TestAlwaysFiring", alertstate="firing"}`)).WithTimeout(20 * time.Second).
		Should(prom.HaveSeries(prom.Labels{"alertname": "TestAlwaysFiring"}))
}

func TestUnreachablePrometheus(t *testing.T) {
	addr, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	c := prom.New("http://" + addr)
	if err := c.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "prometheus /-/ready") {
		t.Errorf("Ready = %v, want a connection error naming the endpoint", err)
	}
	if _, err := c.QueryVector(t.Context(), "up"); err == nil || !strings.Contains(err.Error(), "query up") {
		t.Errorf("QueryVector = %v, want an error naming the query", err)
	}
}

func TestBadURLStopsAtOnce(t *testing.T) {
	c := prom.New("http://[::1")
	_, err := c.QueryVector(t.Context(), "up")
	if err == nil || !strings.Contains(err.Error(), `prometheus URL "http://[::1"`) {
		t.Errorf("QueryVector = %v, want an error naming the URL", err)
	}
	start := time.Now()
	msg := failure(func(g Gomega) {
		g.Eventually(t.Context(), c.Poll(`up`)).WithTimeout(time.Minute).Should(prom.HaveNoSeries())
	})
	if took := time.Since(start); took > 10*time.Second || !strings.Contains(msg, "http://[::1") {
		t.Errorf("Eventually on a bad URL took %s: %s", took, msg)
	}
}

func TestSelector(t *testing.T) {
	got := prom.Selector("up", prom.Labels{"pdu": `a"b`, "job": "wattson-pdu"})
	if want := `up{job="wattson-pdu",pdu="a\"b"}`; got != want {
		t.Errorf("Selector = %s, want %s", got, want)
	}
}
