package stack

import (
	"bytes"
	"compress/gzip"
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	return s
}

// DemoPDUs are the PDUs the stack declares: one per sample model, each served by the simulator
// under the community of the same name (mocks/data/<community>.snmprec).
var DemoPDUs = []struct {
	Name, Model, Community string
	Labels                 map[string]string
}{
	{"rack-a01-pdu1", "apc-rpdu2", "apc-rpdu2", map[string]string{"site": "demo", "room": "r1", "rack": "a01"}},
	{"rack-a02-pdu1", "raritan-px", "raritan-px3", map[string]string{"site": "demo", "room": "r1", "rack": "a02"}},
	{"rack-a03-pdu1", "cyberpower-epdu", "cyberpower-epdu", map[string]string{"site": "demo", "room": "r1", "rack": "a03"}},
}

func (s *Stack) startOperator(ctx context.Context) error {
	path, err := procs.Binary("wattson-operator")
	if err != nil {
		return err
	}
	metrics, err := procs.FreeAddr()
	if err != nil {
		return err
	}
	probe, err := procs.FreeAddr()
	if err != nil {
		return err
	}
	upload, err := procs.FreeAddr()
	if err != nil {
		return err
	}
	if err := s.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}); err != nil {
		return err
	}
	kubeconfig, err := s.applyOperatorRBAC(ctx)
	if err != nil {
		return err
	}
	// The upload page needs a token; the demo makes one and prints it.
	token := randomToken()
	if err := s.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "wattson-upload-token", Namespace: Namespace},
		StringData: map[string]string{"token": token},
	}); err != nil {
		return err
	}
	p, err := procs.Start(procs.Spec{Name: "wattson-operator", Path: path, Output: s.output("operator"),
		Env: []string{"KUBECONFIG=" + kubeconfig},
		Args: []string{
			"--namespace=" + Namespace,
			"--scrape-mode=plain",
			"--exporter.address=" + s.exporterAddr,
			"--prometheus.url=" + s.Prometheus.URL,
			"--prometheus.poll-interval=" + s.opts.ScrapeInterval.String(),
			"--metrics-bind-address=" + metrics,
			"--health-probe-bind-address=" + probe,
			"--upload.listen-address=" + upload,
			"--upload.token-secret=wattson-upload-token",
		}})
	if err != nil {
		return err
	}
	s.Operator = p
	s.UploadURL = "http://" + upload
	s.UploadToken = token
	s.OperatorMetrics = metrics
	if err := p.WaitHTTP(ctx, "http://"+probe+"/readyz"); err != nil {
		return err
	}
	// Prometheus scrapes the operator too, as in a cluster: over HTTPS, with a ServiceAccount
	// token allowed get /metrics.
	tokenFile, err := s.metricsReaderToken(ctx)
	if err != nil {
		return fmt.Errorf("a token for the operator's metrics: %w", err)
	}
	job := kitJob("wattson-operator")
	f := filepath.Join(s.Prometheus.Dir, "scrape", strings.ReplaceAll(job, "/", "_")+".yml")
	if err := writeFile(f, []byte("scrape_configs:\n"+scrapeJob(job, metrics)+
		fmt.Sprintf("  scheme: https\n  authorization: {credentials_file: %q}\n  tls_config: {insecure_skip_verify: true}\n", tokenFile))); err != nil {
		return err
	}
	return reload(ctx, s.Prometheus.URL)
}

// metricsReaderToken gives Prometheus what the kit gives it in a cluster: a ServiceAccount bound
// to the shipped ClusterRole wattson-metrics-reader, whose token (valid for a year, for a demo
// left running) it writes to a file and returns the path of.
func (s *Stack) metricsReaderToken(ctx context.Context) (string, error) {
	role, err := os.ReadFile(filepath.Join(s.opts.Root, "operator", "config", "rbac", "metrics_reader_role.yaml"))
	if err != nil {
		return "", err
	}
	cr := &rbacv1.ClusterRole{}
	if err := utilyaml.Unmarshal(role, cr); err != nil {
		return "", fmt.Errorf("metrics_reader_role.yaml: %w", err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "wattson-prometheus", Namespace: Namespace}}
	for _, obj := range []client.Object{cr, sa, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "wattson-prometheus-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: Namespace, Name: sa.Name}},
	}} {
		// The ClusterRole may exist already: applyOperatorRBAC applies all of config/rbac.
		if err := s.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", err
		}
	}
	year := int64(365 * 24 * 3600)
	tr := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &year}}
	if err := s.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		return "", err
	}
	path := filepath.Join(s.Dir, "prometheus-token")
	return path, os.WriteFile(path, []byte(tr.Status.Token), 0o600)
}

// PDUTimeout is the scrape timeout the stack gives its PDUs for a scrape interval: most of the
// interval, at most 4s.
func PDUTimeout(interval time.Duration) time.Duration { return min(4*time.Second, interval*8/10) }

