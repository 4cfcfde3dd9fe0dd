package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestClusterHelm proves the Helm chart (charts/wattson) on the real-shaped cluster, from
// nothing: the node comes up with the images hack/cluster/images.sh builds (Wattson's as
// wattson.local/wattson:dev), prometheus-operator's CRDs are applied (the chart's prerequisite,
// as README.md says), `helm install` installs the kit into wattson-system with
// hack/cluster/helm/values.yaml (those images and the test timing), Wattson's CRDs come from the
// chart's crds/, the simulator, the sample PDUs and a PostgreSQL are applied beside it, every
// workload rolls out, Prometheus scrapes every kit component and the energy specs go green; then
// `helm upgrade` turns the runtime into two replicas sharing each run through that PostgreSQL
// (runtime.store) and the operator into one, `helm uninstall` removes the release, and the node
// goes down. It runs only under `make cluster-helm` (WATTSON_CLUSTER_HELM=1).
func TestClusterHelm(t *testing.T) {
	if os.Getenv("WATTSON_CLUSTER_HELM") == "" {
		t.Skip("the Helm install on the loopback cluster needs root and ten minutes: run `make cluster-helm`")
	}
	e := newEnv(t, "make cluster-helm")
	helmHome := t.TempDir()
	e.environ = append(e.environ,
		// No user's repositories or plugins: nothing is fetched.
		"HELM_CACHE_HOME="+helmHome, "HELM_CONFIG_HOME="+helmHome, "HELM_DATA_HOME="+helmHome,
		"WATTSON_MIB_DIRS="+e.mibDirs())
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()

	e.run(t, ctx, "down (leftovers)", "hack/cluster/cluster.sh", "down")
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
	kubectl, helm := filepath.Join(e.bin, "kubectl"), filepath.Join(e.bin, "helm")
	steps := []struct {
		name string
		fn   func(*testing.T, context.Context)
	}{
		{"up", func(t *testing.T, ctx context.Context) {
			e.run(t, ctx, "cluster up", "hack/cluster/cluster.sh", "up")
			e.run(t, ctx, "images (Wattson's and third-party)", "hack/cluster/images.sh",
				"wattson", "snmp-exporter", "prometheus", "alertmanager", "prometheus-operator", "prometheus-config-reloader", "postgres")
		}},
		{"prerequisites", func(t *testing.T, ctx context.Context) {
			// What README.md's Helm section says to run before helm install.
			e.run(t, ctx, "prometheus-operator CRDs", kubectl, "apply", "--server-side", "-f", filepath.Join(e.bin, "prometheus-operator-crds"))
			e.run(t, ctx, "namespace", kubectl, "create", "namespace", "wattson-system")
			e.run(t, ctx, "namespace label", kubectl, "label", "namespace", "wattson-system", "pod-security.kubernetes.io/enforce=restricted")
			e.run(t, ctx, "MIB ConfigMaps", "hack/cluster/prepare.sh", "mibs")
			if out, err := e.output(ctx, kubectl, "get", "crd", "pdus.wattson.dev", "--ignore-not-found", "-o", "name"); err != nil || out != "" {
				t.Fatalf("Wattson's CRDs exist before helm install (%q, %v): the proof that crds/ installs them would be void", out, err)
			}
		}},
		{"helm install", func(t *testing.T, ctx context.Context) {
			e.run(t, ctx, "helm install (--wait: every Deployment Available)", helm, "install", "wattson", filepath.Join(e.root, "charts/wattson"),
				"--namespace", "wattson-system", "--values", filepath.Join(e.root, "hack/cluster/helm/values.yaml"), "--wait", "--timeout", "10m")
			for _, crd := range []string{"pdus.wattson.dev", "pdumodels.wattson.dev", "suites.wattson.dev"} {
				e.run(t, ctx, "CRDs from crds/", kubectl, "wait", "--for=condition=Established", "--timeout=60s", "crd/"+crd)
			}
			out := e.run(t, ctx, "fixtures (simulator, sample PDUs, PostgreSQL)", "/bin/bash", "-c",
				`"$BIN/kustomize" build --load-restrictor LoadRestrictionsNone hack/cluster/helm | "$BIN/kubectl" apply --server-side -f -`)
			t.Logf("fixtures:\n%s", out)
		}},
		{"workloads settled", e.settled},
		{"port-forwards", e.forwards},
		{"targets up, specs green", e.green},
		{"helm upgrade: one operator, the runtime a fleet over PostgreSQL", func(t *testing.T, ctx context.Context) {
			// runtime.store names the URL Secret of the PostgreSQL among the fixtures
			// (hack/cluster/kit/postgres.yaml).
			e.run(t, ctx, "helm upgrade (operator.replicas=1, runtime.replicas=2, runtime.store)", helm, "upgrade", "wattson", filepath.Join(e.root, "charts/wattson"),
				"--namespace", "wattson-system", "--values", filepath.Join(e.root, "hack/cluster/helm/values.yaml"), "--set", "operator.replicas=1",
				"--set", fmt.Sprintf("runtime.replicas=%d", suiteReplicas), "--set", "runtime.store.postgresURLSecretRef.name=wattson-history",
				"--set", "runtime.store.postgresURLSecretRef.key=url", "--wait", "--timeout", "5m")
			if out, err := e.output(ctx, kubectl, "-n", "wattson-system", "get", "deploy", "wattson-operator", "-o", "jsonpath={.status.readyReplicas}/{.spec.replicas}"); err != nil || out != "1/1" {
				t.Fatalf("after helm upgrade the operator has %q ready/wanted replicas (%v), want 1/1", out, err)
			}
			start := time.Now()
			if err := poll(ctx, 5*time.Minute, func() error {
				s, err := e.getSuite(ctx)
				if err != nil {
					return err
				}
				if ready, reason := s.condition("Ready"); ready != "True" || s.Status.ReadyReplicas != suiteReplicas || s.Status.Verdict != "Passed" {
					return fmt.Errorf("Suite energy: Ready %s %s, %d/%d ready replicas, verdict %q", ready, reason, s.Status.ReadyReplicas, s.Spec.Replicas, s.Status.Verdict)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			e.took(fmt.Sprintf("energy Suite Ready, %d/%d replicas, Passed (after the upgrade)", suiteReplicas, suiteReplicas), time.Since(start))
			e.exactlyOnce(t, ctx)
		}},
		{"helm uninstall", func(t *testing.T, ctx context.Context) {
			e.run(t, ctx, "helm uninstall", helm, "uninstall", "wattson", "--namespace", "wattson-system", "--wait", "--timeout", "5m")
			if out, err := e.output(ctx, kubectl, "-n", "wattson-system", "get", "deploy", "wattson-operator", "wattson-runtime", "--ignore-not-found", "-o", "name"); err != nil || out != "" {
				t.Fatalf("left after helm uninstall: %q (%v)", out, err)
			}
		}},
		{"down leaves nothing", func(t *testing.T, ctx context.Context) { down() }},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.fn(t, ctx) }) {
			return
		}
	}
}

// output runs a command with the cluster's environment and returns its trimmed stdout.
func (e *env) output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = e.root, e.environ
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}
