package stack_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/stack"
	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/specs/sim"
)

// remoteWrite turns the overlay's Prometheus remoteWrite (prometheus-operator's camelCase fields)
// into the remote_write section prometheus-operator would render for it, pointed at url.
func remoteWrite(t *testing.T, root, url string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "monitoring", "overlays", "long-term", "prometheus-remote-write.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var patch struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			RemoteWrite []struct {
				Name                string           `json:"name"`
				URL                 string           `json:"url"`
				WriteRelabelConfigs []map[string]any `json:"writeRelabelConfigs"`
			} `json:"remoteWrite"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(b, &patch); err != nil {
		t.Fatalf("prometheus-remote-write.yaml: %v", err)
	}
	if len(patch.Spec.RemoteWrite) != 1 {
		t.Fatalf("prometheus-remote-write.yaml: want one remoteWrite, have %d", len(patch.Spec.RemoteWrite))
	}
	rw := patch.Spec.RemoteWrite[0]
	keys := map[string]string{"sourceLabels": "source_labels", "targetLabel": "target_label", "regex": "regex",
		"action": "action", "replacement": "replacement", "separator": "separator", "modulus": "modulus"}
	var relabel []map[string]any
	for _, rc := range rw.WriteRelabelConfigs {
		out := map[string]any{}
		for k, v := range rc {
			snake, ok := keys[k]
			if !ok {
				t.Fatalf("prometheus-remote-write.yaml: relabel field %q is not translated here", k)
			}
			out[snake] = v
		}
		relabel = append(relabel, out)
	}
	section := map[string]any{"remote_write": []map[string]any{{
		"name": rw.Name, "url": url, "write_relabel_configs": relabel,
		// Send within a second: the test waits for it.
		"queue_config": map[string]any{"batch_send_deadline": "1s"},
	}}}
	y, err := yaml.Marshal(section)
	if err != nil {
		t.Fatal(err)
	}
	return string(y)
}

// kWhPerRack is the dashboard's "kWh per rack" query (the one monitoring/README.md documents),
// with Grafana's variables as Grafana sends them for "All" and a range of window.
func kWhPerRack(t *testing.T, root string, window time.Duration) string {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err := os.ReadFile(filepath.Join(root, "monitoring", "dashboards", "wattson.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Panels {
		if strings.HasPrefix(p.Title, "kWh per rack") {
			return strings.NewReplacer("$__range", strconv.Itoa(int(window.Seconds()))+"s", "$site", ".*", "$room", ".*", "$rack", ".*").Replace(p.Targets[0].Expr)
		}
	}
	t.Fatal(`the dashboard has no "kWh per rack" panel`)
	return ""
}

// TestLongTermEnergyMatchesSimulator runs the chain with Prometheus remote-writing, with the
// long-term overlay's relabelling, to a real VictoriaMetrics, and checks that the energy per rack
// read back from VictoriaMetrics with the documented query equals the simulator's exact integral
// of the PDU's power between the two samples the query spans, within one counter step.
func TestLongTermEnergyMatchesSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole chain and VictoriaMetrics")
	}
	// Its own target: VictoriaMetrics' cold build alone would cost every CI run minutes.
	if os.Getenv("WATTSON_LONGTERM") != "1" {
		t.Skip("the long-term store's proof: run `make test-longterm` (builds VictoriaMetrics, then runs this test)")
	}
	for _, b := range []string{"kube-apiserver", "etcd", "prometheus", "alertmanager", "snmp_exporter", "wattson-operator", "wattson-snmpsim", "wattson-runtime", "specs.test"} {
		testenv.Binary(t, b)
	}
	testenv.Fixtures(t, "mibs")
	root, err := procs.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	vm := testenv.VictoriaMetrics(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{RemoteWrite: remoteWrite(t, root, vm.URL+"/api/v1/write"), SpecsInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	simc := sim.New(s.Sim.URL)

	// The PDUs with an energy counter: APC (0.1 kWh steps) and Raritan (1 Wh steps).
	type pdu struct{ name, rack, model, device string }
	var pdus []pdu
	for _, p := range stack.DemoPDUs {
		if r := energyReading(sim.Models[p.Model]); r != nil {
			pdus = append(pdus, pdu{p.Name, p.Labels["rack"], p.Model, p.Community})
		}
	}
	if len(pdus) < 2 {
		t.Fatalf("want two demo PDUs with an energy counter, have %v", pdus)
	}

	// Wait until every energy series has reached VictoriaMetrics, then for a window of samples.
	const window = 2 * time.Minute
	var first time.Time
	for first.IsZero() {
		n, err := vmCount(ctx, vm.URL, `count(wattson_pdu_energy_joules_total)`)
		if err == nil && n == len(pdus) {
			first = time.Now()
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("VictoriaMetrics never received %d energy series (last: %v, %v)", len(pdus), n, err)
		case <-time.After(2 * time.Second):
		}
	}
	// Nothing else leaves Prometheus: the overlay keeps wattson_pdu_* only.
	if n, err := vmCount(ctx, vm.URL, `count({__name__=~".+", __name__!~"wattson_pdu_.*"})`); err != nil || n != 0 {
		t.Errorf("VictoriaMetrics holds %v series outside wattson_pdu_* (%v)", n, err)
	}
	at := first.Add(window + 5*time.Second)
	time.Sleep(time.Until(at.Add(3 * time.Second))) // the last sample before `at` is delivered
	end := at.Truncate(time.Second)

	perRack, err := vmVector(ctx, vm.URL, kWhPerRack(t, root, window), end)
	if err != nil {
		t.Fatal(err)
	}
	// The longest SNMP walk: each sample was read somewhere in [scrape time, + this].
	walk, err := vmVectorProm(ctx, s.Prometheus.URL, fmt.Sprintf(`max(max_over_time(scrape_duration_seconds{job="wattson-pdu"}[%ds]))`, int((window+time.Minute).Seconds())), end)
	if err != nil || len(walk) != 1 {
		t.Fatalf("scrape durations from Prometheus: %v %v", walk, err)
	}
	d := time.Duration(walk[""] * float64(time.Second))

	for _, p := range pdus {
		t.Run(p.name, func(t *testing.T) {
			r := energyReading(sim.Models[p.model])
			scale := r.Scale
			if r.DecimalDigitsOID != "" {
				vs, err := simc.Truth(ctx, p.device, r.DecimalDigitsOID)
				if err != nil {
					t.Fatal(err)
				}
				digits, err := vs.Float(r.DecimalDigitsOID)
				if err != nil {
					t.Fatal(err)
				}
				scale /= math.Pow(10, digits)
			}
			// MetricsQL's increase over (end-window, end] is the last sample at or before end minus
			// the last one at or before end-window.
			samples, err := vmExport(ctx, vm.URL, fmt.Sprintf(`wattson_pdu_energy_joules_total{pdu=%q}`, p.name), end.Add(-window-time.Minute), end)
			if err != nil {
				t.Fatal(err)
			}
			a, okA := lastAtOrBefore(samples, end.Add(-window))
			b, okB := lastAtOrBefore(samples, end)
			if !okA || !okB || !b.t.After(a.t) {
				t.Fatalf("no samples spanning the window in %v", samples)
			}
			got, ok := perRack[p.rack]
			if !ok {
				series, _ := vmSeries(ctx, vm.URL, "wattson_pdu_energy_joules_total")
				t.Fatalf("kWh per rack has no rack %s: %v; energy series: %s", p.rack, perRack, series)
			}
			joules := got * 3.6e6
			if raw := b.v - a.v; math.Abs(joules-raw) > 1e-6*math.Max(raw, 1) {
				t.Errorf("query says %.0f J, the raw samples %.0f J apart", joules, raw)
			}
			exact, err := simc.Growth(ctx, p.device, r.OID, a.t, b.t)
			if err != nil {
				t.Fatal(err)
			}
			// The counter is floored (within one step of the integral at each read), and each read
			// happened within the walk after its sample's timestamp.
			lo, err := simc.Growth(ctx, p.device, r.OID, a.t.Add(d), b.t)
			if err != nil {
				t.Fatal(err)
			}
			hi, err := simc.Growth(ctx, p.device, r.OID, a.t, b.t.Add(d))
			if err != nil {
				t.Fatal(err)
			}
			step := scale
			t.Logf("%s (rack %s): %s to %s, VictoriaMetrics %.0f J (%.4f kWh), simulator's exact integral %.0f J, difference %.2f counter steps of %.0f J (walk ≤ %s)",
				p.name, p.rack, a.t.Format(time.TimeOnly), b.t.Format(time.TimeOnly), joules, got, exact*scale, (joules-exact*scale)/step, step, d)
			if joules < (lo-1)*scale || joules > (hi+1)*scale {
				t.Errorf("VictoriaMetrics says %.0f J over %s..%s; the simulator's exact integral is %.0f J: outside one counter step (%.0f J) [%.0f, %.0f]",
					joules, a.t.Format(time.RFC3339Nano), b.t.Format(time.RFC3339Nano), exact*scale, step, (lo-1)*scale, (hi+1)*scale)
			}
		})
	}
}

func energyReading(m sim.Model) *sim.Reading {
	for _, r := range m.Readings {
		if r.Metric == "wattson_pdu_energy_joules_total" {
			return &r
		}
	}
	return nil
}

type sample struct {
	t time.Time
	v float64
}

func lastAtOrBefore(ss []sample, t time.Time) (sample, bool) {
	var out sample
	ok := false
	for _, s := range ss {
		if !s.t.After(t) {
			out, ok = s, true
		}
	}
	return out, ok
}

// vmExport reads the raw samples of one series from VictoriaMetrics' /api/v1/export.
func vmExport(ctx context.Context, base, match string, from, to time.Time) ([]sample, error) {
	q := url.Values{"match[]": {match}, "start": {strconv.FormatInt(from.Unix(), 10)}, "end": {strconv.FormatInt(to.Unix(), 10)}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/export?"+q.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("export %s: %s", match, resp.Status)
	}
	var out []sample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 16<<20)
	n := 0
	for sc.Scan() {
		var line struct {
			Values     []float64 `json:"values"`
			Timestamps []int64   `json:"timestamps"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("export %s: %w", match, err)
		}
		n++
		for i, ts := range line.Timestamps {
			out = append(out, sample{time.UnixMilli(ts), line.Values[i]})
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("export %s: %d series, want 1", match, n)
	}
	return out, sc.Err()
}

// vmVector runs an instant query on VictoriaMetrics and returns the values by rack label.
func vmVector(ctx context.Context, base, expr string, at time.Time) (map[string]float64, error) {
	return instant(ctx, base, expr, at, "rack")
}

// vmVectorProm runs an instant query on Prometheus; the one series is keyed "".
func vmVectorProm(ctx context.Context, base, expr string, at time.Time) (map[string]float64, error) {
	return instant(ctx, base, expr, at, "")
}

func vmCount(ctx context.Context, base, expr string) (int, error) {
	v, err := instant(ctx, base, expr, time.Now(), "")
	if err != nil {
		return 0, err
	}
	return int(v[""]), nil
}

func instant(ctx context.Context, base, expr string, at time.Time, key string) (map[string]float64, error) {
	q := url.Values{"query": {expr}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?"+q.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", expr, body.Error)
	}
	out := map[string]float64{}
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v: %w", expr, r.Value[1], err)
		}
		out[r.Metric[key]] = v
	}
	return out, nil
}

// vmSeries returns the label sets of the series matching match, for failure messages.
func vmSeries(ctx context.Context, base, match string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/series?"+url.Values{"match[]": {match}}.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, err = io.Copy(&b, resp.Body)
	return b.String(), err
}
