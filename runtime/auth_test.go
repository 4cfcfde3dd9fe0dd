package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/runtime/internal/suitetest"
)

// writeKubeconfig writes cfg (envtest's admin, with client certificates) as a kubeconfig file.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// serviceAccountToken creates ServiceAccount name in ns, binds it to the ClusterRole role (when
// set) and returns a token for it.
func serviceAccountToken(t *testing.T, cs kubernetes.Interface, ns, name, role string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if role != "" {
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: name}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authnv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// TestWebAuthKubernetes runs the runtime with --web.auth=kubernetes against envtest's real
// apiserver: the history API and POST /rerun need a token that TokenReview accepts and a
// SubjectAccessReview allows for the path and verb (the ClusterRoles the manifests ship), while
// /metrics and the health endpoints stay open for Prometheus and the kubelet.
func TestWebAuthKubernetes(t *testing.T) {
	cfg, _ := testenv.Kube(t, testenv.KubeOptions{})
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	const ns = "wattson-system"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The client roles of runtime/config (kept in step with rbac-clients.yaml).
	for _, cr := range []rbacv1.ClusterRole{
		{ObjectMeta: metav1.ObjectMeta{Name: "wattson-runtime-reader"},
			Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/wattson-runtime/api/*"}, Verbs: []string{"get"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "wattson-runtime-rerunner"},
			Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/wattson-runtime/rerun"}, Verbs: []string{"post"}}}},
	} {
		if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &cr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	nobody := serviceAccountToken(t, cs, ns, "nobody", "")
	reader := serviceAccountToken(t, cs, ns, "reader", "wattson-runtime-reader")
	rerunner := serviceAccountToken(t, cs, ns, "rerunner", "wattson-runtime-rerunner")

	base, logs := startRuntime(t, "--specs.binary="+suitetest.Binary(t, "passing"), "--specs.interval=1h",
		"--web.auth=kubernetes", "--kubeconfig="+writeKubeconfig(t, cfg))
	tests := []struct {
		method, path, token string
		code                int
	}{
		{"GET", "/api/runs", "", http.StatusUnauthorized},
		{"GET", "/api/runs", "not-a-token", http.StatusUnauthorized},
		{"GET", "/api/runs", nobody, http.StatusForbidden},
		{"GET", "/api/runs", reader, http.StatusOK},
		{"GET", "/api/status", reader, http.StatusOK},
		{"GET", "/api/verdict?runs=1", reader, http.StatusOK},
		{"GET", "/api/runs", rerunner, http.StatusForbidden},
		{"POST", "/rerun", "", http.StatusUnauthorized},
		{"POST", "/rerun", reader, http.StatusForbidden},
		{"POST", "/rerun?trigger=PDU+default/rack-1", rerunner, http.StatusAccepted},
		{"GET", "/metrics", "", http.StatusOK},
		{"GET", "/-/healthy", "", http.StatusOK},
		{"GET", "/-/ready", "", http.StatusOK},
		{"GET", "/", "", http.StatusOK},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, base+tt.path, nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		who := map[string]string{"": "anonymous", "not-a-token": "bad token", nobody: "nobody", reader: "reader", rerunner: "rerunner"}[tt.token]
		if resp.StatusCode != tt.code {
			t.Errorf("%s %s as %s: %d, want %d", tt.method, tt.path, who, resp.StatusCode, tt.code)
		}
	}
	// The rerun's trigger is in the history.
	waitFor(t, "the rerun in the history", 30*time.Second, func() bool {
		req, _ := http.NewRequest("GET", base+"/api/runs", nil)
		req.Header.Set("Authorization", "Bearer "+reader)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var runs []struct{ Trigger string }
		_ = jsonDecode(resp, &runs)
		return len(runs) >= 2 && runs[0].Trigger == "PDU default/rack-1"
	})
	if t.Failed() {
		t.Log(logs.String())
	}
}

// TestWebAuthFlags: no authentication is refused where the network could reach the API, and
// said loudly where it is allowed.
func TestWebAuthFlags(t *testing.T) {
	var out syncBuffer
	if code := run(context.Background(), []string{"--web.auth=none", "--web.listen-address=:9464"}, &out); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if want := "--web.auth=none with --web.listen-address \":9464\" would open the API"; !contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
	_, logs := startRuntime(t, "--specs.binary="+filepath.Join(t.TempDir(), "none.test"), "--specs.interval=1h")
	if !contains(logs.String(), "AUTHENTICATION DISABLED") {
		t.Errorf("loopback default without auth not announced:\n%s", logs.String())
	}
	// Replicas without PostgreSQL cannot share the work, and say so.
	_, logs = startRuntime(t, "--specs.binary="+filepath.Join(t.TempDir(), "none.test"), "--specs.interval=1h", "--fleet.replicas=3")
	if !contains(logs.String(), "NOT SHARING THE WORK") {
		t.Errorf("replicas without PostgreSQL not announced:\n%s", logs.String())
	}
	// Outside a pod, without a kubeconfig, kubernetes auth cannot start: a clear error.
	out = syncBuffer{}
	t.Setenv("KUBECONFIG", "")
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		if code := run(context.Background(), []string{"--web.auth=kubernetes", "--specs.binary=x",
			"--web.listen-address=127.0.0.1:0"}, &out); code != 2 || !contains(out.String(), "not in a pod") {
			t.Errorf("exit %d:\n%s", code, out.String())
		}
	}
}
