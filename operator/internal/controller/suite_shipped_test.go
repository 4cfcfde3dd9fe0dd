package controller_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
)

// TestShippedSuites has the real apiserver accept, with strict field validation, the energy
// Suite as each shipped kustomization renders it: the default install (one replica, no store),
// the local overlay (the simulator's specs too) and the test cluster's kit (two replicas on
// its PostgreSQL, an alert tuning of its own), so a patch that breaks the schema or the CEL
// rules (replicas above 1 need a store) fails here rather than at `kubectl apply`.
func TestShippedSuites(t *testing.T) {
	kustomize := testenv.Binary(t, "kustomize")
	root, err := procs.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	_, c := startKube(t, false)
	ctx := context.Background()
	for _, tc := range []struct {
		dir      string
		replicas int64
		store    bool
	}{
		{".", 1, false},
		{"monitoring/overlays/local", 1, false},
		{"hack/cluster/kit", 2, true},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			cmd := exec.Command(kustomize, "build", tc.dir)
			cmd.Dir = root
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("kustomize build %s: %v", tc.dir, err)
			}
			var suites []*unstructured.Unstructured
			dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
			for {
				var m map[string]any
				if err := dec.Decode(&m); err != nil {
					if errors.Is(err, io.EOF) {
						break
					}
					t.Fatal(err)
				}
				if m["kind"] == "Suite" {
					suites = append(suites, &unstructured.Unstructured{Object: m})
				}
			}
			if len(suites) != 1 || suites[0].GetName() != "energy" || suites[0].GetNamespace() != opNamespace {
				t.Fatalf("%s renders %d Suites, want the energy Suite in %s", tc.dir, len(suites), opNamespace)
			}
			s := suites[0]
			if err := c.Create(ctx, s, client.DryRunAll, client.FieldValidation("Strict")); err != nil {
				t.Fatalf("the apiserver refuses the energy Suite of %s: %v", tc.dir, err)
			}
			replicas, found, _ := unstructured.NestedInt64(s.Object, "spec", "replicas")
			if !found {
				replicas = 1
			}
			_, store, _ := unstructured.NestedMap(s.Object, "spec", "store")
			if replicas != tc.replicas || store != tc.store {
				t.Errorf("%s: the energy Suite has %d replicas (store %v), want %d (store %v)", tc.dir, replicas, store, tc.replicas, tc.store)
			}
			if img, _, _ := unstructured.NestedString(s.Object, "spec", "image"); img != "ghcr.io/wattson-dev/wattson:v0.1.0" {
				t.Errorf("%s: the energy Suite runs %q, want the release image the kustomization sets", tc.dir, img)
			}
		})
	}
	// The dry-run can refuse: the kit's two replicas without the store.
	cmd := exec.Command(kustomize, "build", "hack/cluster/kit")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			break
		}
		if m["kind"] != "Suite" {
			continue
		}
		s := &unstructured.Unstructured{Object: m}
		unstructured.RemoveNestedField(s.Object, "spec", "store")
		if err := c.Create(ctx, s, client.DryRunAll); err == nil {
			t.Error("the apiserver accepted 2 replicas without a store")
		}
	}
}
