// Command helmchart writes the Helm chart charts/wattson from the kustomize sources, so that the
// two installs never drift: it builds the root kustomization.yaml (what `kubectl apply -k .`
// installs) and each component's kustomization with bin/kustomize, sorts every object of the
// root build into a chart component by the build it comes from, replaces the fields behind the
// chart's knobs with template expressions whose defaults are the kustomize values, and writes
// the templates, crds/, values.yaml and Chart.yaml. The chart's default render is then the
// kustomize install plus Helm's labels, which hack/helmchart's tests prove against a real
// apiserver.
//
// The generated files are committed; `make helm-chart` rewrites them and `make verify` fails when
// they are stale. A knob that no longer finds its field (a manifest moved or was renamed) or an
// object that belongs to no component fails the generation with the name of what to update in
// knobs.go, rather than silently dropping a knob.
//
// Usage: go run ./hack/helmchart [--kustomize bin/kustomize] [--out charts/wattson]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() { os.Exit(run()) }

func run() int {
	var (
		kustomize = flag.String("kustomize", "bin/kustomize", "kustomize binary")
		repo      = flag.String("repo", ".", "repository root (the folder of the root kustomization.yaml)")
		out       = flag.String("out", "charts/wattson", "chart folder; generated files are replaced, hand-written ones kept")
	)
	flag.Parse()
	if _, err := os.Stat(*kustomize); err != nil {
		fmt.Fprintf(os.Stderr, "helmchart: %v (run: make tools)\n", err)
		return 1
	}
	files, err := Generate(*repo, *kustomize)
	if err != nil {
		fmt.Fprintf(os.Stderr, "helmchart: %v\n", err)
		return 1
	}
	if err := write(filepath.Join(*repo, *out), files); err != nil {
		fmt.Fprintf(os.Stderr, "helmchart: %v\n", err)
		return 1
	}
	fmt.Printf("helmchart: wrote %d files into %s\n", len(files), *out)
	return 0
}
