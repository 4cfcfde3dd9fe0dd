package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// probeNamespace is the "pod in another namespace" of the NetworkPolicy proof.
const probeNamespace = "wattson-np-probe"

// probeManifest: the namespace, a probe pod that waits for `kubectl exec` to run netprobe in, and
// a control server (busybox's httpd) behind a Service in the same namespace, which no policy
// selects: the probe reaching it through CoreDNS and kube-proxy shows the probe's network works.
const probeManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
  labels: {pod-security.kubernetes.io/enforce: restricted}
---
apiVersion: v1
kind: Pod
metadata:
  name: probe
  namespace: %[1]s
  labels: {app.kubernetes.io/name: probe}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: probe
      image: wattson.local/busybox:%[2]s
      imagePullPolicy: Never
      command: [/bin/busybox, sleep, "3600"]
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Pod
metadata:
  name: control
  namespace: %[1]s
  labels: {app.kubernetes.io/name: np-control}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: httpd
      image: wattson.local/busybox:%[2]s
      imagePullPolicy: Never
      command: [/bin/busybox, httpd, -f, -p, "8080", -h, /bin]
      ports: [{name: http, containerPort: 8080}]
      readinessProbe: {tcpSocket: {port: http}, periodSeconds: 1}
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata:
  name: np-control
  namespace: %[1]s
spec:
  selector: {app.kubernetes.io/name: np-control}
  ports: [{name: http, port: 8080, targetPort: http}]
`

// allowProbeManifest opens snmp_exporter's port to the probe's namespace: the control that flips
// one refusal into an answer and back by nothing but a NetworkPolicy.
const allowProbeManifest = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: wattson-e2e-allow-probe
  namespace: wattson-system
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: wattson-snmp-exporter}}
  policyTypes: [Ingress]
  ingress:
    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ` + probeNamespace + `}}}]
      ports: [{port: http, protocol: TCP}]
`

// The kit's Services, fully qualified (a trailing dot: no search path, CoreDNS answers
// cluster.local only).
const (
	exporterURL   = "http://wattson-snmp-exporter.wattson-system.svc.cluster.local.:9116"
	runtimeSvcURL = "http://" + runtimeService + ".wattson-system.svc.cluster.local.:9464"
	// HTTPS: a plain request still gets an answer (400) where the policy lets it through.
	operatorMetrics = "http://wattson-operator.wattson-system.svc.cluster.local.:8443"
	operatorUpload  = "http://wattson-operator.wattson-system.svc.cluster.local.:8082"
	// The energy Suite's shared history (hack/cluster/kit/postgres.yaml): TCP, no HTTP.
	postgresAddr    = "wattson-postgres.wattson-system.svc.cluster.local.:5432"
	simulatorSvcURL = "http://wattson-snmpsim.wattson-system.svc.cluster.local.:8161"
	prometheusSvc   = "http://wattson-prometheus.wattson-monitoring.svc.cluster.local.:9090"
	// The operator's --prometheus.url: the governing Service's pod address.
	prometheusOperated = "http://prometheus-operated.wattson-monitoring.svc.cluster.local.:9090"
	alertmanagerSvc    = "http://wattson-alertmanager.wattson-monitoring.svc.cluster.local.:9093"
	promOperatorURL    = "http://wattson-prometheus-operator.wattson-monitoring.svc.cluster.local.:8080"
	controlURL         = "http://np-control." + probeNamespace + ".svc.cluster.local.:8080/"
	// The simulator's SNMP agent (UDP), asked for sysDescr.0 as one of its PDUs (the community is
	// the device's name).
	simulatorSNMP = "wattson-snmpsim.wattson-system.svc.cluster.local.:161"
	simulatedPDU  = "apc-rpdu2"
	// snmp and tcp are the "methods" of a probe that is an SNMP GET or only a TCP connection.
	snmp = "SNMP"
	tcp  = "TCP"
)

// source is where a probe runs: the probe pod, or an ephemeral container in a kit pod (so the
// packets carry that pod's IP, namespace and labels: the real caller, not a look-alike).
type source struct {
	name, namespace, pod, container string
}

type netCase struct {
	from             *source
	what, method, to string
	allowed          bool
}

