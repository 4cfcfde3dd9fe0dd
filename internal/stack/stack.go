// Package stack runs the whole Wattson chain on loopback, as `make demo` and `make e2e` do:
// kube-apiserver and etcd (through envtest), the operator against them with sample PDUModels and
// PDUs, the simulator serving those PDUs, and snmp_exporter, Prometheus and Alertmanager fed with
// exactly what the operator rendered, plus the spec runtime running the energy suite.
//
// No kubelet runs here, so a small sync loop plays its part: it copies the operator's Secrets and
// ConfigMaps (snmp.yml, the plain scrape configuration, the recording rules) to files and reloads
// the processes that read them, as mounted volumes and config reloaders would in a cluster.
package stack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// Namespace holds the operator's outputs; PDUNamespace the demo PDUs.
const (
	Namespace    = "wattson-system"
	PDUNamespace = "dc1"
)

// Options configure the stack. Zero values give the demo's defaults.
type Options struct {
	// Root is the repository root; default: found from the working directory.
	Root string
	// MIBDirs hold the vendor MIBs the sample models need (PowerNet-MIB, PDU2-MIB, CPS-MIB and
	// their IETF imports); default ../shared/fixtures/mibs/* beside the clone.
	MIBDirs []string
	// Log receives progress lines and, with Verbose, every process's output.
	Log     io.Writer
	Verbose bool
	// ScrapeInterval of Prometheus and of the PDUs; EvalInterval of the rules; SpecsInterval of
	// the runtime.
	ScrapeInterval, EvalInterval, SpecsInterval time.Duration
	// SpecsEventually is the specs' default Eventually timeout: how long a failing spec keeps
	// retrying before it fails. Default: four scrapes and two rule evaluations, at least 15s.
	SpecsEventually time.Duration
	// AlertTimeout is the suite's --wattson.alert-timeout, for the fault specs: how long one
	// waits for its alert. Default: the suite's own, suited to production's `for` durations.
	AlertTimeout time.Duration
	// SpecsLabelFilter selects the specs the runtime runs.
	SpecsLabelFilter string
	// ExtraRuleFiles are added to Prometheus (name -> contents), e.g. Wattson's alert rules.
	ExtraRuleFiles map[string]string
	// RemoteWrite is appended to prometheus.yml as it is: a top-level remote_write section, e.g.
	// to the long-term store of monitoring/overlays/long-term.
	RemoteWrite string
}

// Stack is a running chain. Stop ends every process it started.
type Stack struct {
	opts Options
	Dir  string

	Kube           *envtest.Environment
	KubeconfigPath string
	Client         client.Client

	SimAddrs  []string // SNMP over UDP, one endpoint per PDU
	Sim       *procs.Server
	Operator  *procs.Proc
	UploadURL string
	// UploadToken logs in to the MIB upload page.
	UploadToken     string
	OperatorMetrics string
	Exporter        *procs.Server
	Prometheus      *procs.Server
	AlertMgr        *procs.Server
	Runtime         *procs.Server

	exporterAddr string
	mu           sync.Mutex
	synced       map[string][]byte
	stopSync     context.CancelFunc
	syncDone     chan struct{}
	stopOnce     sync.Once
}

func (o *Options) defaults() error {
	if o.Root == "" {
		r, err := procs.RepoRoot()
		if err != nil {
			return err
		}
		o.Root = r
	}
	if len(o.MIBDirs) == 0 {
		base := filepath.Join(o.Root, "..", "shared", "fixtures", "mibs")
		for _, d := range []string{"ietf", "vendor/apc", "vendor/raritan", "vendor/cyberpower"} {
			o.MIBDirs = append(o.MIBDirs, filepath.Join(base, d))
		}
	}
	for _, d := range o.MIBDirs {
		if _, err := os.Stat(d); err != nil {
			return fmt.Errorf("MIB folder %s: %w (the sample models need the vendor MIBs; pass folders holding PowerNet-MIB, PDU2-MIB, CPS-MIB and the IETF MIBs)", d, err)
		}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.ScrapeInterval == 0 {
		o.ScrapeInterval = 5 * time.Second
	}
	if o.EvalInterval == 0 {
		o.EvalInterval = 5 * time.Second
	}
	if o.SpecsEventually == 0 {
		o.SpecsEventually = max(15*time.Second, 4*o.ScrapeInterval+2*o.EvalInterval)
	}
	if o.SpecsInterval == 0 {
		o.SpecsInterval = 15 * time.Second
	}
	return nil
}

func (s *Stack) logf(format string, args ...any) {
	fmt.Fprintf(s.opts.Log, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (s *Stack) output(name string) io.Writer {
	if !s.opts.Verbose {
		return nil
	}
	return &prefixWriter{w: s.opts.Log, prefix: name + " | "}
}

// Start brings the whole chain up and returns once the operator has rendered the first
// configuration and every process answers. On error, whatever started is stopped.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "wattson-stack-")
	if err != nil {
		return nil, err
	}
	s := &Stack{opts: opts, Dir: dir, synced: map[string][]byte{}}
	for _, step := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"kube-apiserver and etcd", s.startKube},
		{"simulated PDUs", s.startSimulator},
		{"Alertmanager", s.startAlertmanager},
		{"Prometheus", s.startPrometheus},
		{"operator", s.startOperator},
		{"MIBs, models and PDUs", s.applySamples},
		{"snmp_exporter with the operator's config", s.startExporter},
		{"spec runtime", s.startRuntime},
	} {
		start := time.Now()
		if err := step.fn(ctx); err != nil {
			err = fmt.Errorf("%s: %w", step.name, err)
			if s.Operator != nil {
				err = fmt.Errorf("%w\noperator output (last lines):\n%s", err, s.Operator.Tail(20))
			}
			s.Stop()
			return nil, err
		}
		s.logf("started %-42s %6.1fs", step.name, time.Since(start).Seconds())
	}
	return s, nil
}

