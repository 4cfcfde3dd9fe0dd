// Package monitoring_test proves the kit's deployment files against the real tools, since no
// cluster here can run pods: every kustomization renders with kustomize and passes a server-side
// dry-run on a real kube-apiserver with prometheus-operator's CRDs and Wattson's installed; the
// rules pass `promtool check rules` and `promtool test rules`; the Alertmanager configuration loads
// in a real Alertmanager; every dashboard query returns data from a real Prometheus that scrapes
// the series Wattson exports and evaluates the rules; skaffold diagnoses and renders the config;
// and the manifests, the Dockerfile and the components agree on names, ports and labels.
//
// There is no Go code in monitoring/ besides these tests: the kit is YAML and JSON.
package monitoring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// kitImage is the one image holding every Wattson binary (Dockerfile).
const kitImage = "ghcr.io/wattson-dev/wattson"

// render is a kustomization of the kit and what it needs to apply.
type render struct {
	name string
	// dir is relative to the repository root.
	dir string
	// namespaces must exist before the render applies (the kit creates them; a standalone
	// overlay assumes the kit is installed).
	namespaces []string
	// complete renders hold every component, so every ServiceMonitor must select a Service (and
	// it a pod template) in them.
	complete bool
}

var renders = []render{
	{name: "root", dir: "."},
	{name: "byo-prometheus", dir: "monitoring/overlays/byo-prometheus", namespaces: []string{"wattson-system"}},
	{name: "full-stack", dir: "monitoring/overlays/full-stack", namespaces: []string{"wattson-system"}},
	{name: "long-term", dir: "monitoring/overlays/long-term", namespaces: []string{"wattson-system"}},
	{name: "local", dir: "monitoring/overlays/local", complete: true},
	{name: "dev", dir: "monitoring/overlays/dev", complete: true},
	{name: "cluster", dir: "hack/cluster/kit", complete: true},
	{name: "cluster-dev", dir: "hack/cluster/kit-dev", complete: true},
	{name: "operator", dir: "monitoring/operator"},
	{name: "runtime", dir: "runtime/config", namespaces: []string{"wattson-system"}},
	// README.md's "bring your own Prometheus" kustomization, with local paths.
	{name: "byo-kit", dir: "monitoring/testdata/byo-kit"},
}

// operatorManaged are ServiceMonitor targets that no manifest holds: the operator creates them at
// run time (operator/internal/controller: the snmp_exporter Deployment and Service, label
// app.kubernetes.io/name=wattson-snmp-exporter, port http).
var operatorManaged = map[string]bool{v1alpha1.ExporterName: true}