// applySamples creates the MIB ConfigMaps, the sample PDUModels from operator/config/samples,
// a community Secret per PDU and the PDUs, all pointing at the simulator.
func (s *Stack) applySamples(ctx context.Context) error {
	if err := s.applyMIBs(ctx); err != nil {
		return err
	}
	samples, err := filepath.Glob(filepath.Join(s.opts.Root, "operator", "config", "samples", "wattson_v1alpha1_pdumodel_*.yaml"))
	if err != nil || len(samples) == 0 {
		return fmt.Errorf("no sample PDUModels in operator/config/samples")
	}
	for _, f := range samples {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		m := &v1alpha1.PDUModel{}
		if err := utilyaml.Unmarshal(b, m); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := s.Client.Create(ctx, m); err != nil {
			return fmt.Errorf("create PDUModel %s: %w", m.Name, err)
		}
	}
	if err := s.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: PDUNamespace}}); err != nil {
		return err
	}
	// The tenant lets the operator read its PDUs' Secrets.
	if err := s.Client.Create(ctx, credentialsBinding(PDUNamespace)); err != nil {
		return err
	}
	timeout := PDUTimeout(s.opts.ScrapeInterval)
	for i, d := range DemoPDUs {
		host, port, _ := net.SplitHostPort(s.SimAddrs[i])
		portNum, err := strconv.ParseInt(port, 10, 32)
		if err != nil {
			return fmt.Errorf("simulator address %s: %w", s.SimAddrs[i], err)
		}
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-snmp", Namespace: PDUNamespace},
			StringData: map[string]string{"community": d.Community},
		}
		if err := s.Client.Create(ctx, secret); err != nil {
			return err
		}
		pdu := &v1alpha1.PDU{
			ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: PDUNamespace,
				// Tells the energy suite which simulated device serves this PDU (its truth).
				Annotations: map[string]string{"specs.wattson.dev/simulator-device": d.Community}},
			Spec: v1alpha1.PDUSpec{
				Address:  host,
				Port:     int32(portNum),
				Model:    d.Model,
				SNMP:     v1alpha1.SNMP{Version: v1alpha1.SNMPv2c, SecretRef: v1alpha1.SecretReference{Name: secret.Name}},
				Labels:   d.Labels,
				Interval: promDuration(s.opts.ScrapeInterval),
				Timeout:  promDuration(timeout),
			},
		}
		if err := s.Client.Create(ctx, pdu); err != nil {
			return fmt.Errorf("create PDU %s: %w", d.Name, err)
		}
	}
	return nil
}

// applyMIBs stores every MIB file of the MIB folders in ConfigMaps labelled wattson.dev/mib,
// gzipped (PowerNet-MIB alone is larger than a ConfigMap may be).
func (s *Stack) applyMIBs(ctx context.Context) error {
	for i, dir := range s.opts.MIBDirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("mibs-%d-%s", i, sanitize(filepath.Base(dir))), Namespace: Namespace,
				Labels: map[string]string{v1alpha1.MIBLabel: "true"}},
			BinaryData: map[string][]byte{},
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return err
			}
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			if _, err := zw.Write(b); err != nil {
				return err
			}
			if err := zw.Close(); err != nil {
				return err
			}
			cm.BinaryData[e.Name()+".gz"] = z.Bytes()
		}
		if err := s.Client.Create(ctx, cm); err != nil {
			return fmt.Errorf("create MIB ConfigMap for %s: %w", dir, err)
		}
	}
	return nil
}

// startExporter waits for the operator's first snmp.yml, then starts snmp_exporter on it.
func (s *Stack) startExporter(ctx context.Context) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		ok, err := s.syncOnce(ctx)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the operator wrote no snmp_exporter configuration within 90s; see its output")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err := s.restartExporter(ctx); err != nil {
		return err
	}
	syncCtx, cancel := context.WithCancel(context.Background())
	s.stopSync, s.syncDone = cancel, make(chan struct{})
	go s.runSync(syncCtx)
	return nil
}

// restartExporter (re)starts snmp_exporter on the last synced snmp.yml and environment, as a
// config-hash annotation rolls the Deployment in a cluster.
func (s *Stack) restartExporter(ctx context.Context) error {
	s.mu.Lock()
	cfg, env := s.synced[v1alpha1.SNMPConfigKey], s.synced["env"]
	s.mu.Unlock()
	if s.Exporter != nil {
		if err := s.Exporter.Proc.Stop(5 * time.Second); err != nil {
			s.logf("restarting snmp_exporter: %v", err)
		}
	}
	path, err := procs.Binary("snmp_exporter")
	if err != nil {
		return err
	}
	dir := filepath.Join(s.Dir, "snmp-exporter")
	if err := writeFile(filepath.Join(dir, v1alpha1.SNMPConfigKey), cfg); err != nil {
		return err
	}
	var envList []string
	for _, l := range strings.Split(strings.TrimSpace(string(env)), "\n") {
		if l != "" {
			envList = append(envList, l)
		}
	}
	p, err := procs.Start(procs.Spec{Name: "snmp_exporter", Path: path, Output: s.output("snmp_exporter"), Env: envList, Args: []string{
		"--config.file=" + filepath.Join(dir, v1alpha1.SNMPConfigKey),
		"--config.expand-environment-variables",
		"--web.listen-address=" + s.exporterAddr,
	}})
	if err != nil {
		return err
	}
	s.Exporter = &procs.Server{Proc: p, URL: "http://" + s.exporterAddr, Addr: s.exporterAddr}
	if err := p.WaitHTTP(ctx, s.Exporter.URL+"/metrics"); err != nil {
		return err
	}
	s.logf("snmp_exporter (re)started on the operator's configuration (%d bytes)", len(cfg))
	return nil
}

