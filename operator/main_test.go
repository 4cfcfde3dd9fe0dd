package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
)

// TestJSONLogsFromEveryLibrary runs the real wattson-operator (bin/, as make build writes it)
// with --log.format=json and leader election against envtest's apiserver: every line it writes
// must be one JSON object with time, level and msg, including those of controller-runtime (its
// manager and controllers, through logr) and of client-go (leader election, through klog, which
// would otherwise print its own "I1202 06:00:00.000000 ..." lines).
func TestJSONLogsFromEveryLibrary(t *testing.T) {
	bin := testenv.Binary(t, "wattson-operator")
	_, env := testenv.Kube(t, testenv.KubeOptions{CRDDirs: []string{filepath.Join("config", "crd", "bases")}})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := procs.Start(procs.Spec{Name: "wattson-operator", Path: bin, Env: []string{"KUBECONFIG=" + kubeconfig},
		Args: []string{"manager", "--namespace=default", "--scrape-mode=plain", "--leader-elect",
			"--metrics-bind-address=0", "--health-probe-bind-address=0", "--log.format=json"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Stop(10 * time.Second) }()

	// client-go's leaderelection.go logs these through klog; controller-runtime logs the others.
	want := map[string]func(map[string]any) bool{
		"klog: leader election": func(m map[string]any) bool {
			return strings.HasPrefix(m["msg"].(string), "successfully acquired lease default/wattson-operator.wattson.dev")
		},
		"controller-runtime: a controller's workers": func(m map[string]any) bool {
			return m["msg"] == "Starting workers" && m["controller"] != nil
		},
		"wattson: setup": func(m map[string]any) bool { return m["msg"] == "operator configured" },
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for {
		lines := strings.Split(strings.TrimSpace(p.Output()), "\n")
		seen := map[string]bool{}
		for _, line := range lines {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("not a JSON line: %q\nall output:\n%s", line, p.Output())
			}
			if _, ok := m["msg"].(string); !ok || m["level"] == nil || m["time"] == nil {
				t.Fatalf("line without time, level or msg: %q", line)
			}
			for name, match := range want {
				if match(m) {
					seen[name] = true
				}
			}
		}
		if len(seen) == len(want) {
			return
		}
		select {
		case <-p.Done():
			t.Fatalf("operator exited; output:\n%s", p.Output())
		case <-ctx.Done():
			var missing []string
			for name := range want {
				if !seen[name] {
					missing = append(missing, name)
				}
			}
			t.Fatalf("no line of %v within 90s; output:\n%s", missing, p.Output())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestLogFlagErrors: a bad --log.level or --log.format stops every subcommand that logs with exit
// 2 and an error naming the flag and the values it takes, before anything runs.
func TestLogFlagErrors(t *testing.T) {
	bin := testenv.Binary(t, "wattson-operator")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--log.level=loud"}, `invalid value "loud" for flag -log.level: unrecognized log level loud (one of: debug, info, warn, error)`},
		{[]string{"manager", "--log.format=xml"}, `invalid value "xml" for flag -log.format: unrecognized log format xml (one of: logfmt, json)`},
		{[]string{"generate", "--log.format=xml"}, `invalid value "xml" for flag -log.format: unrecognized log format xml (one of: logfmt, json)`},
		{[]string{"parse-errors", "--log.level=verbose"}, `invalid value "verbose" for flag -log.level: unrecognized log level verbose (one of: debug, info, warn, error)`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := exec.Command(bin, tc.args...).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Errorf("exit: %v, want 2", err)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}
