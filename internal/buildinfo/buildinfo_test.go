package buildinfo_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/version"

	"github.com/wattson-dev/wattson/internal/buildinfo"
	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
)

func TestCollectorIsOneGaugeThatLints(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if err := buildinfo.Register(reg); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "wattson_build_info"); n != 1 {
		t.Fatalf("wattson_build_info series = %d, want 1", n)
	}
	problems, err := testutil.CollectAndLint(buildinfo.NewCollector())
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}
	// Registering twice is an error that names the metric, not a panic.
	if err := buildinfo.Register(reg); err == nil || !strings.Contains(err.Error(), "wattson_build_info") {
		t.Fatalf("second Register: %v, want an error naming wattson_build_info", err)
	}
	if buildinfo.Version() != buildinfo.Devel {
		t.Errorf("a go test binary has no -ldflags: Version() = %q, want %q", buildinfo.Version(), buildinfo.Devel)
	}
}

// TestLdflagsWithoutGit is the Dockerfile's case: its build context has no .git, so every value
// comes from the build args.
func TestLdflagsWithoutGit(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "hack"), 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(root, "hack", "ldflags.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hack", "ldflags.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", filepath.Join(dir, "hack", "ldflags.sh"))
	cmd.Env = append(os.Environ(), "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir), "VERSION=v1.2.3", "REVISION=abc123",
		"BRANCH=release-1.2", "BUILD_DATE=20260101-00:00:00", "BUILD_USER=docker")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ldflags.sh: %v\n%s", err, out)
	}
	p := "github.com/prometheus/common/version"
	want := fmt.Sprintf("-X %[1]s.Version=v1.2.3 -X %[1]s.Revision=abc123 -X %[1]s.Branch=release-1.2 -X %[1]s.BuildUser=docker -X %[1]s.BuildDate=20260101-00:00:00", p)
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("ldflags.sh =\n%s\nwant\n%s", got, want)
	}
}

// TestDockerfileStampsEveryBinary checks what no build here can run (no base images): every
// binary of the build stage gets hack/ldflags.sh's flags, from the build args, and the release
// image carries the OCI labels of the same version and revision.
func TestDockerfileStampsEveryBinary(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]string{}
	var name string
	for _, line := range strings.Split(string(b), "\n") {
		if m := regexp.MustCompile(`^FROM .* AS (\S+)`).FindStringSubmatch(line); m != nil {
			name = m[1]
		}
		stages[name] += line + "\n"
	}
	build := strings.ReplaceAll(stages["build"], "\\\n", " ")
	if !strings.Contains(build, "ARG VERSION REVISION BRANCH BUILD_DATE") || !strings.Contains(build, "LDFLAGS=$(hack/ldflags.sh)") {
		t.Errorf("build stage does not take the version build args into hack/ldflags.sh:\n%s", stages["build"])
	}
	for _, out := range []string{"wattson-operator", "wattson-runtime", "wattson-snmpsim", "specs.test"} {
		if !regexp.MustCompile(`go (build|test -c) -trimpath -ldflags "\$LDFLAGS" -o /out/` + regexp.QuoteMeta(out) + ` `).MatchString(build) {
			t.Errorf("build stage builds /out/%s without -ldflags \"$LDFLAGS\"", out)
		}
	}
	release := stages["release"]
	for _, l := range []string{`org.opencontainers.image.version="${VERSION}"`, `org.opencontainers.image.revision="${REVISION}"`,
		`org.opencontainers.image.created="${CREATED}"`, `org.opencontainers.image.source="https://github.com/wattson-dev/wattson"`} {
		if !strings.Contains(release, l) {
			t.Errorf("release stage lacks the label %s", l)
		}
	}
	if !strings.Contains(release, "ARG VERSION REVISION CREATED") {
		t.Error("release stage does not declare the ARGs its labels use")
	}
}

