package monitoring_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// TestPrometheusOperatorConfig is the full stack's selectors at work: it applies the full-stack
// overlay for real to a kube-apiserver, adds a ScrapeConfig and a recording PrometheusRule as the
// Wattson operator writes them for a PDU (testdata/operator-objects.yaml) and the energy Suite's
// ServiceMonitor and PrometheusRule as it renders them (the renderer's golden), runs the real
// prometheus-operator against the apiserver, and reads the Prometheus configuration and rule files
// it generates. They must scrape the kit's ServiceMonitors and the PDU, load Wattson's alert and
// recording rules, send alerts to the kit's Alertmanager, and pass promtool. No pod runs: the
// configuration is what the Prometheus pod would load.
func TestPrometheusOperatorConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver, etcd and prometheus-operator")
	}
	repo := root(t)
	promOperator := testenv.Binary(t, "prometheus-operator")
	promtool := testenv.Binary(t, "promtool")
	kubectl := testenv.Binary(t, "kubectl")
	testenv.Binary(t, "kustomize")

	cfg, env := testenv.Kube(t, testenv.KubeOptions{PrometheusOperatorCRDs: true})
	user, err := env.AddUser(envtest.User{Name: "wattson-stack-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	ucfg := user.Config()
	files := map[string][]byte{"kubeconfig": kc, "ca.crt": ucfg.CAData, "client.crt": ucfg.CertData, "client.key": ucfg.KeyData}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	kenv := []string{"KUBECONFIG=" + kubeconfig}
	applyYAML := func(what string, data []byte) {
		t.Helper()
		if _, err := command(ctx, repo, kenv, bytes.NewReader(data), kubectl, "apply", "--server-side", "--field-manager=wattson-test", "-f", "-"); err != nil {
			t.Fatalf("apply %s: %v", what, err)
		}
	}
	// wattson-system comes with the operator; dc1 is a namespace of PDUs.
	applyYAML("namespaces", []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: wattson-system}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: dc1}\n"))
	stack := kustomizeBuild(t, repo, "monitoring/overlays/full-stack")
	var nsDocs, rest bytes.Buffer
	for _, o := range decode(t, stack) {
		b, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if o.GetKind() == "Namespace" {
			nsDocs.Write(append(b, '\n'))
		} else {
			rest.Write(append(b, '\n'))
		}
	}
	applyYAML("the full-stack namespace", nsDocs.Bytes())
	applyYAML("the full-stack overlay", rest.Bytes())
	applyYAML("the operator's objects", mustRead(t, filepath.Join(repo, "monitoring/testdata/operator-objects.yaml")))
	// What the operator renders for the kit's energy Suite: its ServiceMonitor and PrometheusRule,
	// from the renderer's golden (operator/internal/render checks it against the renderer).
	var suiteObjs bytes.Buffer
	for _, o := range decode(t, mustRead(t, filepath.Join(repo, "operator/internal/render/testdata/suite-energy.golden.yaml"))) {
		if k := o.GetKind(); k != "ServiceMonitor" && k != "PrometheusRule" {
			continue
		}
		b, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		suiteObjs.Write(append(b, '\n'))
	}
	applyYAML("the energy Suite's monitor and rules", suiteObjs.Bytes())
	// A tenant's look-alikes in dc1, labelled as Wattson's: a PodMonitor that would scrape a fake
	// wattson_runtime_ready and a PrometheusRule. Neither may be loaded.
	applyYAML("a tenant's monitor and rule", mustRead(t, filepath.Join(repo, "monitoring/testdata/tenant-objects.yaml")))

	addr, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	p, err := procs.Start(procs.Spec{Name: "prometheus-operator", Path: promOperator, Args: []string{
		"--apiserver=" + cfg.Host,
		"--ca-file=" + filepath.Join(dir, "ca.crt"),
		"--cert-file=" + filepath.Join(dir, "client.crt"),
		"--key-file=" + filepath.Join(dir, "client.key"),
		"--web.listen-address=" + addr,
		// As the kit's Deployment runs it (prometheus-operator/deployment.yaml).
		"--watch-referenced-objects-in-all-namespaces=true",
		"--disable-unmanaged-prometheus-configuration=true",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("prometheus-operator output:\n%s", tailLines(p.Output(), 40))
		}
		if err := p.Stop(10 * time.Second); err != nil {
			t.Errorf("stop prometheus-operator: %v", err)
		}
	})

	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The generated configuration, once it holds every expected job: the operator may write a
	// first version before it has seen every monitor.
	wantJobs := []string{
		"serviceMonitor/wattson-system/wattson-suite-energy/0",
		"serviceMonitor/wattson-system/wattson-operator/0",
		"serviceMonitor/wattson-system/wattson-snmp-exporter/0",
		"serviceMonitor/wattson-system/wattson-snmpsim/0",
		"serviceMonitor/wattson-monitoring/wattson-prometheus/0",
		"serviceMonitor/wattson-monitoring/wattson-alertmanager/0",
		"serviceMonitor/wattson-monitoring/wattson-prometheus-operator/0",
		"scrapeConfig/dc1/rack-a01-pdu1",
	}
	var config string
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-p.Done():
			t.Fatalf("prometheus-operator exited:\n%s", tailLines(p.Output(), 40))
		default:
		}
		s, err := cs.CoreV1().Secrets("wattson-monitoring").Get(ctx, "prometheus-wattson", metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		if err == nil {
			config = gunzip(t, s.Data["prometheus.yaml.gz"])
			if containsAll(config, wantJobs) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Prometheus configuration with jobs %v after 90s; last:\n%s", wantJobs, config)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, want := range []string{
		// The PDU job carries the label the alerts select on.
		"replacement: " + v1alpha1.PDUJob,
		// Alerts go to the kit's Alertmanager.
		"wattson-alertmanager",
		// Short retention (prometheus-operator writes it to the configuration for Prometheus 3).
		"retention:\n      time: 2d\n      size: 2GB",
	} {
		if !strings.Contains(config, want) {
			t.Errorf("generated Prometheus configuration lacks %q:\n%s", want, config)
		}
	}
	// Tenants cannot fake or mask the kit's series (monitoring/README.md#tenants-cannot-mask-the-kit).
	if strings.Contains(config, "podMonitor/dc1/") {
		t.Errorf("the generated configuration scrapes a tenant's PodMonitor in dc1:\n%s", config)
	}
	pduJob := jobSection(config, "scrapeConfig/dc1/rack-a01-pdu1")
	if !regexp.MustCompile(`target_label: namespace\s+replacement: dc1\s`).MatchString(pduJob) {
		t.Errorf("the PDU's ScrapeConfig in dc1 does not get its namespace label enforced:\n%s", pduJob)
	}

	// The operator's metrics are HTTPS for Prometheus's ServiceAccount token (operator/README.md).
	operatorJob := jobSection(config, "serviceMonitor/wattson-system/wattson-operator/0")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`\bscheme: https\n`),
		regexp.MustCompile(`(credentials_file|bearer_token_file): /var/run/secrets/kubernetes.io/serviceaccount/token\n`),
		regexp.MustCompile(`\binsecure_skip_verify: true\n`),
	} {
		if !want.MatchString(operatorJob) {
			t.Errorf("the operator's job lacks %s:\n%s", want, operatorJob)
		}
	}

	// Features are command-line flags of the Prometheus container.
	sts, err := cs.AppsV1().StatefulSets("wattson-monitoring").Get(ctx, "prometheus-wattson", metav1.GetOptions{})
	for apierrors.IsNotFound(err) && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		sts, err = cs.AppsV1().StatefulSets("wattson-monitoring").Get(ctx, "prometheus-wattson", metav1.GetOptions{})
	}
	if err != nil {
		t.Fatalf("prometheus-operator made no StatefulSet for Prometheus wattson: %v", err)
	}
	var args []string
	for _, c := range sts.Spec.Template.Spec.Containers {
		if c.Name == "prometheus" {
			args = c.Args
		}
	}
	for _, want := range []string{
		"--enable-feature=extra-scrape-metrics", // scrape_timeout_seconds, for WattsonPDUScrapeNearTimeout
	} {
		if !slices.Contains(args, want) {
			t.Errorf("the Prometheus container lacks %s; args %v", want, args)
		}
	}

	cfgDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfgDir, "prometheus.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := command(ctx, cfgDir, nil, nil, promtool, "check", "config", "--syntax-only", "prometheus.yaml"); err != nil {
		t.Errorf("promtool check config on the generated configuration: %v", err)
	} else {
		t.Logf("%s", out)
	}

	// The rule files: Wattson's alerts and totals, and the operator's recording rules.
	var rules strings.Builder
	var ruleFiles []string
	for time.Now().Before(deadline) {
		cms, err := cs.CoreV1().ConfigMaps("wattson-monitoring").List(ctx, metav1.ListOptions{LabelSelector: "prometheus-name=wattson"})
		if err != nil {
			t.Fatal(err)
		}
		rules.Reset()
		ruleFiles = ruleFiles[:0]
		for _, cm := range cms.Items {
			for name, data := range cm.Data {
				rules.WriteString(data)
				if err := os.WriteFile(filepath.Join(cfgDir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
				ruleFiles = append(ruleFiles, name)
			}
		}
		if len(ruleFiles) >= 4 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, group := range []string{"name: wattson.suite.wattson-system.energy", "name: wattson.pdu.totals", "name: wattson.pdu\n", "name: wattson.pdumodel.apc-rpdu2"} {
		if !strings.Contains(rules.String(), group) {
			t.Errorf("the generated rule files lack the group %q (files %v)", strings.TrimSpace(group), ruleFiles)
		}
	}
	if strings.Contains(rules.String(), "tenant.fake") {
		t.Errorf("the generated rule files load a tenant's PrometheusRule from dc1 (files %v)", ruleFiles)
	}
	// The kit's rules are excluded from namespace enforcement: they aggregate every namespace.
	if !strings.Contains(rules.String(), `rPDU2DeviceStatusPower{model="apc-rpdu2"}`) {
		t.Errorf("the operator's recording rules were rewritten (namespace enforced?):\n%s", rules.String())
	}
	if len(ruleFiles) > 0 {
		if _, err := command(ctx, cfgDir, nil, nil, promtool, append([]string{"check", "rules"}, ruleFiles...)...); err != nil {
			t.Errorf("promtool check rules on the generated rule files: %v", err)
		}
	}
}

// jobSection is the scrape config of job name in a generated Prometheus configuration.
func jobSection(config, name string) string {
	i := strings.Index(config, "job_name: "+name+"\n")
	if i < 0 {
		return ""
	}
	job := config[i:]
	if next := strings.Index(job[1:], "job_name:"); next > 0 {
		job = job[:next+1]
	}
	return job
}

func gunzip(t testing.TB, data []byte) string {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("prometheus.yaml.gz: %v", err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("prometheus.yaml.gz: %v", err)
	}
	return string(b)
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("%s\n", strings.Join(lines, "\n"))
}
