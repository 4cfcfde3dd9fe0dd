// Package cluster proves the kit on a real-shaped single-node Kubernetes (hack/cluster: its own
// network namespace, pod IPs, kube-proxy, CoreDNS, enforced NetworkPolicies, no route off the
// machine): from nothing, the node comes up, `skaffold run` builds and deploys the default install
// and its verify stage goes green, Prometheus scrapes every kit component through its
// ServiceMonitor and finds Alertmanager through its Service, a simulator fault pages the
// in-cluster Alertmanager and resolves, and the node goes down leaving nothing behind, having sent
// nothing off the machine.
//
// It needs root, containerd, runc, buildah, podman and nftables, and takes about fifteen minutes:
// it runs only under `make cluster-e2e` (WATTSON_CLUSTER_E2E=1).
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/specs/alerts"
	"github.com/wattson-dev/wattson/specs/prom"
	"github.com/wattson-dev/wattson/specs/sim"
)

// kubeContext is hack/cluster's; skaffold.yaml's cluster profile switches on for it.
const kubeContext = "wattson-cluster"

// clusterRange holds every address of the cluster: pods, Services and the host's veth.
var clusterRange = netip.MustParsePrefix("198.18.0.0/15")

type env struct {
	root, bin, dir string
	environ        []string
	timings        [][2]string
	mu             sync.Mutex
	// The kit's HTTP endpoints, as a user reaches them: kubectl port-forward to their Services.
	prometheusURL, alertmanagerURL, simulatorURL, runtimeURL string
	// stops end what runs for the whole test (port-forwards), before cluster down.
	stops []func()
}

func (e *env) took(step string, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.timings = append(e.timings, [2]string{step, fmt.Sprintf("%.1fs", d.Seconds())})
}

func TestCluster(t *testing.T) {
	if os.Getenv("WATTSON_CLUSTER_E2E") == "" {
		t.Skip("the loopback cluster needs root and ten minutes: run `make cluster-e2e`")
	}
	if os.Getuid() != 0 {
		t.Fatal("make cluster-e2e must run as root (containerd, kubelet, mounts and cgroups)")
	}
	root, err := procs.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := procs.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{root: root, bin: bin, dir: os.Getenv("WATTSON_CLUSTER_DIR")}
	if e.dir == "" {
		e.dir = "/var/lib/wattson-cluster"
	}
	e.environ = append(os.Environ(),
		"WATTSON_CLUSTER_DIR="+e.dir,
		"KUBECONFIG="+filepath.Join(e.dir, "kubeconfig"),
		"DOCKER_HOST=unix://"+filepath.Join(e.dir, "run", "podman.sock"),
		"SKAFFOLD_CONFIG="+filepath.Join(e.dir, "skaffold-config.yaml"),
		"BIN="+e.bin)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()

	// From nothing: a node left by an earlier run goes first.
	e.run(t, ctx, "down (leftovers)", "hack/cluster/cluster.sh", "down")
	// Its own context: it also runs in Cleanup, after ctx is cancelled.
	down := sync.OnceFunc(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer dcancel()
		e.run(t, dctx, "cluster down", "hack/cluster/cluster.sh", "down")
	})
	t.Cleanup(func() {
		if t.Failed() {
			e.dump(t)
		}
		for _, stop := range e.stops {
			stop()
		}
		down()
		e.printTimings(t)
	})

	steps := []struct {
		name string
		fn   func(*testing.T, context.Context)
	}{
		{"up", e.up},
		{"skaffold run", e.skaffoldRun},
		{"port-forwards", e.forwards},
		{"pods ready, targets up, specs green", e.green},
		{"fault pages Alertmanager", e.fault},
		{"NetworkPolicies enforced", e.networkPolicies},
		{"skaffold dev: first result, save to rerun", e.devLoop},
		{"nothing sent off the machine", e.census},
		{"down leaves nothing", func(t *testing.T, ctx context.Context) { down() }},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.fn(t, ctx) }) {
			return
		}
	}
}

