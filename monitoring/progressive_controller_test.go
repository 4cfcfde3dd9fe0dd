package monitoring_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
)

// TestArgoRolloutsControllerAnalysisRuns runs Argo Rollouts' real controller (its analysis
// controller, bin/rollouts-controller) against a real kube-apiserver: AnalysisRuns made from
// wattson-suite-green, as a Rollout's step makes them, end Successful on a green suite, Failed on
// a red one and Inconclusive on an absent one, measured against a real Prometheus scraping real
// runtimes. The controller's health and metrics servers bind every address and cannot be told
// otherwise, so the test runs only in a network namespace of its own that has nothing but
// loopback and a veth pair whose both ends are in it (kube-apiserver needs a default route to
// pick an address; the namespace has no link to anything else) (WATTSON_ARGO_NETNS=1):
//
//	unshare --net sh -c 'ip link set lo up && ip link add wattson-va type veth peer name wattson-vb &&
//	  ip addr add 198.18.255.77/32 dev wattson-va && ip link set wattson-va up && ip link set wattson-vb up &&
//	  ip route add default dev wattson-va &&
//	  WATTSON_ARGO_NETNS=1 go test -run TestArgoRolloutsControllerAnalysisRuns ./monitoring/'
func TestArgoRolloutsControllerAnalysisRuns(t *testing.T) {
	if os.Getenv("WATTSON_ARGO_NETNS") == "" {
		t.Skip("runs Argo Rollouts' controller, which binds every address: only in a private network namespace (see the doc comment)")
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 && !strings.HasPrefix(i.Name, "wattson-v") {
			t.Fatalf("interface %s is neither loopback nor a wattson-v veth of the namespace itself: this is not a private network namespace", i.Name)
		}
	}
	repo := root(t)
	controller := testenv.Binary(t, "rollouts-controller")
	cfg, env := testenv.Kube(t, testenv.KubeOptions{CRDDirs: []string{testenv.Binary(t, "argo-rollouts-crds")}})
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	user, err := env.AddUser(envtest.User{Name: "argo-rollouts", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}

	bins := t.TempDir()
	for _, b := range [][]string{
		{"build", "-o", filepath.Join(bins, "wattson-runtime"), "./runtime"},
		{"test", "-c", "-o", filepath.Join(bins, "passing.test"), "./runtime/testdata/suites/passing"},
		{"test", "-c", "-o", filepath.Join(bins, "failing.test"), "./runtime/testdata/suites/failing"},
	} {
		cmd := exec.Command("go", b...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", b, err, out)
		}
	}
	start := func(suite string) string {
		addr, err := procs.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(bins, "wattson-runtime"), "--specs.binary="+filepath.Join(bins, suite+".test"),
			"--specs.suite=checkout", "--specs.interval=1s", "--web.listen-address="+addr)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return addr
	}
	green, red := start("passing"), start("failing")
	prom := testenv.Prometheus(t, fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n"+
		"  - {job_name: green, static_configs: [{targets: [%s], labels: {namespace: team-green}}]}\n"+
		"  - {job_name: red, static_configs: [{targets: [%s], labels: {namespace: team-red}}]}\n", green, red), nil)
	deadline := time.Now().Add(time.Minute)
	for queryValue(t, prom.URL, `count(wattson_spec_passing{suite="checkout"})`) < 3 { // 1 passing + 2 failing-suite specs
		if time.Now().After(deadline) {
			t.Fatal("the runtimes' spec series never reached Prometheus")
		}
		time.Sleep(500 * time.Millisecond)
	}

	var out bytes.Buffer
	cmd := exec.Command(controller, "--kubeconfig", kubeconfig, "--controllers", "analysis", "--leader-elect=false", "--loglevel", "info")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("rollouts-controller:\n%s", tailLines(out.String(), 40))
		}
	})

	ctx := context.Background()
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName("shop")
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	tmpl := decode(t, mustRead(t, filepath.Join(repo, pdDir, "analysis-template.yaml")))[0]
	args, _, _ := unstructured.NestedSlice(tmpl.Object, "spec", "args")
	metrics, _, _ := unstructured.NestedSlice(tmpl.Object, "spec", "metrics")
	for _, s := range []struct{ name, namespace, want string }{
		{"green", "team-green", "Successful"},
		{"red", "team-red", "Failed"},
		{"absent", "team-absent", "Inconclusive"},
	} {
		// As a Rollout's analysis step makes it: the template's metrics, its args with the step's.
		set := map[string]string{"namespace": s.namespace, "suite": "checkout", "prometheus-address": prom.URL, "count": "2", "interval": "2s"}
		var runArgs []any
		for _, a := range args {
			a := a.(map[string]any)
			if v, ok := set[a["name"].(string)]; ok {
				a = map[string]any{"name": a["name"], "value": v}
			}
			runArgs = append(runArgs, a)
		}
		run := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
			"metadata": map[string]any{"name": "wattson-" + s.name, "namespace": "shop"},
			"spec":     map[string]any{"args": runArgs, "metrics": metrics},
		}}
		if err := c.Create(ctx, run); err != nil {
			t.Fatalf("create AnalysisRun %s: %v", s.name, err)
		}
		began := time.Now()
		var phase, message string
		for time.Since(began) < 2*time.Minute {
			got := &unstructured.Unstructured{}
			got.SetAPIVersion("argoproj.io/v1alpha1")
			got.SetKind("AnalysisRun")
			if err := c.Get(ctx, types.NamespacedName{Namespace: "shop", Name: "wattson-" + s.name}, got); err != nil {
				t.Fatal(err)
			}
			phase, _, _ = unstructured.NestedString(got.Object, "status", "phase")
			message, _, _ = unstructured.NestedString(got.Object, "status", "message")
			if phase != "" && phase != "Pending" && phase != "Running" {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if phase != s.want {
			t.Errorf("AnalysisRun %s (namespace %s): phase %q (%s), want %s", s.name, s.namespace, phase, message, s.want)
			continue
		}
		t.Logf("AnalysisRun %s: %s after %.1fs (%s)", s.name, phase, time.Since(began).Seconds(), strings.TrimSpace(message))
	}
}
