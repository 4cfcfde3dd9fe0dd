package monitoring_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestClusterKitIsTheDefaultInstall: the test cluster's kustomization (hack/cluster/kit, what
// `make cluster-e2e` proves) deploys the root kustomization.yaml's resources and images, listed
// again because kustomize refuses a folder above the kustomization. Anything the root adds or
// drops must be in both.
func TestClusterKitIsTheDefaultInstall(t *testing.T) {
	type kustomization struct {
		Resources []string         `json:"resources"`
		Images    []map[string]any `json:"images"`
	}
	read := func(path string) kustomization {
		b, err := os.ReadFile(filepath.Join(root(t), path))
		if err != nil {
			t.Fatal(err)
		}
		var k kustomization
		if err := yaml.Unmarshal(b, &k); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return k
	}
	top, kit := read("kustomization.yaml"), read("hack/cluster/kit/kustomization.yaml")
	var fromRoot []string
	for _, r := range kit.Resources {
		if p, ok := strings.CutPrefix(r, "../../../"); ok && !strings.Contains(p, "overlays/local/simulator") && !strings.Contains(p, "config/samples") {
			fromRoot = append(fromRoot, p)
		}
	}
	if !reflect.DeepEqual(fromRoot, top.Resources) {
		t.Errorf("hack/cluster/kit deploys %v of the repository, the root kustomization.yaml %v", fromRoot, top.Resources)
	}
	if !reflect.DeepEqual(kit.Images, top.Images) {
		t.Errorf("hack/cluster/kit's images %v differ from the root kustomization.yaml's %v", kit.Images, top.Images)
	}
}