func (e *env) up(t *testing.T, ctx context.Context) {
	e.run(t, ctx, "cluster up", "hack/cluster/cluster.sh", "up")
	// The kit's third-party images; skaffold builds Wattson's own.
	e.run(t, ctx, "images (third-party, published users and entrypoints)", "hack/cluster/images.sh",
		"snmp-exporter", "prometheus", "alertmanager", "prometheus-operator", "prometheus-config-reloader", "busybox")
}

func (e *env) skaffoldRun(t *testing.T, ctx context.Context) {
	artifacts := filepath.Join(t.TempDir(), "build.json")
	// No -p: the cluster profile switches on by itself for the kube-context (verify has no
	// --kube-context: KUBECONFIG's current context is the cluster's), as kind's does.
	e.run(t, ctx, "skaffold build", filepath.Join(e.bin, "skaffold"), "build", "--kube-context", kubeContext, "--file-output", artifacts)
	e.run(t, ctx, "skaffold deploy", filepath.Join(e.bin, "skaffold"), "deploy", "--kube-context", kubeContext, "--build-artifacts", artifacts)
	out := e.run(t, ctx, "skaffold verify", filepath.Join(e.bin, "skaffold"), "verify", "--build-artifacts", artifacts)
	if !strings.Contains(out, "GREEN: 3 consecutive passed runs") {
		t.Fatalf("skaffold verify did not report three green runs:\n%s", out)
	}
}

// forwards: kubectl port-forward to the Services of Prometheus, Alertmanager, the simulator and
// the runtime, on the host's loopback (through the apiserver and kubelet, over the veth).
func (e *env) forwards(t *testing.T, ctx context.Context) {
	for _, f := range []struct {
		url       *string
		namespace string
		svc       string
		port      int
	}{
		{&e.prometheusURL, "wattson-monitoring", "wattson-prometheus", 9090},
		{&e.alertmanagerURL, "wattson-monitoring", "wattson-alertmanager", 9093},
		{&e.simulatorURL, "wattson-system", "wattson-snmpsim", 8161},
		{&e.runtimeURL, "wattson-system", "wattson-runtime", 9464},
	} {
		*f.url = e.portForward(t, ctx, f.namespace, f.svc, f.port)
	}
}

