package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/wattson-dev/wattson/internal/procs"
)

// KubeOptions choose the CRDs installed before a test starts.
type KubeOptions struct {
	// CRDDirs hold CRD manifests to install (for example operator/config/crd/bases).
	CRDDirs []string
	// PrometheusOperatorCRDs installs prometheus-operator's CRDs (ServiceMonitor, ScrapeConfig, ...)
	// from bin/prometheus-operator-crds, built by `make tools`.
	PrometheusOperatorCRDs bool
}

// Kube starts a real etcd and kube-apiserver from bin/ through envtest and returns its config.
func Kube(t testing.TB, opts KubeOptions) (*rest.Config, *envtest.Environment) {
	t.Helper()
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		Binary(t, b)
	}
	bin, err := procs.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDDirectoryPaths:     opts.CRDDirs,
		ErrorIfCRDPathMissing: true,
	}
	if opts.PrometheusOperatorCRDs {
		dir := filepath.Join(bin, "prometheus-operator-crds")
		if _, err := os.Stat(dir); err != nil {
			Unavailable(t, err)
		}
		env.CRDDirectoryPaths = append(env.CRDDirectoryPaths, dir)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop kube-apiserver and etcd: %v", err)
		}
	})
	return cfg, env
}
