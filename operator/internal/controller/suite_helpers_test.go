package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/render"
)

// runtimes maps Suites to the runtimes the tests started for them, for the operator's
// SuiteURL: envtest runs no pods and has no Service routing, so the test plays kubelet.
type runtimes struct {
	mu   sync.Mutex
	urls map[string]string
}

func newRuntimes() *runtimes { return &runtimes{urls: map[string]string{}} }

// URL is the operator's manager.Options.SuiteURL; a Suite without a runtime gets a closed port.
func (r *runtimes) URL(s *v1alpha1.Suite) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u, ok := r.urls[s.Namespace+"/"+s.Name]; ok {
		return u
	}
	return "http://127.0.0.1:1"
}

// compileSuite builds a Ginkgo suite package (relative to the repository root) with go test -c.
func compileSuite(t *testing.T, pkg string) string {
	t.Helper()
	root, err := procs.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(pkg)+".test")
	cmd := exec.Command("go", "test", "-c", "-o", out, "./"+pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test -c ./%s: %v\n%s", pkg, err, b)
	}
	return out
}

// runtimeHasAuth reports whether bin/wattson-runtime authenticates its API (--web.auth) and
// records ?trigger= (the same change of the runtime brought both).
func runtimeHasAuth(t *testing.T, bin string) bool {
	t.Helper()
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	return strings.Contains(string(out), "--web.auth")
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// runDeployment plays kubelet for a Suite's Deployment, read back from the apiserver: it runs
// the container's command (bin/wattson-runtime for /wattson-runtime) with the container's own
// arguments and environment (Secret references resolved, $(VAR) expanded as the kubelet does),
// changing only what a pod has and a test host has not: the suite binary's path, a loopback
// listen address, and extra flags and variables. It registers the runtime for the Suite and
// returns its URL.
func runDeployment(t *testing.T, c client.Client, rt *runtimes, s *v1alpha1.Suite, suiteBinary string, extraEnv map[string]string, extraArgs ...string) string {
	t.Helper()
	ctx := context.Background()
	var dep appsv1.Deployment
	if err := c.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: render.SuiteObjectName(s)}, &dep); err != nil {
		t.Fatal(err)
	}
	ctr := dep.Spec.Template.Spec.Containers[0]
	if len(ctr.Command) != 1 || ctr.Command[0] != render.RuntimeCommand {
		t.Fatalf("container command %q, want [%s]", ctr.Command, render.RuntimeCommand)
	}
	env := map[string]string{}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			var sec corev1.Secret
			ref := e.ValueFrom.SecretKeyRef
			if err := c.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: ref.Name}, &sec); err != nil {
				t.Fatal(err)
			}
			env[e.Name] = string(sec.Data[ref.Key])
		default:
			t.Fatalf("env %s: only values and Secret keys are resolved here", e.Name)
		}
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	addr, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range ctr.Args {
		switch {
		case strings.HasPrefix(a, "--specs.binary="):
			a = "--specs.binary=" + suiteBinary
		case strings.HasPrefix(a, "--web.listen-address="):
			a = "--web.listen-address=" + addr
		}
		args = append(args, varRef.ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := env[varRef.FindStringSubmatch(m)[1]]; ok {
				return v
			}
			return m // the kubelet leaves unknown references as they are
		}))
	}
	args = append(args, extraArgs...)
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	p, err := procs.Start(procs.Spec{Name: "wattson-runtime " + s.Name, Path: testenv.Binary(t, "wattson-runtime"), Args: args, Env: envList, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("runtime %s output:\n%s", s.Name, p.Tail(40))
		}
		_ = p.Stop(10 * time.Second)
	})
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	url := "http://" + addr
	if err := p.WaitHTTP(wctx, url+"/-/healthy"); err != nil {
		t.Fatalf("runtime %s: %v", s.Name, err)
	}
	rt.mu.Lock()
	rt.urls[s.Namespace+"/"+s.Name] = url
	rt.mu.Unlock()
	return url
}

// apiRun is a run as the runtime's API gives it.
type apiRun struct {
	ID        string    `json:"id"`
	Result    string    `json:"result"`
	Trigger   string    `json:"trigger"`
	StartedAt time.Time `json:"started_at"`
}

// runtimeRuns lists the runtime's runs, newest first.
func runtimeRuns(url, token string) ([]apiRun, error) {
	req, _ := http.NewRequest(http.MethodGet, url+"/api/runs?limit=100", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/runs: %s", resp.Status)
	}
	var runs []apiRun
	return runs, json.NewDecoder(resp.Body).Decode(&runs)
}

// post asks the runtime for a run, as a user would.
func post(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/rerun", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