// verdict of one probe: "allowed" (a server answered) or "refused" (connection refused or timed
// out); anything else is an error of the probe.
func (e *env) probe(ctx context.Context, s *source, method, url string) (string, string, error) {
	args := []string{"-n", s.namespace, "exec", s.pod, "-c", s.container, "--", "/bin/netprobe", "-X", method, url}
	switch method {
	case snmp:
		args = []string{"-n", s.namespace, "exec", s.pod, "-c", s.container, "--", "/bin/netprobe", "-snmp", simulatedPDU, url}
	case tcp:
		args = []string{"-n", s.namespace, "exec", s.pod, "-c", s.container, "--", "/bin/netprobe", "-tcp", url}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "kubectl"), args...)
	cmd.Env = e.environ
	out, err := cmd.CombinedOutput()
	text := strings.TrimSpace(string(out))
	var exit *exec.ExitError
	switch {
	case err == nil:
		return "allowed", text, nil
	case errors.As(err, &exit) && exit.ExitCode() == 2:
		return "refused", text, nil
	}
	return "", text, fmt.Errorf("netprobe from %s: %w: %s", s.name, err, text)
}

// networkPolicies proves every NetworkPolicy the kit ships (monitoring/network-policies and the
// simulator's) enforced by the cluster's enforcer (kube-router's firewall): a pod in another
// namespace is refused by snmp_exporter (/snmp, /config, /metrics), the runtime (its API, POST
// /rerun, /metrics), the operator (metrics and the upload page), the simulator (control API and
// SNMP agent), Prometheus, Alertmanager and prometheus-operator; each component's real caller
// (ephemeral containers in the Prometheus, runtime, operator and snmp_exporter pods) is let through
// where the policies say and refused where they do not (the upload page: nobody in the cluster; the
// exporter: nobody but Prometheus; the SNMP agent: nobody but the exporter; PostgreSQL: nobody
// but the runtime). Three controls rule out a refusal that is really a broken network or a server
// not listening: the probe resolves names and reaches a server of its own namespace through its
// Service; every refused address answers its legitimate caller (the upload page: through kubectl
// port-forward); and one NetworkPolicy added for the probe's namespace turns one refusal into an
// answer, and removing it turns it back.
func (e *env) networkPolicies(t *testing.T, ctx context.Context) {
	kubectl := filepath.Join(e.bin, "kubectl")
	if out, err := exec.CommandContext(ctx, filepath.Join(e.root, "hack/cluster/cluster.sh"), "can-enforce").CombinedOutput(); err != nil {
		msg := "this kernel or its iptables/ipset cannot run kube-router's firewall (hack/cluster/cluster.sh can-enforce): the cluster enforces no NetworkPolicy here"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; CI must prove them: %v %s", msg, err, out)
		}
		t.Skip("NOT PROVEN: " + msg)
	}
	start := time.Now()
	e.enforcerRunning(t, ctx)

	bb := strings.TrimSpace(e.run(t, ctx, "busybox version", "/bin/bash", "-c", `{ busybox 2>&1 || true; } | awk 'NR == 1 { print $2 }'`))
	e.apply(t, ctx, fmt.Sprintf(probeManifest, probeNamespace, bb))
	t.Cleanup(func() {
		// Cleanup: what is already gone is fine.
		_ = exec.Command(kubectl, "delete", "namespace", probeNamespace, "--wait=false").Run()
		_ = exec.Command(kubectl, "delete", "-n", "wattson-system", "networkpolicy", "wattson-e2e-allow-probe", "--ignore-not-found").Run()
	})
	other := &source{"pod in " + probeNamespace, probeNamespace, "probe", "probe"}
	prometheus := e.ephemeralProbe(t, ctx, "Prometheus", "wattson-monitoring", "app.kubernetes.io/name=prometheus,prometheus=wattson", bb)
	runtime := e.ephemeralProbe(t, ctx, "runtime", "wattson-system", "app.kubernetes.io/name=wattson-suite", bb)
	operator := e.ephemeralProbe(t, ctx, "operator", "wattson-system", "app.kubernetes.io/name=wattson-operator", bb)
	exporter := e.ephemeralProbe(t, ctx, "snmp_exporter", "wattson-system", "app.kubernetes.io/name=wattson-snmp-exporter", bb)
	// Argo Rollouts' controller (the Rollout step installs it, with
	// monitoring/progressive-delivery/network-policy.yaml): Prometheus's API, nothing else.
	var argo *source
	if e.hasPod(ctx, "argo-rollouts", "app.kubernetes.io/name=argo-rollouts") {
		argo = e.ephemeralProbe(t, ctx, "Argo Rollouts", "argo-rollouts", "app.kubernetes.io/name=argo-rollouts", bb)
	}
	e.run(t, ctx, "NetworkPolicy probe pods Ready", kubectl, "-n", probeNamespace, "wait", "--for=condition=Ready", "pod/probe", "pod/control", "--timeout=2m")

	get, post := "GET", "POST"
	cases := []netCase{
		// The pod in another namespace: refused by every kit component.
		{other, "snmp_exporter /snmp (an SNMP proxy with the tenants' credentials)", get, exporterURL + "/snmp?target=127.0.0.1:9&module=if_mib&auth=public_v2", false},
		{other, "snmp_exporter /config (lists the auth names)", get, exporterURL + "/config", false},
		{other, "snmp_exporter /metrics", get, exporterURL + "/metrics", false},
		{other, "runtime history API", get, runtimeSvcURL + "/api/runs", false},
		{other, "runtime POST /rerun", post, runtimeSvcURL + "/rerun", false},
		{other, "runtime /metrics", get, runtimeSvcURL + "/metrics", false},
		{other, "operator upload page", get, operatorUpload + "/", false},
		{other, "operator /metrics", get, operatorMetrics + "/metrics", false},
		{other, "simulator control API (truth, faults)", get, simulatorSvcURL + "/api/v1/devices", false},
		{other, "simulator /metrics", get, simulatorSvcURL + "/metrics", false},
		{other, "Prometheus API", get, prometheusSvc + "/api/v1/query?query=up", false},
		{other, "Alertmanager API", get, alertmanagerSvc + "/api/v2/alerts", false},
		{other, "prometheus-operator /metrics", get, promOperatorURL + "/metrics", false},
		{other, "simulator SNMP agent (UDP)", snmp, simulatorSNMP, false},
		{other, "PostgreSQL (the Suite's history)", tcp, postgresAddr, false},
		// Control: the same pod reaches a server of its own namespace, by name, through kube-proxy.
		{other, "control server in its own namespace (no policy)", get, controlURL, true},
		// Prometheus scrapes every component; the upload page is nobody's.
		{prometheus, "snmp_exporter /metrics", get, exporterURL + "/metrics", true},
		{prometheus, "snmp_exporter /config", get, exporterURL + "/config", true},
		{prometheus, "runtime /metrics", get, runtimeSvcURL + "/metrics", true},
		{prometheus, "operator /metrics", get, operatorMetrics + "/metrics", true},
		{prometheus, "operator upload page", get, operatorUpload + "/", false},
		{prometheus, "simulator /metrics", get, simulatorSvcURL + "/metrics", true},
		{prometheus, "Alertmanager API (alerts)", get, alertmanagerSvc + "/api/v2/alerts", true},
		{prometheus, "prometheus-operator /metrics", get, promOperatorURL + "/metrics", true},
		{prometheus, "PostgreSQL", tcp, postgresAddr, false},
		// The runtime queries Prometheus and Alertmanager, drives the simulator and keeps its
		// history in PostgreSQL; it has no business with the exporter or the upload page.
		{runtime, "Prometheus API", get, prometheusSvc + "/api/v1/query?query=up", true},
		{runtime, "Alertmanager API", get, alertmanagerSvc + "/api/v2/alerts", true},
		{runtime, "simulator control API", get, simulatorSvcURL + "/api/v1/devices", true},
		{runtime, "snmp_exporter /config", get, exporterURL + "/config", false},
		{runtime, "operator upload page", get, operatorUpload + "/", false},
		{runtime, "PostgreSQL (the Suite's history)", tcp, postgresAddr, true},
		// snmp_exporter polls the simulator's SNMP agent; nobody else may.
		{exporter, "simulator SNMP agent (UDP)", snmp, simulatorSNMP, true},
		{prometheus, "simulator SNMP agent (UDP)", snmp, simulatorSNMP, false},
		{runtime, "simulator SNMP agent (UDP)", snmp, simulatorSNMP, false},
		// The operator reads PDU readings from Prometheus (--prometheus.url) and each Suite's history
		// from its runtime; nothing else.
		{operator, "Prometheus API (prometheus-operated)", get, prometheusOperated + "/api/v1/query?query=up", true},
		{operator, "runtime history API", get, runtimeSvcURL + "/api/runs", true},
		{operator, "PostgreSQL", tcp, postgresAddr, false},
		{operator, "Alertmanager API", get, alertmanagerSvc + "/api/v2/alerts", false},
		{operator, "simulator control API", get, simulatorSvcURL + "/api/v1/devices", false},
	}
	if argo != nil {
		cases = append(cases,
			netCase{argo, "Prometheus API (analysis queries)", get, prometheusSvc + "/api/v1/query?query=up", true},
			netCase{argo, "snmp_exporter /config", get, exporterURL + "/config", false})
	} else {
		t.Log("no Argo Rollouts controller in this run: monitoring/progressive-delivery/network-policy.yaml not probed")
	}
	type row struct{ from, what, want, got, detail string }
	var rows []row
	refused, allowed := 0, 0
	for _, c := range cases {
		want := map[bool]string{true: "allowed", false: "refused"}[c.allowed]
		got, detail, err := e.probe(ctx, c.from, c.method, c.to)
		if err != nil {
			t.Errorf("%s → %s: %v", c.from.name, c.what, err)
			got = "error"
		} else if got != want {
			t.Errorf("%s → %s (%s %s): %s, want %s: %s", c.from.name, c.what, c.method, c.to, got, want, detail)
		}
		if got == want && c.allowed {
			allowed++
		} else if got == want {
			refused++
		}
		rows = append(rows, row{c.from.name, c.what, want, got, detail})
	}
	// The upload page is nobody's in the cluster; its way in is kubectl port-forward (through the
	// apiserver and kubelet, not the pod network).
	upload := e.portForward(t, ctx, "wattson-system", "wattson-operator", 8082)
	got, detail := "allowed", ""
	if resp, err := http.Get(upload + "/"); err != nil {
		got, detail = "refused", err.Error()
		t.Errorf("the operator's upload page through kubectl port-forward: %v", err)
	} else {
		resp.Body.Close()
		detail = "answered: " + resp.Status
	}
	rows = append(rows, row{"host, kubectl port-forward", "operator upload page", "allowed", got, detail})
	// Control: every address refused to the pod in another namespace answers its legitimate
	// caller (so the refusal was not a server that does not listen there).
	answered := map[string]bool{operatorUpload[len("http://"):]: got == "allowed"}
	hostPort := func(to string) string {
		if p := strings.SplitN(to, "/", 4); len(p) > 2 {
			return p[2]
		}
		return to // SNMP and TCP: HOST:PORT
	}
	for i, c := range cases {
		if rows[i].got == "allowed" {
			answered[hostPort(c.to)] = true
		}
	}
	for _, c := range cases {
		if hostPort := hostPort(c.to); c.from == other && !c.allowed && !answered[hostPort] {
			t.Errorf("control missing: %s (%s) answered no probe, so its refusal may not be a policy's", c.what, hostPort)
		}
	}

	// Control: a policy for the probe's namespace opens the exporter to it; removing it closes it.
	flip := func(want string) (time.Duration, error) {
		t0 := time.Now()
		err := poll(ctx, 30*time.Second, func() error {
			got, detail, err := e.probe(ctx, other, get, exporterURL+"/config")
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%s, want %s: %s", got, want, detail)
			}
			return nil
		})
		return time.Since(t0), err
	}
	e.apply(t, ctx, allowProbeManifest)
	opened, err := flip("allowed")
	if err != nil {
		t.Errorf("with wattson-e2e-allow-probe the pod in %s still cannot reach snmp_exporter: %v", probeNamespace, err)
	}
	rows = append(rows, row{other.name, "snmp_exporter /config, policy wattson-e2e-allow-probe added", "allowed", map[bool]string{true: "allowed", false: "refused"}[err == nil], fmt.Sprintf("after %.1fs", opened.Seconds())})
	e.run(t, ctx, "NetworkPolicy control removed", kubectl, "delete", "-n", "wattson-system", "networkpolicy", "wattson-e2e-allow-probe")
	closed, err := flip("refused")
	if err != nil {
		t.Errorf("after wattson-e2e-allow-probe was deleted the pod in %s still reaches snmp_exporter: %v", probeNamespace, err)
	}
	rows = append(rows, row{other.name, "snmp_exporter /config, policy removed again", "refused", map[bool]string{true: "refused", false: "allowed"}[err == nil], fmt.Sprintf("after %.1fs", closed.Seconds())})

	// The kit's own traffic, which only the policies' allowed paths carry: Prometheus scrapes every
	// ServiceMonitor's target and snmp_exporter's /snmp, the exporter polls the simulator over UDP,
	// and Prometheus delivers alerts to Alertmanager.
	for _, q := range []struct{ what, query string }{
		{"Prometheus → every kit ServiceMonitor target, up", fmt.Sprintf(`count(count by (job) (up{job=~"%s"} == 1)) == %d`, strings.Join(monitorJobs(), "|"), len(kitMonitors))},
		{"Prometheus → snmp_exporter → simulator (SNMP over UDP): three PDUs' power", `count(wattson_pdu_power_watts) == 3`},
		{"Prometheus → Alertmanager (its Service's pod): alerts delivered", `sum(prometheus_notifications_sent_total) > 0 and on() sum(prometheus_notifications_alertmanagers_discovered) > 0`},
	} {
		got := "allowed"
		if err := e.expectSeries(ctx, q.query); err != nil {
			t.Errorf("%s: %v", q.what, err)
			got = "refused"
		}
		rows = append(rows, row{"kit's own traffic", q.what, "allowed", got, q.query})
	}
	e.enforcerRunning(t, ctx)

	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "source\tdestination\texpected\tobserved\tdetail")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.from, r.what, r.want, r.got, tail(r.detail, 1))
	}
	w.Flush()
	t.Logf("NetworkPolicy matrix:\n%s", b.String())
	fmt.Print(b.String())
	if !t.Failed() {
		e.took(fmt.Sprintf("NetworkPolicies: %d refused, %d allowed as the policies say; a policy added opens in %.1fs, removed closes in %.1fs",
			refused, allowed, opened.Seconds(), closed.Seconds()), time.Since(start))
	}
}

