package monitoring_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/wattson-dev/wattson/internal/testenv"
)

// releaseVersion is the Wattson release the shipped manifests name: the tag of the kit's image in
// the root kustomization.yaml.
func releaseVersion(t testing.TB) string {
	t.Helper()
	var k struct {
		Images []struct {
			Name, NewName, NewTag string
		} `json:"images"`
	}
	if err := yaml.Unmarshal(mustRead(t, filepath.Join(root(t), "kustomization.yaml")), &k); err != nil {
		t.Fatal(err)
	}
	for _, img := range k.Images {
		if img.Name == kitImage {
			if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(img.NewTag) {
				t.Fatalf("root kustomization.yaml: %s newTag %q is not a release version vX.Y.Z", kitImage, img.NewTag)
			}
			return img.NewTag
		}
	}
	t.Fatalf("root kustomization.yaml pins no tag for %s", kitImage)
	return ""
}

// TestShippedManifestsNameARelease checks the files users copy: no kustomization pins the kit's
// image to latest or to another release, and no document points a remote base at a branch.
func TestShippedManifestsNameARelease(t *testing.T) {
	repo := root(t)
	want := releaseVersion(t)
	out, err := exec.Command("git", "-C", repo, "ls-files", "*.yaml", "*.yml", "*.md", "*.json").Output()
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`github\.com/wattson-dev/wattson[^\s?]*\?ref=(\S+)`)
	tags := regexp.MustCompile(`(?m)^\s*newTag:\s*(\S+)`)
	for _, f := range strings.Fields(string(out)) {
		b, err := os.ReadFile(filepath.Join(repo, f))
		if err != nil {
			continue // deleted in the working tree
		}
		for _, m := range refs.FindAllStringSubmatch(string(b), -1) {
			if m[1] != want {
				t.Errorf("%s: %s points at ref %q, want the release %s", f, m[0], m[1], want)
			}
		}
		if filepath.Base(f) == "kustomization.yaml" {
			for _, m := range tags.FindAllStringSubmatch(string(b), -1) {
				// Local clusters tag their own builds (dev); everything else names the release.
				if m[1] == "latest" || (m[1] != "dev" && strings.HasPrefix(m[1], "v") && m[1] != want && strings.Contains(string(b), kitImage)) {
					t.Errorf("%s: newTag %s, want the release %s", f, m[1], want)
				}
			}
		}
	}
}

// TestBuildInstaller: `make build-installer` writes the root kustomization's objects, exactly (the
// root render passes the server-side dry-run in TestManifests), and they name the release.
func TestBuildInstaller(t *testing.T) {
	repo := root(t)
	testenv.Binary(t, "kustomize")
	dist := t.TempDir()
	mk := exec.Command("make", "-s", "build-installer", "DIST="+dist)
	mk.Dir = repo
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make build-installer: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dist, "install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := kustomizeBuild(t, repo, ".")
	if !bytes.Equal(got, want) {
		t.Fatalf("dist/install.yaml (%d bytes) differs from `kustomize build .` (%d bytes)", len(got), len(want))
	}
	objs := decode(t, got)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
	}
	for _, k := range []string{"CustomResourceDefinition", "Deployment", "Prometheus", "Alertmanager", "PrometheusRule"} {
		if kinds[k] == 0 {
			t.Errorf("install.yaml has no %s (kinds: %v)", k, kinds)
		}
	}
	if n := strings.Count(string(got), kitImage+":"+releaseVersion(t)); n == 0 || strings.Contains(string(got), kitImage+":latest") {
		t.Errorf("install.yaml names %s:%s %d times (and latest: %v)", kitImage, releaseVersion(t), n, strings.Contains(string(got), kitImage+":latest"))
	}
}