func (s *Stack) startKube(ctx context.Context) error {
	bin, err := procs.BinDir()
	if err != nil {
		return err
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := procs.Binary(b); err != nil {
			return err
		}
	}
	s.Kube = &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDDirectoryPaths:     []string{filepath.Join(s.opts.Root, "operator", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := s.Kube.Start()
	if err != nil {
		s.Kube = nil
		return err
	}
	s.KubeconfigPath = filepath.Join(s.Dir, "kubeconfig")
	if err := os.WriteFile(s.KubeconfigPath, s.Kube.KubeConfig, 0o600); err != nil {
		return err
	}
	s.Client, err = client.New(cfg, client.Options{Scheme: scheme()})
	return err
}

func (s *Stack) startSimulator(ctx context.Context) error {
	path, err := procs.Binary("wattson-snmpsim")
	if err != nil {
		return err
	}
	// One endpoint per PDU: a PDU is an address, and the operator refuses two PDUs at one.
	// The community still picks the device, as in snmpsim.
	var endpoints []string
	for range DemoPDUs {
		udp, err := procs.FreeUDPAddr()
		if err != nil {
			return err
		}
		endpoints = append(endpoints, udp)
	}
	web, err := procs.FreeAddr()
	if err != nil {
		return err
	}
	args := []string{"--data-dir=" + filepath.Join(s.opts.Root, "mocks", "data"), "--web.listen-address=" + web}
	for _, e := range endpoints {
		args = append(args, "--agent-udpv4-endpoint="+e)
	}
	p, err := procs.Start(procs.Spec{Name: "wattson-snmpsim", Path: path, Output: s.output("snmpsim"), Args: args})
	if err != nil {
		return err
	}
	s.Sim = &procs.Server{Proc: p, URL: "http://" + web, Addr: web}
	s.SimAddrs = endpoints
	return p.WaitHTTP(ctx, s.Sim.URL+"/healthz")
}

func (s *Stack) startAlertmanager(ctx context.Context) error {
	cfg := `route:
  receiver: log
  group_by: [alertname, pdu]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
- name: log
`
	var err error
	s.AlertMgr, err = procs.StartAlertmanager(ctx, cfg, procs.Options{Dir: filepath.Join(s.Dir, "alertmanager"), Output: s.output("alertmanager")})
	return err
}

func (s *Stack) startPrometheus(ctx context.Context) error {
	addr, err := procs.FreeAddr()
	if err != nil {
		return err
	}
	s.exporterAddr, err = procs.FreeAddr()
	if err != nil {
		return err
	}
	dir := filepath.Join(s.Dir, "prometheus")
	files := map[string]string{}
	for name, content := range s.opts.ExtraRuleFiles {
		files[filepath.Join("rules", name)] = content
	}
	// The operator's scrape configuration arrives later through the sync loop; start with none.
	files[filepath.Join("scrape", "wattson-pdus.yml")] = "scrape_configs: []\n"
	s.Prometheus, err = procs.StartPrometheus(ctx, s.prometheusConfig(addr), files, procs.Options{Addr: addr, Dir: dir, Output: s.output("prometheus")})
	return err
}

// prometheusConfig scrapes Wattson's own processes and loads the operator's scrape
// configuration and rules from files the sync loop keeps up to date.
func (s *Stack) prometheusConfig(self string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n", s.opts.ScrapeInterval, s.opts.EvalInterval)
	fmt.Fprintf(&b, "alerting:\n  alertmanagers:\n  - static_configs: [{targets: [%q]}]\n", s.AlertMgr.Addr)
	b.WriteString("rule_files: [rules/*.yml]\nscrape_config_files: [scrape/*.yml]\nscrape_configs:\n")
	job := func(name, addr string) { b.WriteString(scrapeJob(name, addr)) }
	job("prometheus", self)
	job("alertmanager", s.AlertMgr.Addr)
	job(kitJob("wattson-snmp-exporter"), s.exporterAddr)
	job(kitJob("wattson-snmpsim"), s.Sim.Addr)
	b.WriteString(s.opts.RemoteWrite)
	return b.String()
}

// Stop stops every process, the apiserver and etcd, and removes the stack's files.
func (s *Stack) Stop() {
	s.stopOnce.Do(func() {
		if s.stopSync != nil {
			s.stopSync()
			<-s.syncDone
		}
		for _, p := range []*procs.Server{s.Runtime, s.Exporter, s.Prometheus, s.AlertMgr, s.Sim} {
			if p != nil {
				if err := p.Stop(); err != nil {
					s.logf("stopping: %v", err)
				}
			}
		}
		if s.Operator != nil {
			if err := s.Operator.Stop(10 * time.Second); err != nil {
				s.logf("stopping: %v", err)
			}
		}
		if s.Kube != nil {
			if err := s.Kube.Stop(); err != nil {
				s.logf("stopping kube-apiserver: %v", err)
			}
		}
		os.RemoveAll(s.Dir)
	})
}

// syncOnce copies the operator's rendered configuration to files and reloads what changed. It
// reports whether snmp.yml is present.
func (s *Stack) syncOnce(ctx context.Context) (bool, error) {
	get := func(obj client.Object, name string) (bool, error) {
		err := s.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: name}, obj)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}
	var snmp, env, scrape corev1.Secret
	var rules corev1.ConfigMap
	haveSNMP, err := get(&snmp, v1alpha1.ExporterConfigName)
	if err != nil {
		return false, err
	}
	// The exporter needs every demo model compiled and a PDU's auth: the first snmp.yml may
	// have neither yet, and snmp_exporter refuses to start on it.
	if !bytes.Contains(snmp.Data[v1alpha1.SNMPConfigKey], []byte("auths:\n  ")) {
		haveSNMP = false
	}
	for _, d := range DemoPDUs {
		if !bytes.Contains(snmp.Data[v1alpha1.SNMPConfigKey], []byte("\n  "+d.Model+":")) {
			haveSNMP = false
		}
	}
	if _, err := get(&env, v1alpha1.ExporterEnvName); err != nil {
		return false, err
	}
	if _, err := get(&scrape, v1alpha1.ScrapeConfigsName); err != nil {
		return false, err
	}
	if _, err := get(&rules, v1alpha1.RecordingRulesName); err != nil {
		return false, err
	}
	var envBytes []byte
	for _, k := range slices.Sorted(maps.Keys(env.Data)) {
		envBytes = append(envBytes, []byte(k+"="+string(env.Data[k])+"\n")...)
	}
	changed := func(key string, b []byte) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if bytes.Equal(s.synced[key], b) {
			return false
		}
		s.synced[key] = b
		return true
	}
	exporterChanged := changed(v1alpha1.SNMPConfigKey, snmp.Data[v1alpha1.SNMPConfigKey])
	exporterChanged = changed("env", envBytes) || exporterChanged
	if !haveSNMP {
		return false, nil
	}
	if exporterChanged && s.Exporter != nil {
		if err := s.restartExporter(ctx); err != nil {
			return true, err
		}
	}
	promChanged := false
	if b := scrape.Data[v1alpha1.ScrapeConfigsKey]; len(b) > 0 && changed("scrape", b) {
		// Used as is: the operator was given the exporter's loopback address (--exporter.address).
		if err := writeFile(filepath.Join(s.Prometheus.Dir, "scrape", "wattson-pdus.yml"), b); err != nil {
			return haveSNMP, err
		}
		promChanged = true
	}
	if r := rules.Data[v1alpha1.RecordingRulesKey]; r != "" && changed("rules", []byte(r)) {
		if err := writeFile(filepath.Join(s.Prometheus.Dir, "rules", "wattson-recording.yml"), []byte(r)); err != nil {
			return haveSNMP, err
		}
		promChanged = true
	}
	if promChanged {
		if err := reload(ctx, s.Prometheus.URL); err != nil {
			return haveSNMP, fmt.Errorf("reload Prometheus: %w", err)
		}
		s.logf("synced the operator's scrape configuration and rules into Prometheus")
	}
	return haveSNMP, nil
}

func (s *Stack) runSync(ctx context.Context) {
	defer close(s.syncDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.syncOnce(ctx); err != nil && ctx.Err() == nil {
			s.logf("sync: %v", err)
		}
	}
}