// monitorJobs: the job of each kit ServiceMonitor's targets (its Service's name).
func monitorJobs() []string {
	var jobs []string
	for _, m := range kitMonitors {
		jobs = append(jobs, strings.Split(m, "/")[2])
	}
	return jobs
}

// enforcerRunning fails unless kube-router runs in the node's namespace and has pod firewall
// chains, so no "refused" can come from a stale rule set of a dead enforcer, nor an "allowed" from
// no enforcer at all.
func (e *env) enforcerRunning(t *testing.T, ctx context.Context) {
	t.Helper()
	status := e.run(t, ctx, "cluster status", "hack/cluster/cluster.sh", "status")
	if !strings.Contains(status, "kube-router: running") {
		t.Fatalf("the NetworkPolicy enforcer is not running:\n%s\n%s", status, e.run(t, ctx, "kube-router log", "/bin/bash", "-c", "tail -n 30 \"$WATTSON_CLUSTER_DIR/logs/kube-router.log\""))
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		t.Fatal(err)
	}
	rules := e.run(t, ctx, "kube-router's rules", nsenter, "--net=/run/netns/wattson-node", "--", "iptables-nft-save", "-t", "filter")
	pods, policies := strings.Count(rules, "\n:KUBE-POD-FW-"), strings.Count(rules, "\n:KUBE-NWPLCY-")
	if pods == 0 || policies < 2 {
		t.Fatalf("kube-router runs but programs %d pod and %d policy chains:\n%s", pods, policies, tail(rules, 40))
	}
	t.Logf("kube-router: %d pod firewall chains, %d policy chains (iptables-nft, in wattson-node)", pods, policies)
}