func root(t testing.TB) string {
	t.Helper()
	r, err := procs.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// command runs a tool with a timeout and returns its stdout; the error carries stderr.
func command(ctx context.Context, dir string, env []string, stdin io.Reader, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.Bytes(), nil
}

// decode splits a multi-document YAML stream into objects.
func decode(t testing.TB, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decode YAML: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// requireOperatorConfig skips (fails under CI) when a render needs operator/config/default and the
// operator has not landed it yet.
func requireOperatorConfig(t testing.TB, repo, dir string) {
	t.Helper()
	if dir == "monitoring/overlays/byo-prometheus" || dir == "monitoring/overlays/full-stack" || dir == "monitoring/overlays/long-term" || dir == "runtime/config" {
		return
	}
	if _, err := os.Stat(filepath.Join(repo, "operator/config/default/kustomization.yaml")); err != nil {
		testenv.Unavailable(t, fmt.Errorf("%s needs operator/config/default, which is not there yet", dir))
	}
}

// kustomizeBuild renders dir (relative to the repository root) with bin/kustomize.
func kustomizeBuild(t testing.TB, repo, dir string) []byte {
	t.Helper()
	kustomize := testenv.Binary(t, "kustomize")
	out, err := command(context.Background(), repo, nil, nil, kustomize, "build", dir)
	if err != nil {
		t.Fatalf("render %s: %v", dir, err)
	}
	return out
}

// TestManifests renders every kustomization and applies the result with a server-side dry-run,
// with strict field validation, to a real kube-apiserver that has prometheus-operator's CRDs and
// Wattson's. Namespaces are created for real first: a dry-run does not create them.
func TestManifests(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	repo := root(t)
	testenv.Binary(t, "kustomize")
	kubectl := testenv.Binary(t, "kubectl")

	var crdDirs []string
	ourCRDs := filepath.Join(repo, "operator/config/crd/bases")
	if _, err := os.Stat(ourCRDs); err == nil {
		crdDirs = append(crdDirs, ourCRDs)
	} else {
		t.Logf("operator/config/crd/bases is absent: objects of group wattson.dev are left out of the dry-run")
	}
	_, env := testenv.Kube(t, testenv.KubeOptions{CRDDirs: crdDirs, PrometheusOperatorCRDs: true})
	user, err := env.AddUser(envtest.User{Name: "wattson-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfigData, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kubeconfigData, 0o600); err != nil {
		t.Fatal(err)
	}
	kenv := []string{"KUBECONFIG=" + kubeconfig}
	ctx := context.Background()

	apply := func(t *testing.T, objs []*unstructured.Unstructured, dryRun bool) error {
		t.Helper()
		var buf bytes.Buffer
		for _, o := range objs {
			b, err := o.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(b)
			buf.WriteString("\n")
		}
		args := []string{"apply", "--server-side", "--field-manager=wattson-test", "--validate=strict", "-f", "-"}
		if dryRun {
			args = append(args, "--dry-run=server")
		}
		_, err := command(ctx, repo, kenv, &buf, kubectl, args...)
		return err
	}
	ensureNamespaces := func(t *testing.T, names ...string) {
		t.Helper()
		var objs []*unstructured.Unstructured
		for _, n := range names {
			ns := &unstructured.Unstructured{}
			ns.SetAPIVersion("v1")
			ns.SetKind("Namespace")
			ns.SetName(n)
			objs = append(objs, ns)
		}
		if len(objs) > 0 {
			if err := apply(t, objs, false); err != nil {
				t.Fatalf("create namespaces: %v", err)
			}
		}
	}

	// The dry-run must be able to fail: an invalid duration in a PrometheusRule is refused by the
	// CRD's schema, and an unknown field by strict validation.
	t.Run("dry-run rejects invalid objects", func(t *testing.T) {
		ensureNamespaces(t, "wattson-system")
		for name, doc := range map[string]string{
			"bad duration":  `{"apiVersion":"monitoring.coreos.com/v1","kind":"PrometheusRule","metadata":{"name":"bad","namespace":"wattson-system"},"spec":{"groups":[{"name":"g","rules":[{"alert":"A","expr":"up == 0","for":"banana"}]}]}}`,
			"unknown field": `{"apiVersion":"monitoring.coreos.com/v1","kind":"PodMonitor","metadata":{"name":"bad","namespace":"wattson-system"},"spec":{"selector":{},"podMetricsEndpoints":[{"port":"x","notAField":true}]}}`,
		} {
			if err := apply(t, decode(t, []byte(doc)), true); err == nil {
				t.Errorf("%s: dry-run accepted an invalid object", name)
			}
		}
	})

	for _, r := range renders {
		t.Run(r.name, func(t *testing.T) {
			requireOperatorConfig(t, repo, r.dir)
			objs := decode(t, kustomizeBuild(t, repo, r.dir))
			if len(objs) == 0 {
				t.Fatalf("%s renders nothing", r.dir)
			}
			var keep []*unstructured.Unstructured
			namespaces := slices.Clone(r.namespaces)
			for _, o := range objs {
				if o.GroupVersionKind().Group == "wattson.dev" && len(crdDirs) == 0 {
					continue
				}
				if o.GetKind() == "Namespace" {
					namespaces = append(namespaces, o.GetName())
				}
				keep = append(keep, o)
			}
			ensureNamespaces(t, namespaces...)
			if err := apply(t, keep, true); err != nil {
				t.Fatalf("server-side dry-run of %s: %v", r.dir, err)
			}
			t.Logf("%s: %d objects pass a server-side dry-run", r.dir, len(keep))
			checkConsistency(t, r, objs)
		})
	}

	// skaffold's verify Job is loaded by skaffold itself, not by kustomize.
	t.Run("verify job", func(t *testing.T) {
		ensureNamespaces(t, "wattson-system")
		data, err := os.ReadFile(filepath.Join(repo, "monitoring/verify/job.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		objs := decode(t, data)
		if err := apply(t, objs, true); err != nil {
			t.Fatalf("server-side dry-run of the verify Job: %v", err)
		}
		if len(objs) != 1 || len(objs[0].GetLabels()) == 0 {
			t.Errorf("the verify Job needs metadata.labels: skaffold adds its run-id label to them")
		}
	})
}

// checkConsistency checks what a dry-run cannot: that monitors select pods and ports that exist,
// that Wattson's image runs a binary the Dockerfile builds, and that other images are pinned.
func checkConsistency(t *testing.T, r render, objs []*unstructured.Unstructured) {
	t.Helper()
	binaries := dockerfileBinaries(t)
	type podTemplate struct {
		namespace string
		labels    map[string]string
		ports     map[string]bool
	}
	var pods []podTemplate
	for _, o := range objs {
		// A Suite names its image in spec.image: kustomize's images transformer must set it
		// (runtime/config/kustomizeconfig.yaml) to the release, as for a container.
		if o.GetKind() == "Suite" {
			image, _, _ := unstructured.NestedString(o.Object, "spec", "image")
			if name, tag, _ := strings.Cut(image, ":"); name == kitImage && tag != releaseVersion(t) {
				t.Errorf("Suite %s/%s: image %q, want %s:%s (the root kustomization.yaml's release)", o.GetNamespace(), o.GetName(), image, kitImage, releaseVersion(t))
			}
		}
		spec, ok, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
		if !ok {
			continue
		}
		lbls, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
		pt := podTemplate{namespace: o.GetNamespace(), labels: lbls, ports: map[string]bool{}}
		containers, _, _ := unstructured.NestedSlice(spec, "containers")
		for _, c := range containers {
			c := c.(map[string]any)
			image, _ := c["image"].(string)
			ports, _, _ := unstructured.NestedSlice(c, "ports")
			for _, p := range ports {
				if n, ok := p.(map[string]any)["name"].(string); ok {
					pt.ports[n] = true
				}
			}
			where := fmt.Sprintf("%s %s/%s container %v", o.GetKind(), o.GetNamespace(), o.GetName(), c["name"])
			name, tag, _ := strings.Cut(image, ":")
			switch {
			case name == kitImage:
				if want := releaseVersion(t); tag != want {
					t.Errorf("%s: image %q, want the release the manifests ship, %s (root kustomization.yaml)", where, image, want)
				}
				cmd, _, _ := unstructured.NestedStringSlice(c, "command")
				if len(cmd) == 0 || !binaries[cmd[0]] {
					t.Errorf("%s: image %s needs a command among the Dockerfile's binaries %v, has %v", where, kitImage, slices.Sorted(maps.Keys(binaries)), cmd)
				}
			case name == kitImage+"-dev":
				// The dev target: wattson-runtime on PATH.
			case tag == "" || tag == "latest":
				t.Errorf("%s: image %q is not pinned to a version", where, image)
			}
		}
		pods = append(pods, pt)
	}
	for _, o := range objs {
		if o.GetKind() == "PodMonitor" {
			t.Errorf("PodMonitor %s/%s: every kit component has a Service; use a ServiceMonitor", o.GetNamespace(), o.GetName())
		}
		if o.GetKind() != "ServiceMonitor" {
			continue
		}
		sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
		eps, _, _ := unstructured.NestedSlice(o.Object, "spec", "endpoints")
		if operatorManaged[sel["app.kubernetes.io/name"]] || !r.complete {
			continue
		}
		found := false
		for _, svc := range objs {
			if svc.GetKind() != "Service" || svc.GetNamespace() != o.GetNamespace() || !labels.SelectorFromSet(sel).Matches(labels.Set(svc.GetLabels())) {
				continue
			}
			found = true
			podSel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
			ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
			for _, ep := range eps {
				name, _ := ep.(map[string]any)["port"].(string)
				target := ""
				for _, sp := range ports {
					sp := sp.(map[string]any)
					if sp["name"] == name {
						target = fmt.Sprint(sp["targetPort"])
					}
				}
				if target == "" {
					t.Errorf("ServiceMonitor %s/%s: Service %s has no port named %q", o.GetNamespace(), o.GetName(), svc.GetName(), name)
					continue
				}
				if prometheusOperatorPods[podSel["app.kubernetes.io/name"]] {
					continue // the pods are prometheus-operator's, not in the render
				}
				ok := false
				for _, p := range pods {
					if p.namespace == svc.GetNamespace() && labels.SelectorFromSet(podSel).Matches(labels.Set(p.labels)) && p.ports[target] {
						ok = true
					}
				}
				if !ok {
					t.Errorf("ServiceMonitor %s/%s: Service %s's port %s targets %q, which no selected pod template names", o.GetNamespace(), o.GetName(), svc.GetName(), name, target)
				}
			}
		}
		if !found {
			t.Errorf("ServiceMonitor %s/%s selects no Service in %s (selector %v)", o.GetNamespace(), o.GetName(), r.dir, sel)
		}
	}
}

// prometheusOperatorPods: Services whose pods prometheus-operator creates from the Prometheus and
// Alertmanager resources (their ports web are the operator's).
var prometheusOperatorPods = map[string]bool{"prometheus": true, "alertmanager": true}

var dockerOutput = regexp.MustCompile(`-o /out/([A-Za-z0-9_.-]+)`)

// dockerfileBinaries returns the paths of the binaries the release image holds (/NAME).
func dockerfileBinaries(t testing.TB) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range dockerOutput.FindAllStringSubmatch(string(data), -1) {
		out["/"+m[1]] = true
	}
	return out
}

// TestDockerfile checks the image against the contract: one multi-stage build, a
// distroless non-root release stage last, every deployable built from a main package, the suite
// compiled with `go test -c`, and a dev stage with the Go toolchain.
func TestDockerfile(t *testing.T) {
	repo := root(t)
	data, err := os.ReadFile(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	var stages []string
	var last string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			last = f[1]
			if len(f) == 4 && strings.EqualFold(f[2], "AS") {
				stages = append(stages, f[3])
			}
		}
	}
	if last != "gcr.io/distroless/static:nonroot" {
		t.Errorf("the last stage (the default build) is FROM %s, want gcr.io/distroless/static:nonroot", last)
	}
	if !slices.Contains(stages, "dev") || !slices.Contains(stages, "release") {
		t.Errorf("stages %v: want a dev and a release stage (skaffold.yaml builds both targets)", stages)
	}
	releaseStage := text[strings.LastIndex(text, "\nFROM "):]
	if !strings.Contains(releaseStage, "USER 65532:65532") {
		t.Errorf("the release stage must run as the distroless nonroot user (USER 65532:65532)")
	}
	want := map[string]string{"/wattson-operator": "./operator", "/wattson-runtime": "./runtime", "/wattson-snmpsim": "./mocks"}
	for bin, pkg := range want {
		if !strings.Contains(text, "-o /out"+bin+" "+pkg) {
			t.Errorf("Dockerfile does not build %s from %s", bin, pkg)
		}
	}
	if !strings.Contains(text, `go test -c -trimpath -ldflags "$LDFLAGS" -o /out/specs.test ./specs`) {
		t.Errorf("Dockerfile does not compile the suite to /specs.test")
	}
	// The simulator's manifests read its data from /data/snmpsim.
	if !strings.Contains(text, "COPY mocks/data/ /data/snmpsim/") {
		t.Errorf("Dockerfile does not copy mocks/data to /data/snmpsim")
	}

	// Every package the image builds exists and is a command.
	pkgs := []string{"./operator", "./runtime", "./mocks"}
	var present []string
	for _, p := range pkgs {
		if _, err := os.Stat(filepath.Join(repo, p, "main.go")); err == nil {
			present = append(present, p)
		} else {
			t.Logf("%s has no main.go yet: not checked", p)
		}
	}
	if len(present) > 0 {
		out, err := command(context.Background(), repo, nil, nil, "go", append([]string{"list", "-f", "{{.ImportPath}} {{.Name}}"}, present...)...)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if !strings.HasSuffix(line, " main") {
				t.Errorf("go list: %s is not a main package", line)
			}
		}
	}
	if len(present) < len(pkgs) || !hasTests(filepath.Join(repo, "specs")) {
		testenv.Unavailable(t, errors.New("operator/, runtime/ and mocks/ main packages and the specs/ suite must all exist for the image to build"))
	}
}

func hasTests(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	return len(m) > 0
}

// TestSkaffold runs `skaffold diagnose` and `skaffold render --offline=true --digest-source=none`
// for the default pipeline and the kind, k3d and dev profiles, with kustomize from bin/ on PATH.
//
// `skaffold diagnose` without --yaml-only also sizes each artifact's Docker context, which makes it
// fetch the base images' configuration from their registry (for ONBUILD triggers): impossible
// offline. That one failure is tolerated and logged; any other diagnose error fails the test.
func TestSkaffold(t *testing.T) {
	repo := root(t)
	skaffold := testenv.Binary(t, "skaffold")
	kustomize := testenv.Binary(t, "kustomize")
	requireOperatorConfig(t, repo, ".")
	env := []string{
		"PATH=" + filepath.Dir(kustomize) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"SKAFFOLD_UPDATE_CHECK=false",
		"SKAFFOLD_COLLECT_METRICS=false",
		"HOME=" + t.TempDir(),                              // skaffold writes its global config there
		"KUBECONFIG=" + filepath.Join(t.TempDir(), "none"), // no kube-context: no profile activates by itself
	}
	ctx := context.Background()
	for _, tc := range []struct {
		profile string
		want    []string // in the effective configuration
	}{
		// skaffold shows manifest paths absolute.
		{"", []string{"apiVersion: skaffold/v4beta14", "target: release", "- " + repo + "\n", "jobManifestPath: monitoring/verify/job.yaml", "--specs.label-filter=!simulator", "--until-green=3"}},
		{"kind", []string{"push: false", "- " + filepath.Join(repo, "monitoring/overlays/local") + "\n"}},
		{"k3d", []string{"push: false", "- " + filepath.Join(repo, "monitoring/overlays/local") + "\n"}},
		{"dev", []string{"image: ghcr.io/wattson-dev/wattson-dev", "target: dev", "src: specs/**/*.go", "dest: /src", "- " + filepath.Join(repo, "monitoring/overlays/dev") + "\n"}},
		{"cluster", []string{"push: false", `buildCommand: hack/cluster/images.sh --tag "$IMAGE" wattson`, "- hack/cluster/prepare.sh",
			"image: ghcr.io/wattson-dev/wattson", "- " + filepath.Join(repo, "hack/cluster/kit") + "\n"}},
		// What `skaffold dev` activates on the test cluster: no Dockerfile target, the suite
		// compiled on the host and synced by the before-sync hook.
		{"cluster,dev,cluster-dev", []string{`buildCommand: hack/cluster/images.sh --tag "$IMAGE" wattson`,
			`buildCommand: hack/cluster/images.sh --tag "$IMAGE" wattson-dev`, "dest: /suite/src", "- hack/cluster/devsync.sh",
			"- " + filepath.Join(repo, "hack/cluster/kit-dev") + "\n"}},
	} {
		args := []string{"diagnose", "--yaml-only"}
		if tc.profile != "" {
			args = append(args, "--profile="+tc.profile)
		}
		out, err := command(ctx, repo, env, nil, skaffold, args...)
		if err != nil {
			t.Fatalf("skaffold %s: %v", strings.Join(args, " "), err)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("skaffold %s: the effective configuration lacks %q:\n%s", strings.Join(args, " "), w, out)
			}
		}
	}
	if out, err := command(ctx, repo, env, nil, skaffold, "diagnose"); err != nil {
		if !strings.Contains(err.Error(), "parsing ONBUILD instructions: retrieving image") {
			t.Fatalf("skaffold diagnose: %v", err)
		}
		t.Logf("skaffold diagnose stops where it needs a registry: %s", onbuildErr.FindString(err.Error()))
	} else {
		t.Logf("skaffold diagnose:\n%s", out)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		runtime string // the runtime's image after render
	}{
		{"default", nil, kitImage},
		{"kind", []string{"--profile=kind"}, kitImage},
		{"k3d", []string{"--profile=k3d"}, kitImage},
		{"dev", []string{"--profile=dev"}, kitImage + "-dev"},
		{"cluster", []string{"--profile=cluster"}, kitImage},
		{"cluster-dev", []string{"--profile=cluster,dev,cluster-dev"}, kitImage + "-dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rendered := filepath.Join(t.TempDir(), "rendered.yaml")
			args := append([]string{"render", "--offline=true", "--digest-source=none", "--output=" + rendered}, tc.args...)
			if _, err := command(ctx, repo, env, nil, skaffold, args...); err != nil {
				t.Fatalf("skaffold %s: %v", strings.Join(args, " "), err)
			}
			objs := decode(t, mustRead(t, rendered))
			// The runtime is the energy Suite's (the operator renders its Deployment from
			// spec.image, which skaffold must set to what it built: resourceSelector), or the dev
			// overlay's Deployment.
			var image, operatorImage string
			for _, o := range objs {
				switch {
				case o.GetKind() == "Suite" && o.GetName() == "energy":
					image, _, _ = unstructured.NestedString(o.Object, "spec", "image")
				case o.GetKind() == "Deployment" && o.GetName() == "wattson-runtime":
					cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
					image, _ = cs[0].(map[string]any)["image"].(string)
				case o.GetKind() == "Deployment" && o.GetName() == "wattson-operator":
					cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
					operatorImage, _ = cs[0].(map[string]any)["image"].(string)
				}
			}
			if name, _, _ := strings.Cut(image, ":"); name != tc.runtime {
				t.Errorf("rendered runtime image %q, want %s", image, tc.runtime)
			}
			// skaffold rewrites the image it builds to the tag it built, in the Suite as in the
			// operator's Deployment: both run the same build.
			if tc.runtime == kitImage && image != operatorImage {
				t.Errorf("rendered energy Suite image %q, operator image %q: skaffold did not set the Suite's (skaffold.yaml resourceSelector)", image, operatorImage)
			}
			t.Logf("skaffold %s: %d objects", strings.Join(args, " "), len(objs))
		})
	}
}

var onbuildErr = regexp.MustCompile(`parsing ONBUILD instructions: retrieving image "[^"]+"`)
