package render_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/snmp_exporter/config"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/generator"
	"github.com/wattson-dev/wattson/operator/internal/render"
	"github.com/wattson-dev/wattson/specs/prom"
)

// chainPDU is one PDU of a chain test: a recording the simulator serves and the model it is read
// with.
type chainPDU struct {
	name      string
	model     string
	recording string // path of a .snmprec file
}

// chain is the real energy chain on loopback: wattson-snmpsim serving recordings, the real
// snmp_exporter with the modules the MIB compiler made of the models, and the real Prometheus
// scraping it with the operator's plain scrape configuration and evaluating its recording rules.
type chain struct {
	prom   string
	models map[string]*v1alpha1.PDUModel
	rules  []byte
}

// vendorMIBs are the shared fixture MIB folders the sample models compile against.
func vendorMIBs(t *testing.T) generator.MIBSource {
	mibs := testenv.Fixtures(t, "mibs")
	return generator.MIBSource{Dirs: []string{
		filepath.Join(mibs, "ietf"), filepath.Join(mibs, "vendor", "apc"),
		filepath.Join(mibs, "vendor", "raritan"), filepath.Join(mibs, "vendor", "cyberpower"),
	}}
}

// compileModels compiles models as the PDUModel reconciler does, filling status.module and
// status.energy, and returns their snmp_exporter modules.
func compileModels(t *testing.T, src generator.MIBSource, models []v1alpha1.PDUModel) map[string]*config.Module {
	t.Helper()
	c, _, err := generator.NewCompiler(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	modules := map[string]*config.Module{}
	for i := range models {
		m := &models[i]
		gm, err := render.GeneratorModule(&m.Spec)
		if err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		mod, energy, _, err := c.Module(render.ModuleName(m), gm)
		if err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		m.Status.Module = render.ModuleName(m)
		if m.Status.Energy, err = render.EnergyStatus(&m.Spec, energy); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		modules[render.ModuleName(m)] = mod
	}
	return modules
}

// startChain starts the simulator, snmp_exporter and Prometheus for pdus, and waits until every
// PDU has been scraped and the rules have been evaluated once.
func startChain(t *testing.T, src generator.MIBSource, models []v1alpha1.PDUModel, pdus []chainPDU) *chain {
	t.Helper()
	exporterBin := testenv.Binary(t, "snmp_exporter")
	testenv.Binary(t, "prometheus")
	modules := compileModels(t, src, models)
	ch := &chain{models: map[string]*v1alpha1.PDUModel{}}
	for i := range models {
		ch.models[models[i].Name] = &models[i]
	}
	_ = exporterBin

	// The simulator: community NAME serves DATA/NAME.snmprec; one endpoint per PDU.
	data := t.TempDir()
	args := []string{"--data-dir=" + data}
	addrs := map[string]string{}
	for _, p := range pdus {
		if err := os.Symlink(p.recording, filepath.Join(data, p.name+".snmprec")); err != nil {
			t.Fatal(err)
		}
		addrs[p.name] = freeUDPAddr(t)
		args = append(args, "--agent-udpv4-endpoint="+addrs[p.name])
	}
	web, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	args = append(args, "--web.listen-address="+web)
	sim, err := procs.Start(procs.Spec{Name: "wattson-snmpsim", Path: buildSimulator(t), Args: args})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("wattson-snmpsim output:\n%s", sim.Tail(40))
		}
		_ = sim.Stop(5 * time.Second)
	})
	ctx, cancel := context.WithTimeout(context.Background(), testenv.StartTimeout)
	defer cancel()
	if err := sim.WaitHTTP(ctx, "http://"+web+"/healthz"); err != nil {
		t.Fatalf("simulator: %v\n%s", err, sim.Tail(20))
	}

	// The operator's objects for those PDUs: auths, snmp.yml, scrape configs, rules.
	var objs []v1alpha1.PDU
	auths := map[string]*config.Auth{}
	for _, p := range pdus {
		host, port, _ := net.SplitHostPort(addrs[p.name])
		portN, _ := strconv.Atoi(port)
		pdu := v1alpha1.PDU{
			ObjectMeta: metav1.ObjectMeta{Namespace: "chain", Name: p.name},
			Spec: v1alpha1.PDUSpec{Address: host, Port: int32(portN), Model: p.model, Interval: "1s", Timeout: "1s",
				SNMP: v1alpha1.SNMP{SecretRef: v1alpha1.SecretReference{Name: "community-" + p.name}}},
		}
		secret := &corev1.Secret{Data: map[string][]byte{"community": []byte(p.name)}}
		creds, err := render.CredentialsFrom(&pdu.Spec.SNMP, secret)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := render.Auth(&pdu, creds)
		auths[render.AuthName(&pdu)] = a
		objs = append(objs, pdu)
	}
	snmpYML, err := render.SNMPConfig(modules, auths)
	if err != nil {
		t.Fatal(err)
	}
	exporter := testenv.SNMPExporter(t, string(snmpYML))
	scrape, err := render.PlainScrapeConfigs(objs, models, exporter.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if ch.rules, err = render.RecordingRules(models); err != nil {
		t.Fatal(err)
	}
	cfg := "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [wattson.rules.yml]\n" + string(scrape)
	prom := testenv.Prometheus(t, cfg, map[string]string{"wattson.rules.yml": string(ch.rules)})
	ch.prom = prom.URL

	// Every PDU scraped (up 1) and the rules evaluated at least once after that.
	deadline := time.Now().Add(30 * time.Second)
	for {
		up, err := ch.query(`up == 1`)
		if err == nil && len(up) == len(pdus) {
			time.Sleep(2500 * time.Millisecond)
			return ch
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every PDU is up after 30s: %v %v\nsnmp_exporter:\n%s", up, err, exporter.Tail(20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// series is one sample of an instant query.
type series struct {
	Labels map[string]string
	Value  float64
}

func (s series) String() string {
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, s.Labels[k]))
	}
	return fmt.Sprintf("{%s} %g", strings.Join(parts, ", "), s.Value)
}

// query runs an instant query on the chain's Prometheus, through the specs' own client.
func (c *chain) query(q string) ([]series, error) {
	v, err := prom.New(c.prom).QueryVector(context.Background(), q)
	if err != nil {
		return nil, err
	}
	out := make([]series, 0, len(v.Samples))
	for _, s := range v.Samples {
		out = append(out, series{Labels: s.Metric, Value: s.Value})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// ruleErrors returns the last evaluation error of every recording rule that has one.
func (c *chain) ruleErrors(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get(c.prom + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Query     string `json:"query"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range body.Data.Groups {
		for _, r := range g.Rules {
			if r.LastError != "" {
				out = append(out, r.Name+": "+r.LastError+" ("+r.Query+")")
			}
		}
	}
	return out
}

// buildSimulator builds wattson-snmpsim from this checkout (the build cache makes it quick).
func buildSimulator(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "wattson-snmpsim")
	cmd := exec.Command("go", "build", "-o", out, "github.com/wattson-dev/wattson/mocks")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./mocks: %v\n%s", err, b)
	}
	return out
}

func freeUDPAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func approx(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-9*max(1, abs(a), abs(b))
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
