package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/specs/prom"
	"github.com/wattson-dev/wattson/specs/sim"
)

// rolloutNS holds the gated demo Rollout.
const rolloutNS = "wattson-rollout-demo"

// rolloutManifest is a small app (busybox, already in the cluster) rolled out by Argo Rollouts
// with one canary step that runs the shipped wattson-suite-green AnalysisTemplate against the
// in-cluster Prometheus. %[1]s is the busybox tag, %[2]s the revision, %[3]s the runtime's
// namespace, %[4]s the suite.
const rolloutManifest = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: gated
  namespace: ` + rolloutNS + `
spec:
  replicas: 2
  revisionHistoryLimit: 3
  selector:
    matchLabels: {app.kubernetes.io/name: gated}
  template:
    metadata:
      labels: {app.kubernetes.io/name: gated}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: {type: RuntimeDefault}}
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          image: wattson.local/busybox:%[1]s
          imagePullPolicy: Never
          command: [/bin/busybox, sleep, "3600"]
          env: [{name: REVISION, value: "%[2]s"}]
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
  strategy:
    canary:
      steps:
        - setWeight: 50
        - analysis:
            templates: [{templateName: wattson-suite-green}]
            args:
              - {name: namespace, value: "%[3]s"}
              - {name: suite, value: "%[4]s"}
              - {name: count, value: "2"}
              - {name: interval, value: 10s}
              - {name: max-age-seconds, value: "120"}