// TestBinariesReportTheirBuild builds every binary as `make build` does, with a version, and
// checks --version and the wattson_build_info each serves on /metrics.
func TestBinariesReportTheirBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	root := repoRoot(t)
	bin := t.TempDir()
	const v = "v9.8.7-test"
	mk := exec.Command("make", "-s", "build", "BIN="+bin, "VERSION="+v)
	mk.Dir = root
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	rev, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	revision := strings.TrimSpace(string(rev))

	for _, b := range []string{"wattson-operator", "wattson-runtime", "wattson-snmpsim"} {
		out, err := exec.Command(filepath.Join(bin, b), "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s --version: %v\n%s", b, err, out)
		}
		want := fmt.Sprintf("%s, version %s (branch: ", b, v)
		if !strings.HasPrefix(string(out), want) || !strings.Contains(string(out), "revision: "+revision+")") {
			t.Errorf("%s --version =\n%s\nwant %q... with revision %s", b, out, want, revision)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type server struct {
		name string
		args []string
		env  func(t *testing.T) []string
	}
	addr := map[string]string{"wattson-snmpsim": freeAddr(t), "wattson-runtime": freeAddr(t), "wattson-operator": freeAddr(t)}
	for _, s := range []server{
		{name: "wattson-snmpsim", args: []string{"--data-dir=" + filepath.Join(root, "mocks", "data"), "--web.listen-address=" + addr["wattson-snmpsim"], "--agent-udpv4-endpoint=" + freeUDP(t)}},
		{name: "wattson-runtime", args: []string{"--specs.binary=" + filepath.Join(bin, "specs.test"), "--specs.interval=1h", "--web.listen-address=" + addr["wattson-runtime"]}},
		{name: "wattson-operator", args: []string{"--namespace=default", "--scrape-mode=plain", "--metrics-bind-address=" + addr["wattson-operator"], "--health-probe-bind-address=" + freeAddr(t),
			// Plain HTTP: the build info is the point here; the authenticated HTTPS endpoint is
			// operator/internal/manager's TestMetricsNeedAToken.
			"--metrics-secure=false"},
			// Its metrics are served once the manager runs, which needs an apiserver.
			env: func(t *testing.T) []string {
				_, env := testenv.Kube(t, testenv.KubeOptions{CRDDirs: []string{filepath.Join(root, "operator", "config", "crd", "bases")}})
				kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
				if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
					t.Fatal(err)
				}
				return []string{"KUBECONFIG=" + kubeconfig}
			}},
	} {
		t.Run(s.name, func(t *testing.T) {
			var env []string
			if s.env != nil {
				env = s.env(t)
			}
			p, err := procs.Start(procs.Spec{Name: s.name, Path: filepath.Join(bin, s.name), Args: s.args, Env: env})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = p.Stop(5 * time.Second) }()
			url := "http://" + addr[s.name] + "/metrics"
			if err := p.WaitHTTP(ctx, url); err != nil {
				t.Fatalf("%v\n%s", err, p.Tail(20))
			}
			labels := buildInfo(t, url)
			for k, want := range map[string]string{"version": v, "revision": revision, "goversion": version.GoVersion} {
				if labels[k] != want {
					t.Errorf("wattson_build_info{%s=%q}, want %q (all labels: %v)", k, labels[k], want, labels)
				}
			}
		})
	}
}

// buildInfo scrapes url and returns the labels of its one wattson_build_info series, whose value
// must be 1.
func buildInfo(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	f, ok := families["wattson_build_info"]
	if !ok || len(f.GetMetric()) != 1 {
		t.Fatalf("%s serves no single wattson_build_info series:\n%s", url, body)
	}
	m := f.GetMetric()[0]
	if m.GetGauge().GetValue() != 1 {
		t.Errorf("wattson_build_info = %v, want 1", m.GetGauge().GetValue())
	}
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	return labels
}

func repoRoot(t *testing.T) string {
	t.Helper()
	r, err := procs.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func freeUDP(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}