func (s *Stack) startRuntime(ctx context.Context) error {
	path, err := procs.Binary("wattson-runtime")
	if err != nil {
		return err
	}
	suite, err := procs.Binary("specs.test")
	if err != nil {
		return err
	}
	addr, err := procs.FreeAddr()
	if err != nil {
		return err
	}
	args := []string{
		"--specs.binary=" + suite,
		"--specs.interval=" + s.opts.SpecsInterval.String(),
		"--web.listen-address=" + addr,
	}
	if s.opts.SpecsLabelFilter != "" {
		args = append(args, "--specs.label-filter="+s.opts.SpecsLabelFilter)
	}
	p, err := procs.Start(procs.Spec{Name: "wattson-runtime", Path: path, Output: s.output("runtime"), Args: args,
		Env: s.SpecEnv()})
	if err != nil {
		return err
	}
	s.Runtime = &procs.Server{Proc: p, URL: "http://" + addr, Addr: addr}
	if err := p.WaitHTTP(ctx, s.Runtime.URL+"/-/healthy"); err != nil {
		return err
	}
	// Scraped as the kit's energy Suite is (its Service, and so its job, is wattson-suite-energy),
	// so the kit's rules on the runtime see this one.
	return s.addScrapeJob(ctx, kitJob(RuntimeJob), addr)
}

// RuntimeJob is the job of the kit's runtime: the energy Suite's (runtime/config/suite.yaml),
// whose Service the operator names wattson-suite-energy.
const RuntimeJob = "wattson-suite-energy"

// SpecEnv is the environment that points the energy suite at this stack.
func (s *Stack) SpecEnv() []string {
	env := []string{
		"KUBECONFIG=" + s.KubeconfigPath,
		"WATTSON_PROMETHEUS_URL=" + s.Prometheus.URL,
		"WATTSON_ALERTMANAGER_URL=" + s.AlertMgr.URL,
		"WATTSON_SIMULATOR_URL=" + s.Sim.URL,
		"WATTSON_EVENTUALLY_TIMEOUT=" + s.opts.SpecsEventually.String(),
		"WATTSON_POLL_INTERVAL=1s",
	}
	if s.opts.AlertTimeout > 0 {
		env = append(env, "WATTSON_ALERT_TIMEOUT="+s.opts.AlertTimeout.String())
	}
	return env
}

// addScrapeJob adds a static scrape job for one of Wattson's own processes and reloads.
func (s *Stack) addScrapeJob(ctx context.Context, job, addr string) error {
	f := filepath.Join(s.Prometheus.Dir, "scrape", strings.ReplaceAll(job, "/", "_")+".yml")
	if err := writeFile(f, []byte("scrape_configs:\n"+scrapeJob(job, addr))); err != nil {
		return err
	}
	return reload(ctx, s.Prometheus.URL)
}

func reload(ctx context.Context, base string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/-/reload", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}

// prefixWriter prefixes every line written to w.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
}

func randomToken() string {
	b := make([]byte, 16)
	if _, err := cryptorand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// promDuration formats d as Prometheus does ("1m0s" is not a Prometheus duration; "60000ms" is).
func promDuration(d time.Duration) v1alpha1.PrometheusDuration {
	if d%time.Second == 0 {
		return v1alpha1.PrometheusDuration(fmt.Sprintf("%ds", d/time.Second))
	}
	return v1alpha1.PrometheusDuration(fmt.Sprintf("%dms", d.Milliseconds()))
}

// kitJob is the job a kit component's ServiceMonitor gives its targets in a cluster:
// prometheus-operator names it after the Service (with no jobLabel), here the component's name.
func kitJob(name string) string { return name }

const kitNamespace = "wattson-system"

// scrapeJob is one static scrape job; a kit job also gets the kit's namespace label.
func scrapeJob(job, addr string) string {
	labels := ""
	if strings.HasPrefix(job, kitNamespace+"/") {
		labels = fmt.Sprintf(", labels: {namespace: %s}", kitNamespace)
	}
	return fmt.Sprintf("- job_name: %s\n  static_configs: [{targets: [%q]%s}]\n", job, addr, labels)
}
