package manager_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/internal/manager"
)

const ns = "wattson-system"

// applyFiles creates every object of the YAML files (the shipped manifests).
func applyFiles(t *testing.T, c client.Client, paths ...string) {
	t.Helper()
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			if err := c.Create(context.Background(), &u); err != nil {
				t.Fatalf("%s: create %s %s: %v", p, u.GetKind(), u.GetName(), err)
			}
		}
	}
}

// token returns a token of ServiceAccount name in ns, created first, bound to ClusterRole role
// when given.
func token(t *testing.T, c client.Client, name, role string) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := c.Create(ctx, sa); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	if role != "" {
		if err := c.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name + "-" + role},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: name}}}); err != nil {
			t.Fatal(err)
		}
	}
	tr := &authnv1.TokenRequest{}
	if err := c.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// TestMetricsNeedAToken runs the manager on envtest's real apiserver as the operator runs in a
// cluster: as its ServiceAccount with only the shipped RBAC (operator/config/rbac), metrics on
// HTTPS. A scrape without a token is refused (401), a ServiceAccount without the shipped
// wattson-metrics-reader ClusterRole is forbidden (403), one with it reads the metrics (200):
// the operator's own TokenReview and SubjectAccessReview, which its RBAC must allow.
func TestMetricsNeedAToken(t *testing.T) {
	rbac := filepath.Join("..", "..", "config", "rbac")
	cfg, _ := testenv.Kube(t, testenv.KubeOptions{CRDDirs: []string{filepath.Join("..", "..", "config", "crd", "bases")}})
	admin, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	applyFiles(t, admin, filepath.Join(rbac, "service_account.yaml"), filepath.Join(rbac, "role.yaml"),
		filepath.Join(rbac, "role_binding.yaml"), filepath.Join(rbac, "metrics_reader_role.yaml"))
	operator := &rest.Config{Host: cfg.Host, TLSClientConfig: rest.TLSClientConfig{CAData: cfg.CAData},
		BearerToken: token(t, admin, "wattson-operator", "")}
	nobody := token(t, admin, "nobody", "")
	reader := token(t, admin, "prometheus", "wattson-metrics-reader")

	addr, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	o := manager.Options{
		Namespace: ns, MetricsAddr: addr, MetricsSecure: true, ProbeAddr: "0", ScrapeMode: manager.ScrapeModePlain,
		ExporterImage: "snmp-exporter:test", ExporterReplicas: 1, QPS: 100, Burst: 200, MaxConcurrentReconcile: 1,
		PollInterval: time.Second, SuitePollInterval: time.Second, SkipControllerNameValidation: true,
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	mgr, err := manager.New(operator, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })

	// The certificate is self-signed, made at start: Prometheus skips verification too
	// (monitoring/monitors/operator.yaml says why).
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	scrape := func(tok string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _ := scrape(""); code != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never served on https://%s", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := func() (int, string) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/metrics")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}(); code != http.StatusBadRequest {
		t.Errorf("plain HTTP: %d %q, want 400 (the port speaks HTTPS only)", code, body)
	}
	for _, tc := range []struct {
		name, token string
		code        int
	}{
		{"no token", "", http.StatusUnauthorized},
		// controller-runtime answers 500 "Authentication failed" when the apiserver rejects a
		// token (TokenReview reports an error with authenticated: false), 401 only without one.
		{"a token the apiserver rejects", "not-a-token", http.StatusInternalServerError},
		{"a ServiceAccount without wattson-metrics-reader", nobody, http.StatusForbidden},
		{"a ServiceAccount with wattson-metrics-reader", reader, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := scrape(tc.token)
			if code != tc.code {
				t.Fatalf("GET /metrics = %d %.300q, want %d", code, body, tc.code)
			}
			if tc.code == http.StatusOK && !strings.Contains(body, "controller_runtime_") {
				t.Errorf("200 without controller-runtime's metrics:\n%.500s", body)
			}
		})
	}
}
