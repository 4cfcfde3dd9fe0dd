// Package cluster proves the kit on a real-shaped single-node Kubernetes (hack/cluster: its own
// network namespace, pod IPs, kube-proxy, CoreDNS, enforced NetworkPolicies, no route off the
// machine): from nothing, the node comes up, `skaffold run` builds and deploys the default install
// and its verify stage goes green, Prometheus scrapes every kit component through its
// ServiceMonitor and finds Alertmanager through its Service, the energy suite runs as a Suite in
// two replicas sharing each run through PostgreSQL, a simulator fault pages the in-cluster
// Alertmanager through the Suite's own alert tuning and resolves, and the node goes down leaving
// nothing behind, having sent nothing off the machine.
//
// It needs root, containerd, runc, buildah, podman and nftables, and takes about fifteen minutes:
// it runs only under `make cluster-e2e` (WATTSON_CLUSTER_E2E=1).
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/specs/prom"
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

// newEnv is the environment of a test on the cluster that TARGET runs: the repository, bin/ and
// the cluster's state dir, with KUBECONFIG and BIN set for the scripts and kubectl.
func newEnv(t *testing.T, target string) *env {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal(target + " must run as root (containerd, kubelet, mounts and cgroups)")
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
		"BIN="+e.bin)
	return e
}

func TestCluster(t *testing.T) {
	if os.Getenv("WATTSON_CLUSTER_E2E") == "" {
		t.Skip("the loopback cluster needs root and ten minutes: run `make cluster-e2e`")
	}
	e := newEnv(t, "make cluster-e2e")
	e.environ = append(e.environ,
		"DOCKER_HOST=unix://"+filepath.Join(e.dir, "run", "podman.sock"),
		"SKAFFOLD_CONFIG="+filepath.Join(e.dir, "skaffold-config.yaml"))
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
		{"workloads settled", e.settled},
		{"port-forwards", e.forwards},
		{"targets up, specs green", e.green},
		{"energy Suite: 2/2 replicas, runs done once, a fault paged per its tuning", e.suite},
		{"Rollout gated on the suite (Argo Rollouts)", e.rollout},
		{"NetworkPolicies enforced", e.networkPolicies},
		{"tenant credentials need a RoleBinding", e.credentials},
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
		"snmp-exporter", "prometheus", "alertmanager", "prometheus-operator", "prometheus-config-reloader", "busybox", "postgres")
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
		{&e.runtimeURL, "wattson-system", runtimeService, 9464},
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
	e.stops = append(e.stops, func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); pw.Close() })
	line, err := lines.wait(ctx, 30*time.Second, 0, forwarding)
	if err != nil {
		t.Fatalf("kubectl port-forward svc/%s: %v\n%s", svc, err, lines.tail(10))
	}
	return "http://127.0.0.1:" + forwarding.FindStringSubmatch(line)[1]
}

// operatorMonitor scrapes the operator over HTTPS with Prometheus's ServiceAccount token.
const operatorMonitor = "serviceMonitor/wattson-system/wattson-operator/0"

// kitMonitors are the ServiceMonitors of the kit (monitoring/monitors and full-stack's): each must
// have an up target, found through its Service's EndpointSlices.
var kitMonitors = []string{
	"serviceMonitor/wattson-system/" + runtimeService + "/0",
	operatorMonitor,
	"serviceMonitor/wattson-system/wattson-snmp-exporter/0",
	"serviceMonitor/wattson-system/wattson-snmpsim/0",
	"serviceMonitor/wattson-monitoring/wattson-prometheus/0",
	"serviceMonitor/wattson-monitoring/wattson-alertmanager/0",
	"serviceMonitor/wattson-monitoring/wattson-prometheus-operator/0",
}

// settled waits for every workload rolled out and every pod Ready before anything forwards a
// port to a Service's pod or asks Prometheus about targets.
func (e *env) settled(t *testing.T, ctx context.Context) {
	start := time.Now()
	if err := e.settle(ctx, 5*time.Minute); err != nil {
		t.Fatalf("the cluster's workloads did not settle: %v", err)
	}
	e.took("every workload rolled out, every pod Ready", time.Since(start))
}

func (e *env) green(t *testing.T, ctx context.Context) {
	start := time.Now()
	p := prom.New(e.prometheusURL)
	if err := poll(ctx, 3*time.Minute, func() error {
		res, err := p.API().Targets(ctx)
		if err != nil {
			return err
		}
		targets := res.Active
		var missing []string
		for _, pool := range kitMonitors {
			up := false
			for _, tg := range targets {
				if tg.ScrapePool == pool && tg.Health == "up" {
					u, err := url.Parse(tg.ScrapeURL)
					if err != nil {
						return fmt.Errorf("%s scrapes %q: %w", pool, tg.ScrapeURL, err)
					}
					if a, err := netip.ParseAddrPort(u.Host); err != nil || !clusterRange.Contains(a.Addr()) {
						return fmt.Errorf("%s scrapes %s, not a pod IP", pool, tg.ScrapeURL)
					}
					// The operator's metrics are HTTPS, for Prometheus's ServiceAccount token only.
					if want := map[bool]string{true: "https", false: "http"}[pool == operatorMonitor]; u.Scheme != want {
						return fmt.Errorf("%s scrapes %s, want %s", pool, tg.ScrapeURL, want)
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
	// The in-cluster Prometheus scrapes the runtime (the energy Suite's ServiceMonitor): its last
	// complete run passed, with the energy specs among those that ran, and nothing failed; the
	// three PDUs, addressed by the simulator's Service name, report power.
	q := `assertions_failed{job="` + runtimeService + `", namespace="wattson-system"} == 0 and on() wattson_runtime_ready == 1` +
		` and on() count(wattson_spec_passing{job="` + runtimeService + `", labels=~".*energy.*"} == 1) > 0` +
		` and on() count(wattson_pdu_power_watts) == 3`
	if err := poll(ctx, 5*time.Minute, func() error { return e.expectSeries(ctx, q) }); err != nil {
		t.Fatalf("the energy specs are not green in the in-cluster Prometheus: %v", err)
	}
	e.took("specs green, assertions_failed scraped (after targets up)", time.Since(start))
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
		{"get", "suites", "-A", "-o", "wide"},
		{"-n", "wattson-system", "logs", "deploy/" + runtimeService, "--all-containers", "--prefix", "--tail=30"},
		{"-n", "wattson-system", "logs", "deploy/wattson-postgres", "--tail=20"},
		{"-n", "wattson-system", "logs", "deploy/wattson-operator", "--tail=30"},
		{"-n", "argo-rollouts", "logs", "deploy/argo-rollouts", "--tail=40"},
		{"-n", rolloutNS, "get", "rollouts,analysisruns,replicasets", "-o", "wide"},
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
	return pollEvery(ctx, timeout, time.Second, f)
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

// hexAddr decodes /proc/net's ADDR:PORT (the address in host byte order per 32-bit word). What
// does not decode is returned as it is, so the census shows it off the cluster instead of
// counting a made-up 0.0.0.0 as inside.
func hexAddr(s string) string {
	addr, port, _ := strings.Cut(s, ":")
	var ip []byte
	for i := 0; i+8 <= len(addr); i += 8 {
		w, err := strconv.ParseUint(addr[i:i+8], 16, 32)
		if err != nil {
			return s
		}
		ip = append(ip, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil || len(ip) == 0 {
		return s
	}
	return net.JoinHostPort(net.IP(ip).String(), strconv.FormatUint(p, 10))
}