var forwarding = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) ->`)

// portForward runs `kubectl port-forward` until the test ends and returns its URL.
func (e *env) portForward(t *testing.T, ctx context.Context, namespace, svc string, port int) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(e.bin, "kubectl"), "-n", namespace, "port-forward", "--address", "127.0.0.1", "svc/"+svc, fmt.Sprintf(":%d", port))
	cmd.Env = e.environ
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	lines := newLineLog()
	go lines.read(pr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The whole run's: stopped when TestCluster ends (before cluster down).
	e.stops = append(e.stops, func() { cmd.Process.Kill(); cmd.Wait(); pw.Close() })
	line, err := lines.wait(ctx, 30*time.Second, 0, forwarding)
	if err != nil {
		t.Fatalf("kubectl port-forward svc/%s: %v\n%s", svc, err, lines.tail(10))
	}
	return "http://127.0.0.1:" + forwarding.FindStringSubmatch(line)[1]
}

// kitMonitors are the ServiceMonitors of the kit (monitoring/monitors and full-stack's): each must
// have an up target, found through its Service's EndpointSlices.
var kitMonitors = []string{
	"serviceMonitor/wattson-system/wattson-runtime/0",
	"serviceMonitor/wattson-system/wattson-operator/0",
	"serviceMonitor/wattson-system/wattson-snmp-exporter/0",
	"serviceMonitor/wattson-system/wattson-snmpsim/0",
	"serviceMonitor/wattson-monitoring/wattson-prometheus/0",
	"serviceMonitor/wattson-monitoring/wattson-alertmanager/0",
	"serviceMonitor/wattson-monitoring/wattson-prometheus-operator/0",
}

func (e *env) green(t *testing.T, ctx context.Context) {
	e.run(t, ctx, "every pod Ready", filepath.Join(e.bin, "kubectl"), "wait", "--for=condition=Ready", "pods", "--all", "--all-namespaces", "--field-selector=status.phase!=Succeeded", "--timeout=5m")
	start := time.Now()
	p := prom.New(e.prometheusURL)
	if err := poll(ctx, 3*time.Minute, func() error {
		targets, err := p.Targets(ctx)
		if err != nil {
			return err
		}
		var missing []string
		for _, pool := range kitMonitors {
			up := false
			for _, tg := range targets {
				if tg.ScrapePool == pool && tg.Health == "up" {
					if a, err := netip.ParseAddrPort(strings.Split(strings.TrimPrefix(tg.ScrapeURL, "http://"), "/")[0]); err != nil || !clusterRange.Contains(a.Addr()) {
						return fmt.Errorf("%s scrapes %s, not a pod IP", pool, tg.ScrapeURL)
					}
					up = true
				}
			}
			if !up {
				missing = append(missing, pool)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("no up target for %v", missing)
		}
		return nil
	}); err != nil {
		t.Fatalf("kit targets in Prometheus: %v", err)
	}
	e.took(fmt.Sprintf("every kit target up through its ServiceMonitor (%d)", len(kitMonitors)), time.Since(start))
	// Alertmanager through its Service: the Prometheus CR names the Service, the operator turns it
	// into EndpointSlice discovery, and the URL is the Alertmanager pod's IP.
	if err := poll(ctx, 2*time.Minute, func() error {
		ams, err := p.Alertmanagers(ctx)
		if err != nil {
			return err
		}
		for _, u := range ams {
			if strings.Contains(u, ":9093/") && strings.Contains(u, "://198.") {
				return nil
			}
		}
		return fmt.Errorf("Prometheus sends alerts to %v, not to the Alertmanager pod behind wattson-alertmanager", ams)
	}); err != nil {
		t.Fatal(err)
	}
	// The in-cluster Prometheus scrapes the runtime (ServiceMonitor): its last complete run
	// passed, with the energy specs among those that ran, and nothing failed; the three PDUs,
	// addressed by the simulator's Service name, report power.
	q := `assertions_failed{job="wattson-runtime", namespace="wattson-system"} == 0 and on() wattson_runtime_ready == 1` +
		` and on() count(wattson_spec_passing{job="wattson-runtime", labels=~".*energy.*"} == 1) > 0` +
		` and on() count(wattson_pdu_power_watts) == 3`
	if err := poll(ctx, 5*time.Minute, func() error { return e.expectSeries(ctx, q) }); err != nil {
		t.Fatalf("the energy specs are not green in the in-cluster Prometheus: %v", err)
	}
	e.took("specs green, assertions_failed scraped (after targets up)", time.Since(start))
}

// fault: a wrong scale on one PDU (what a bad MIB scale looks like), which only the specs can
// see: the runtime's metrics change, WattsonSpecFailing reaches the in-cluster Alertmanager, and
// resolves when the fault is cleared.
func (e *env) fault(t *testing.T, ctx context.Context) {
	const spec = "Power readings equal what the simulator serves, in SI units"
	simulator, am := sim.New(e.simulatorURL), alerts.New(e.alertmanagerURL)
	if _, err := simulator.SetFault(ctx, "apc-rpdu2", sim.Fault{Type: sim.FaultScale, Factor: 10,
		Prefixes: []string{"1.3.6.1.4.1.318.1.1.26.4.3.1.5"}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := poll(ctx, 5*time.Minute, func() error {
		return e.expectSeries(ctx, `assertions_failed{job="wattson-runtime", namespace="wattson-system"} > 0`)
	}); err != nil {
		t.Fatalf("the runtime's metrics never showed the failure: %v", err)
	}
	e.took("fault → assertions_failed > 0 in Prometheus", time.Since(start))
	failing := alerts.Query{Name: "WattsonSpecFailing", Labels: alerts.Labels{"spec": spec}}
	firing := func(want bool) func() error {
		return func() error {
			l, err := am.Alerts(ctx, failing)
			if err != nil {
				return err
			}
			if (len(l.Alerts) > 0) != want {
				return errors.New(l.GomegaString())
			}
			return nil
		}
	}
	if err := poll(ctx, 5*time.Minute, firing(true)); err != nil {
		t.Fatalf("WattsonSpecFailing never reached Alertmanager: %v", err)
	}
	e.took("fault → WattsonSpecFailing in Alertmanager", time.Since(start))
	if _, err := simulator.ClearFaults(ctx, "apc-rpdu2"); err != nil {
		t.Fatal(err)
	}
	cleared := time.Now()
	if err := poll(ctx, 5*time.Minute, firing(false)); err != nil {
		t.Fatalf("WattsonSpecFailing did not resolve: %v", err)
	}
	e.took("fault cleared → alert resolved", time.Since(cleared))
}

var (
	errRefused = errors.New("refused")
	// clusterIPLine is nslookup's answer (the server's own line has a port).
	clusterIPLine = regexp.MustCompile(`(?m)^Address:\s*(198\.19\.\d+\.\d+)\s*$`)
)

// probeManifest is a pod that waits, for `kubectl exec` to run busybox's wget and nslookup in.
const probeManifest = `apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Pod
metadata:
  name: probe
  namespace: %[1]s
  labels: {%[2]s}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: probe
      image: wattson.local/busybox:%[3]s
      imagePullPolicy: Never
      command: [/bin/busybox, sleep, "3600"]
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
`

// networkPolicies: a pod in another namespace is refused by every kit component the policies
// close (its DNS lookups work, so the refusals are the policies'), and a pod labelled as
// Prometheus in wattson-monitoring is let through to snmp_exporter, which refuses the other.
func (e *env) networkPolicies(t *testing.T, ctx context.Context) {
	kubectl := filepath.Join(e.bin, "kubectl")
	// kube-network-policies queues packets with nftables' queue expression; on a kernel without
	// it (CONFIG_NFT_QUEUE) cluster.sh runs no enforcer, and a probe would only show that. Said
	// as a skip with the reason, never as a pass.
	if err := exec.CommandContext(ctx, filepath.Join(e.root, "hack/cluster/cluster.sh"), "can-enforce").Run(); err != nil {
		t.Skip("NOT PROVEN: this kernel has no nftables queue expression (CONFIG_NFT_QUEUE), which kube-network-policies needs; the cluster runs no NetworkPolicy enforcer here (hack/cluster/cluster.sh can-enforce)")
	}
	bb := strings.TrimSpace(e.run(t, ctx, "busybox version", "/bin/bash", "-c", `{ busybox 2>&1 || true; } | awk 'NR == 1 { print $2 }'`))
	for _, p := range []struct{ ns, labels string }{
		{"wattson-np-probe", "app.kubernetes.io/name: probe"},
		{"wattson-monitoring", "app.kubernetes.io/name: prometheus"},
	} {
		manifest := fmt.Sprintf(probeManifest, p.ns, p.labels, bb)
		if p.ns == "wattson-monitoring" { // the kit's namespace exists; only the pod is added
			manifest = manifest[strings.Index(manifest, "---\n")+4:]
		}
		cmd := exec.CommandContext(ctx, kubectl, "apply", "-f", "-")
		cmd.Env, cmd.Stdin = e.environ, strings.NewReader(manifest)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("probe pod in %s: %v\n%s", p.ns, err, out)
		}
	}
	t.Cleanup(func() {
		for _, a := range [][]string{{"delete", "namespace", "wattson-np-probe", "--wait=false"}, {"-n", "wattson-monitoring", "delete", "pod", "probe", "--wait=false"}} {
			exec.Command(kubectl, a...).Run()
		}
	})
	e.run(t, ctx, "probe pods Ready", kubectl, "wait", "--for=condition=Ready", "pod/probe", "-n", "wattson-np-probe", "--timeout=2m")
	e.run(t, ctx, "probe pods Ready", kubectl, "wait", "--for=condition=Ready", "pod/probe", "-n", "wattson-monitoring", "--timeout=2m")
	// get runs netprobe (hack/cluster/netprobe) in a probe pod against an address: nil when the
	// server answered, errRefused when the connection timed out or was
	// refused, any other error when the probe itself broke.
	get := func(ns, url string) error {
		cmd := exec.CommandContext(ctx, kubectl, "-n", ns, "exec", "probe", "--", "/bin/netprobe", url)
		cmd.Env = e.environ
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &exit) && exit.ExitCode() == 2: // netprobe: timed out or refused
			return errRefused
		}
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	for _, c := range []struct {
		ns, url string
		allowed bool
	}{
		{"wattson-np-probe", "http://wattson-snmp-exporter.wattson-system.svc.cluster.local:9116/metrics", false},
		{"wattson-np-probe", "http://wattson-runtime.wattson-system.svc.cluster.local:9464/metrics", false},
		{"wattson-np-probe", "http://wattson-operator.wattson-system.svc.cluster.local:8080/metrics", false},
		{"wattson-np-probe", "http://wattson-operator.wattson-system.svc.cluster.local:8082/", false},
		{"wattson-np-probe", "http://wattson-snmpsim.wattson-system.svc.cluster.local:8161/healthz", false},
		{"wattson-np-probe", "http://wattson-prometheus.wattson-monitoring.svc.cluster.local:9090/-/ready", false},
		{"wattson-np-probe", "http://wattson-alertmanager.wattson-monitoring.svc.cluster.local:9093/-/ready", false},
		{"wattson-monitoring", "http://wattson-snmp-exporter.wattson-system.svc.cluster.local:9116/metrics", true},
		{"wattson-monitoring", "http://wattson-runtime.wattson-system.svc.cluster.local:9464/metrics", true},
		{"wattson-monitoring", "http://wattson-snmpsim.wattson-system.svc.cluster.local:8161/healthz", true},
	} {
		// The name resolves from both (CoreDNS is open; fully qualified: busybox's nslookup uses no
		// search path, and CoreDNS refuses anything outside cluster.local): a refusal is the
		// policy's, not DNS's.
		rest := strings.TrimPrefix(c.url, "http://")
		host, rest, _ := strings.Cut(rest, ":")
		lookup := exec.CommandContext(ctx, kubectl, "-n", c.ns, "exec", "probe", "--", "/bin/busybox", "nslookup", host)
		lookup.Env = e.environ
		out, err := lookup.CombinedOutput()
		m := clusterIPLine.FindStringSubmatch(string(out))
		if err != nil || m == nil {
			t.Errorf("from %s: %s does not resolve to a ClusterIP: %v\n%s", c.ns, host, err, out)
			continue
		}
		url := "http://" + m[1] + ":" + rest
		err = get(c.ns, url)
		switch {
		case err != nil && !errors.Is(err, errRefused):
			t.Errorf("from %s: probe of %s (%s) broke: %v", c.ns, c.url, url, err)
		case c.allowed && err != nil:
			t.Errorf("from %s: %s (%s) refused, want allowed", c.ns, c.url, url)
		case !c.allowed && err == nil:
			t.Errorf("from %s: %s (%s) answered, want refused by the NetworkPolicies", c.ns, c.url, url)
		default:
			t.Logf("from %s: %s (%s) %s", c.ns, c.url, url, map[bool]string{true: "allowed", false: "refused"}[c.allowed])
		}
	}
	if !t.Failed() {
		e.took("NetworkPolicies: 7 refused from another namespace, 3 allowed to Prometheus's label", 0)
	}
}

// census: every socket of every cluster process (components and containers, each read in its
// own network namespace) is on loopback or in the cluster's range, every network namespace of the
// cluster has no route outside it, and the node's egress guard dropped nothing (sampled after the
// run and the fault, with the kit live).
func (e *env) census(t *testing.T, ctx context.Context) {
	off, checked, err := sockets(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if checked < 40 {
		t.Fatalf("only %d sockets found for the cluster's processes: the check looks in the wrong place", checked)
	}
	if len(off) > 0 {
		t.Fatalf("sockets off the cluster:\n%s", strings.Join(off, "\n"))
	}
	out := e.run(t, ctx, "route census", "hack/cluster/cluster.sh", "census")
	t.Logf("%d sockets of the cluster's processes, all on loopback or in %s; %s", checked, clusterRange, strings.TrimSpace(out))
	e.took(fmt.Sprintf("sockets checked, none off the cluster: %d; %s", checked, strings.TrimSpace(out)), 0)
}

// run runs a repository script or tool with the cluster's environment, recording its time.
func (e *env) run(t *testing.T, ctx context.Context, step, name string, args ...string) string {
	t.Helper()
	if !filepath.IsAbs(name) {
		name = filepath.Join(e.root, name)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = e.root, e.environ
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	e.took(step, time.Since(start))
	if err != nil {
		t.Fatalf("%s: %s %s: %v\n%s", step, filepath.Base(name), strings.Join(args, " "), err, tail(out.String(), 60))
	}
	return out.String()
}

// dump logs what explains a failure: pods, events and the kit's logs.
func (e *env) dump(t *testing.T) {
	kubectl := filepath.Join(e.bin, "kubectl")
	for _, args := range [][]string{
		{"get", "pods", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"get", "pdus", "-A"},
		{"-n", "wattson-system", "logs", "deploy/wattson-runtime", "--tail=30"},
		{"-n", "wattson-system", "logs", "deploy/wattson-operator", "--tail=30"},
	} {
		cmd := exec.Command(kubectl, args...)
		cmd.Env = e.environ
		out, _ := cmd.CombinedOutput()
		t.Logf("kubectl %s:\n%s", strings.Join(args, " "), tail(string(out), 40))
	}
}

func (e *env) printTimings(t *testing.T) {
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "step\ttime")
	for _, s := range e.timings {
		fmt.Fprintf(w, "%s\t%s\n", s[0], s[1])
	}
	w.Flush()
	t.Logf("loopback cluster end to end:\n%s", b.String())
	fmt.Print(b.String())
}

// expectSeries fails unless the in-cluster Prometheus answers query with at least one series.
func (e *env) expectSeries(ctx context.Context, query string) error {
	v, err := prom.New(e.prometheusURL).QueryVector(ctx, query)
	if err != nil {
		return err
	}
	if len(v.Samples) == 0 {
		return fmt.Errorf("no series for %s", query)
	}
	return nil
}

func httpGet(ctx context.Context, u string) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	return b, err
}

// poll retries f every second until it succeeds or timeout passes, returning its last error.
func poll(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Second)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// lineLog keeps a process's output lines for matching.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func newLineLog() *lineLog { return &lineLog{} }

func (l *lineLog) read(r io.Reader) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, s.Text())
		l.mu.Unlock()
	}
}

func (l *lineLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

func (l *lineLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[max(0, len(l.lines)-n):], "\n")
}

// wait returns the first line from index from on that matches re.
func (l *lineLog) wait(ctx context.Context, timeout time.Duration, from int, re *regexp.Regexp) (string, error) {
	var found string
	err := poll(ctx, timeout, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, s := range l.lines[min(from, len(l.lines)):] {
			if re.MatchString(s) {
				found = s
				return nil
			}
		}
		return fmt.Errorf("no line matching %s in %d lines", re, len(l.lines)-from)
	})
	return found, err
}

// sockets lists the TCP and UDP sockets of the cluster's processes (its components, found by the
// state dir on their command line, and every container, found by its kubepods cgroup), each read
// from its own network namespace's tables, that are bound or connected to an address outside
// loopback and the cluster's range. A wildcard listener is allowed only in a namespace of the
// cluster's, not in the host's (there it would listen on the machine's own addresses).
func sockets(dir string) (offCluster []string, checked int, err error) {
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return nil, 0, err
	}
	type proc struct{ pid, name, netns string }
	inodes := map[string]proc{} // socket inode -> process
	byNS := map[string]string{} // netns -> one pid in it, whose /proc/PID/net tables are that netns's
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range pids {
		cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		cgroup, _ := os.ReadFile(filepath.Join(p, "cgroup"))
		if !bytes.Contains(cmdline, []byte(dirOf(dir))) && !bytes.Contains(cgroup, []byte("kubepods")) {
			continue
		}
		ns, err := os.Readlink(filepath.Join(p, "ns", "net"))
		if err != nil {
			continue
		}
		name := string(bytes.ReplaceAll(bytes.TrimRight(cmdline, "\x00"), []byte{0}, []byte{' '}))
		name = filepath.Base(strings.Fields(name + " ?")[0])
		fds, _ := filepath.Glob(filepath.Join(p, "fd", "*"))
		for _, fd := range fds {
			if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
				inodes[strings.Trim(l[len("socket:"):], "[]")] = proc{filepath.Base(p), name, ns}
				byNS[ns] = p
			}
		}
	}
	for ns, p := range byNS {
		for _, table := range []string{"tcp", "tcp6", "udp", "udp6"} {
			b, err := os.ReadFile(filepath.Join(p, "net", table))
			if err != nil {
				continue // the process ended meanwhile
			}
			for _, line := range strings.Split(string(b), "\n")[1:] {
				f := strings.Fields(line)
				if len(f) < 10 {
					continue
				}
				pr, ok := inodes[f[9]]
				if !ok || pr.netns != ns {
					continue
				}
				checked++
				local, remote := hexAddr(f[1]), hexAddr(f[2])
				if !onCluster(local, ns != hostNS) || !onCluster(remote, true) {
					where := "cluster netns"
					if ns == hostNS {
						where = "host netns"
					}
					offCluster = append(offCluster, fmt.Sprintf("%s (pid %s, %s) %s %s -> %s", pr.name, pr.pid, where, table, local, remote))
				}
			}
		}
	}
	return offCluster, checked, nil
}

// onCluster: a loopback address or one in the cluster's range; the unset remote (0.0.0.0:0) of
// a listening or unconnected socket; a wildcard local address only where wildcard is allowed.
func onCluster(hostport string, wildcard bool) bool {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	switch {
	case a.IsLoopback(), clusterRange.Contains(a):
		return true
	case a.IsUnspecified():
		return ap.Port() == 0 || wildcard
	}
	return false
}

// dirOf is dir as it appears at the start of a path below it.
func dirOf(dir string) string { return strings.TrimSuffix(dir, "/") + "/" }

// hexAddr decodes /proc/net's ADDR:PORT (the address in host byte order per 32-bit word).
func hexAddr(s string) string {
	addr, port, _ := strings.Cut(s, ":")
	var ip []byte
	for i := 0; i+8 <= len(addr); i += 8 {
		var w uint32
		fmt.Sscanf(addr[i:i+8], "%08X", &w)
		ip = append(ip, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	var p int
	fmt.Sscanf(port, "%X", &p)
	return net.JoinHostPort(net.IP(ip).String(), fmt.Sprint(p))
}
