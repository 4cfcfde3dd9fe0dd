package render_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/render"
)

const exporterNamespace = "wattson-system"

// TestExporterObjects renders snmp_exporter's Deployment, Service and Secrets, compares them with
// their goldens, then has the
// real binaries check them: kube-apiserver accepts every object (server-side dry-run create), and
// snmp_exporter starts (--dry-run) with the Deployment's own arguments on the config Secret's
// snmp.yml and the env Secret's environment.
func TestExporterObjects(t *testing.T) {
	snmpYML, err := os.ReadFile("testdata/snmp.golden.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, env := sampleAuths(t)
	if len(env) == 0 {
		t.Fatal("the samples need no SNMPv3 environment: the env Secret is not exercised")
	}
	configSecret := render.ExporterSecret(exporterNamespace, v1alpha1.ExporterConfigName, map[string][]byte{v1alpha1.SNMPConfigKey: snmpYML})
	envSecret := render.ExporterSecret(exporterNamespace, v1alpha1.ExporterEnvName, render.ExporterEnv(env))
	stored := func(s *corev1.Secret, rv string) *corev1.Secret {
		s = s.DeepCopy()
		s.UID, s.ResourceVersion = types.UID("uid-"+s.Name), rv
		return s
	}
	hash := render.ExporterConfigHash(stored(configSecret, "10"), stored(envSecret, "11"))
	tests := []struct {
		name     string
		exporter render.Exporter
		golden   string
		// objects other than the Deployment in the golden (they do not depend on the options).
		others []client.Object
		// listen is the address the exporter must be told to listen on.
		listen string
	}{
		{
			name:     "cluster",
			exporter: render.Exporter{Namespace: exporterNamespace, Image: "quay.io/prometheus/snmp-exporter:v0.30.1", Replicas: 2, Addr: exporterAddr},
			golden:   "exporter.golden.yaml",
			others:   []client.Object{render.ExporterService(exporterNamespace), configSecret, envSecret},
			listen:   ":9116",
		},
	}
	var checks []client.Object
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dep := render.ExporterDeployment(tc.exporter, hash)
			objs := append([]client.Object{dep}, tc.others...)
			var docs [][]byte
			for _, o := range objs {
				b, err := yaml.Marshal(o)
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, b)
			}
			golden(t, tc.golden, bytes.Join(docs, []byte("---\n")))
			checks = append(checks, objs...)

			// The published image has no USER (root): runAsNonRoot alone makes kubelet refuse
			// the container, so a non-root user and group must be explicit.
			if sc := dep.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
				sc.RunAsUser == nil || *sc.RunAsUser == 0 || sc.RunAsGroup == nil || *sc.RunAsGroup == 0 {
				t.Errorf("pod securityContext %+v: want runAsNonRoot with an explicit non-root runAsUser and runAsGroup", sc)
			}
			if got := dep.Spec.Template.Annotations[v1alpha1.ConfigHashAnnotation]; got != hash {
				t.Errorf("pod template %s = %q, want %q", v1alpha1.ConfigHashAnnotation, got, hash)
			}
			args := dep.Spec.Template.Spec.Containers[0].Args
			if want := "--web.listen-address=" + tc.listen; !slices.Contains(args, want) {
				t.Errorf("args %v lack %s", args, want)
			}
			exporterDryRun(t, args, snmpYML, envSecret)
		})
	}

	// The hash follows each Secret's resourceVersion (the apiserver bumps it on every change of
	// content), and is no function of the content: it cannot be used to test guessed communities.
	for name, h := range map[string]string{
		"snmp.yml changed":     render.ExporterConfigHash(stored(configSecret, "12"), stored(envSecret, "11")),
		"a SNMPv3 key changed": render.ExporterConfigHash(stored(configSecret, "10"), stored(envSecret, "13")),
	} {
		if h == hash {
			t.Errorf("%s: the config hash stays %s, so the pods would not roll", name, h)
		}
	}
	guessed := stored(envSecret, "11")
	for k := range guessed.Data {
		guessed.Data[k] = []byte("public")
	}
	if render.ExporterConfigHash(stored(configSecret, "10"), guessed) != hash {
		t.Errorf("the config hash depends on the Secrets' content: an offline oracle for their values")
	}

	cfg, _ := testenv.Kube(t, testenv.KubeOptions{})
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: exporterNamespace}}); err != nil {
		t.Fatal(err)
	}
	for _, o := range checks {
		if err := c.Create(ctx, o.DeepCopyObject().(client.Object), client.DryRunAll); err != nil {
			t.Errorf("kube-apiserver refuses %T %s: %v", o, o.GetName(), err)
		}
	}
}

// exporterDryRun runs the real snmp_exporter --dry-run with the container's arguments, the config
// directory pointing at a copy of snmp.yml, and the env Secret as its environment.
func exporterDryRun(t *testing.T, args []string, snmpYML []byte, envSecret *corev1.Secret) {
	t.Helper()
	exporter := testenv.Binary(t, "snmp_exporter")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, v1alpha1.SNMPConfigKey), snmpYML, 0o600); err != nil {
		t.Fatal(err)
	}
	run := []string{"--dry-run"}
	for _, a := range args {
		run = append(run, strings.Replace(a, "/etc/snmp_exporter/", dir+"/", 1))
	}
	cmd := exec.Command(exporter, run...)
	cmd.Env = os.Environ()
	for k, v := range envSecret.Data {
		cmd.Env = append(cmd.Env, k+"="+string(v))
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("snmp_exporter %v: %v\n%s", run, err, b)
	}
}