// hasPod: whether a running pod matches selector in namespace.
func (e *env) hasPod(ctx context.Context, namespace, selector string) bool {
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "kubectl"), "-n", namespace, "get", "pods", "-l", selector,
		"--field-selector=status.phase=Running", "-o", "name")
	cmd.Env = e.environ
	out, err := cmd.Output()
	return err == nil && strings.TrimSpace(string(out)) != ""
}

// ephemeralProbe adds a netprobe container to the first running pod matching selector and
// returns it as a probe source (kubectl debug --profile=restricted: the kit's namespaces enforce
// the restricted Pod Security Standard).
func (e *env) ephemeralProbe(t *testing.T, ctx context.Context, name, namespace, selector, tag string) *source {
	t.Helper()
	kubectl := filepath.Join(e.bin, "kubectl")
	pod := strings.TrimSpace(e.run(t, ctx, "find "+name+" pod", kubectl, "-n", namespace, "get", "pods", "-l", selector,
		"--field-selector=status.phase=Running", "-o", "jsonpath={.items[0].metadata.name}"))
	if pod == "" {
		t.Fatalf("no running %s pod (%s in %s)", name, selector, namespace)
	}
	const container = "netprobe"
	e.run(t, ctx, "ephemeral probe in "+name, kubectl, "-n", namespace, "debug", "pod/"+pod, "--image=wattson.local/busybox:"+tag,
		"--image-pull-policy=Never", "--container="+container, "--profile=restricted", "--", "/bin/busybox", "sleep", "3600")
	if err := poll(ctx, time.Minute, func() error {
		cmd := exec.CommandContext(ctx, kubectl, "-n", namespace, "get", "pod", pod, "-o",
			`jsonpath={.status.ephemeralContainerStatuses[?(@.name=="`+container+`")].state}`)
		cmd.Env = e.environ
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "running") {
			return fmt.Errorf("ephemeral container %s in %s/%s: not running (%v): %s", container, namespace, pod, err, out) //nolint:errorlint // err may be nil: the container is not running yet
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return &source{name + " (" + namespace + "/" + pod + ")", namespace, pod, container}
}