`

// rolloutStatus is what the proof reads of a Rollout.
type rolloutStatus struct {
	Status struct {
		Phase          string `json:"phase"`
		Message        string `json:"message"`
		Abort          bool   `json:"abort"`
		StableRS       string `json:"stableRS"`
		CurrentPodHash string `json:"currentPodHash"`
		Canary         struct {
			CurrentStepAnalysisRunStatus *struct {
				Name, Status, Message string
			} `json:"currentStepAnalysisRunStatus"`
		} `json:"canary"`
	} `json:"status"`
}

// rollout: Argo Rollouts' controller (built from the module proxy, its release install.yaml)
// runs a Rollout whose canary step is gated by the energy suite through the shipped
// AnalysisTemplate and the in-cluster Prometheus: a new revision is promoted (Healthy, new stable
// ReplicaSet) while the suite is green; with a simulator fault making the suite red, the next
// revision's analysis fails and the Rollout is aborted (Degraded, the stable ReplicaSet kept).
func (e *env) rollout(t *testing.T, ctx context.Context) {
	kubectl := filepath.Join(e.bin, "kubectl")
	e.run(t, ctx, "rollouts: argo-rollouts image", "hack/cluster/images.sh", "argo-rollouts")
	version := strings.TrimSpace(e.run(t, ctx, "rollouts: version", "hack/tools.sh", "--version", "argo-rollouts"))
	install, err := os.ReadFile(filepath.Join(e.bin, "argo-rollouts-manifests", "install.yaml"))
	if err != nil {
		t.Fatalf("Argo Rollouts' install.yaml (hack/tools.sh argo-rollouts): %v", err)
	}
	// The release's manifests name :latest, always pulled; the image built here is the pinned
	// version, present in containerd.
	manifest := strings.ReplaceAll(string(install), "quay.io/argoproj/argo-rollouts:latest", "quay.io/argoproj/argo-rollouts:"+version)
	manifest = strings.ReplaceAll(manifest, "imagePullPolicy: Always", "imagePullPolicy: IfNotPresent")
	e.apply(t, ctx, "apiVersion: v1\nkind: Namespace\nmetadata: {name: argo-rollouts}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: "+rolloutNS+"}\n")
	start := time.Now()
	e.apply(t, ctx, manifest, "-n", "argo-rollouts")
	pd := filepath.Join(e.root, "monitoring", "progressive-delivery")
	e.apply(t, ctx, string(mustReadFile(t, filepath.Join(pd, "network-policy.yaml"))))
	e.apply(t, ctx, string(mustReadFile(t, filepath.Join(pd, "analysis-template.yaml"))), "-n", rolloutNS)
	e.run(t, ctx, "rollouts: controller available", kubectl, "-n", "argo-rollouts", "rollout", "status", "deploy/argo-rollouts", "--timeout=3m")
	e.took("Argo Rollouts "+version+" installed, controller available", time.Since(start))

	// The runtime's namespace from its Service (kubernetes-assert's label), the suite from its
	// series in Prometheus: whatever deploys the runtime (a Deployment, a Suite).
	out := e.run(t, ctx, "rollouts: runtime Service", kubectl, "get", "svc", "-A", "-l", "kubernetes-assert=metrics", "-o", "jsonpath={.items[0].metadata.namespace}")
	runtimeNS := strings.TrimSpace(out)
	v, err := prom.New(e.prometheusURL).QueryVector(ctx, fmt.Sprintf(`count by (suite) (wattson_spec_passing{namespace=%q})`, runtimeNS))
	if err != nil || len(v.Samples) != 1 {
		t.Fatalf("want one suite exporting spec series in namespace %q: %v %v", runtimeNS, v, err)
	}
	suite := v.Samples[0].Metric["suite"]
	t.Logf("gating on suite %q of the runtime in namespace %s", suite, runtimeNS)
	bb := strings.TrimSpace(e.run(t, ctx, "busybox version", "/bin/bash", "-c", `{ busybox 2>&1 || true; } | awk 'NR == 1 { print $2 }'`))
	deploy := func(revision string) {
		e.apply(t, ctx, fmt.Sprintf(rolloutManifest, bb, revision, runtimeNS, suite))
	}
	get := func() (rolloutStatus, error) {
		var r rolloutStatus
		cmd := exec.CommandContext(ctx, kubectl, "-n", rolloutNS, "get", "rollout", "gated", "-o", "json")
		cmd.Env = e.environ
		b, err := cmd.Output()
		if err != nil {
			return r, err
		}
		return r, json.Unmarshal(b, &r)
	}
	healthy := func(stable string) func() error {
		return func() error {
			r, err := get()
			if err != nil {
				return err
			}
			s := r.Status
			if s.Phase != "Healthy" || s.StableRS == "" || s.StableRS != s.CurrentPodHash || s.StableRS == stable {
				return fmt.Errorf("phase %s (%s), stable %s, current %s", s.Phase, s.Message, s.StableRS, s.CurrentPodHash)
			}
			return nil
		}
	}

	// Revision 1: a first rollout has no steps to run.
	start = time.Now()
	deploy("1")
	if err := poll(ctx, 3*time.Minute, healthy("")); err != nil {
		t.Fatalf("revision 1 never became Healthy: %v", err)
	}
	r1, _ := get()
	e.took("rollout: revision 1 Healthy (first rollout, no analysis)", time.Since(start))

	// Revision 2 while the suite is green: the canary step's analysis passes, and it is promoted.
	if err := poll(ctx, 3*time.Minute, func() error { return e.expectSeries(ctx, gateQuery(runtimeNS, suite, "== 1")) }); err != nil {
		t.Fatalf("the suite is not green before revision 2: %v", err)
	}
	start = time.Now()
	deploy("2")
	if err := poll(ctx, 5*time.Minute, healthy(r1.Status.StableRS)); err != nil {
		t.Fatalf("revision 2 was not promoted while the suite is green: %v", err)
	}
	r2, _ := get()
	run := e.analysisRun(t, ctx, r2.Status.StableRS)
	if run.phase != "Successful" {
		t.Fatalf("revision 2 is stable, but its AnalysisRun %s is %s", run.name, run.phase)
	}
	e.took(fmt.Sprintf("rollout: revision 2 promoted while green (AnalysisRun %s Successful, %d measurements)", run.name, run.measurements), time.Since(start))

	// A fault the suite sees (a wrong scale on one PDU, as the fault step): revision 3's analysis
	// fails and the Rollout aborts back to revision 2.
	simulator := sim.New(e.simulatorURL)
	if _, err := simulator.SetFault(ctx, "apc-rpdu2", sim.Fault{Type: sim.FaultScale, Factor: 10,
		Prefixes: []string{"1.3.6.1.4.1.318.1.1.26.4.3.1.5"}}); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = simulator.ClearFaults(context.Background(), "apc-rpdu2") }()
	start = time.Now()
	if err := poll(ctx, 5*time.Minute, func() error { return e.expectSeries(ctx, gateQuery(runtimeNS, suite, "== 0")) }); err != nil {
		t.Fatalf("the suite never went red in Prometheus: %v", err)
	}
	e.took("rollout: fault → suite red in Prometheus", time.Since(start))
	start = time.Now()
	deploy("3")
	if err := poll(ctx, 5*time.Minute, func() error {
		r, err := get()
		if err != nil {
			return err
		}
		s := r.Status
		if !s.Abort || s.Phase != "Degraded" {
			return fmt.Errorf("abort %v, phase %s (%s)", s.Abort, s.Phase, s.Message)
		}
		return nil
	}); err != nil {
		t.Fatalf("revision 3 was not aborted while the suite is red: %v", err)
	}
	r3, _ := get()
	if r3.Status.StableRS != r2.Status.StableRS {
		t.Fatalf("after the abort the stable ReplicaSet is %s, want revision 2's %s", r3.Status.StableRS, r2.Status.StableRS)
	}
	run = e.analysisRun(t, ctx, r3.Status.CurrentPodHash)
	if run.phase != "Failed" {
		t.Fatalf("revision 3 was aborted, but its AnalysisRun %s is %s", run.name, run.phase)
	}
	e.took(fmt.Sprintf("rollout: revision 3 aborted while red (AnalysisRun %s Failed; Degraded: %s)", run.name, r3.Status.Message), time.Since(start))
	if _, err := simulator.ClearFaults(ctx, "apc-rpdu2"); err != nil {
		t.Fatal(err)
	}
}

// gateQuery selects the suite's spec series whose min is cmp (== 1 green, == 0 red).
func gateQuery(namespace, suite, cmp string) string {
	return fmt.Sprintf(`min(wattson_spec_passing{namespace=%q, suite=%q}) %s`, namespace, suite, cmp)
}

type analysisRunInfo struct {
	name, phase  string
	measurements int
}

// analysisRun is the AnalysisRun of the Rollout's revision with pod hash hash.
func (e *env) analysisRun(t *testing.T, ctx context.Context, hash string) analysisRunInfo {
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "kubectl"), "-n", rolloutNS, "get", "analysisruns",
		"-l", "rollouts-pod-template-hash="+hash, "-o", "json")
	cmd.Env = e.environ
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("get analysisruns: %v", err)
	}
	var l struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
			Status   struct {
				Phase         string `json:"phase"`
				MetricResults []struct {
					Measurements []json.RawMessage `json:"measurements"`
				} `json:"metricResults"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &l); err != nil || len(l.Items) != 1 {
		t.Fatalf("want one AnalysisRun for pod hash %s: %v\n%s", hash, err, b)
	}
	i := l.Items[0]
	n := 0
	for _, m := range i.Status.MetricResults {
		n += len(m.Measurements)
	}
	return analysisRunInfo{name: i.Metadata.Name, phase: i.Status.Phase, measurements: n}
}

// apply applies a manifest server-side with kubectl.
func (e *env) apply(t *testing.T, ctx context.Context, manifest string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "kubectl"), append([]string{"apply", "--server-side", "--force-conflicts", "-f", "-"}, args...)...)
	cmd.Env, cmd.Stdin = e.environ, strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, tail(string(out), 30))
	}
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
