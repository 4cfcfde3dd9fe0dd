package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/wattson-dev/wattson/internal/logging"
	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
)

// TestJSONLogsFromEveryLibrary runs the real wattson-operator (bin/, as make build writes it)
// with --log.format=json and leader election against envtest's apiserver: every line it writes
// must be one JSON object with time, level and msg, including those of controller-runtime (its
// manager and controllers, through logr) and of client-go (leader election, through klog, which
// would otherwise print its own "I1202 06:00:00.000000 ..." lines) and of net/http's servers
// (through the standard library's log).
func TestJSONLogsFromEveryLibrary(t *testing.T) {
	bin := testenv.Binary(t, "wattson-operator")
	_, env := testenv.Kube(t, testenv.KubeOptions{CRDDirs: []string{filepath.Join("config", "crd", "bases")}})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	metrics, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	p, err := procs.Start(procs.Spec{Name: "wattson-operator", Path: bin,
		Args: []string{"manager", "--kubeconfig=" + kubeconfig, "--namespace=default", "--scrape-mode=plain", "--leader-elect",
			"--metrics-bind-address=" + metrics, "--health-probe-bind-address=0", "--log.format=json"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Stop(10 * time.Second) }()
	if err := p.WaitTCP(context.Background(), metrics); err != nil {
		t.Fatal(err)
	}
	// Plain HTTP to the HTTPS metrics port: net/http's server logs the handshake error through the
	// standard library's log.
	if resp, err := http.Get("http://" + metrics + "/metrics"); err == nil {
		resp.Body.Close()
	}

	// client-go's leader election logs through klog (klog.FromContext); controller-runtime logs
	// the others through logr.
	want := map[string]func(map[string]any) bool{
		"klog: leader election": func(m map[string]any) bool {
			return m["msg"] == "Successfully acquired lease" && m["logger"] == "leaderelection" && m["lock"] == "default/wattson-operator.wattson.dev"
		},
		"controller-runtime: a controller's workers": func(m map[string]any) bool {
			return m["msg"] == "Starting workers" && m["controller"] != nil
		},
		"wattson: setup": func(m map[string]any) bool { return m["msg"] == "operator configured" },
		"net/http: the metrics server": func(m map[string]any) bool {
			return strings.Contains(m["msg"].(string), "TLS handshake error") && strings.Contains(m["msg"].(string), "client sent an HTTP request to an HTTPS server")
		},
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

// TestSetLoggers: klog's global functions (what older client-go code calls), its V levels, the
// standard library's log and controller-runtime's logger all write through the one logger.
func TestSetLoggers(t *testing.T) {
	var out bytes.Buffer
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c := logging.AddFlags(fs)
	if err := fs.Parse([]string{"--log.format=json", "--log.level=debug"}); err != nil {
		t.Fatal(err)
	}
	setLoggers(c, &out)
	klog.Infof("klog infof %d", 1)
	klog.InfoS("klog structured", "pdu", "rack-1")
	klog.V(4).Info("klog v4")
	klog.V(5).Info("klog v5") // beyond debug: dropped
	klog.ErrorS(errors.New("boom"), "klog error")
	klog.Flush()
	log.Printf("std log")
	ctrl.Log.WithName("controller-runtime").Info("logr info", "key", "value")
	got := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		got[m["msg"].(string)] = m
	}
	for msg, level := range map[string]string{"klog infof 1": "INFO", "klog structured": "INFO", "klog v4": "DEBUG", "klog error": "ERROR", "std log": "INFO", "logr info": "INFO"} {
		m, ok := got[msg]
		if !ok {
			t.Errorf("no line %q in:\n%s", msg, out.String())
			continue
		}
		if m["level"] != level {
			t.Errorf("%q: level %v, want %s", msg, m["level"], level)
		}
	}
	if _, ok := got["klog v5"]; ok {
		t.Errorf("klog V(5) logged at --log.level=debug")
	}
	if got["klog structured"]["pdu"] != "rack-1" || got["logr info"]["key"] != "value" || got["logr info"]["logger"] != "controller-runtime" {
		t.Errorf("key-value pairs lost: %v / %v", got["klog structured"], got["logr info"])
	}
}
