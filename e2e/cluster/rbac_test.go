package cluster

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The operator's ServiceAccount as the kit deploys it.
const operatorSA = "system:serviceaccount:wattson-system:wattson-operator"

// tenantPDU is a PDU in a namespace of its own whose Secret the operator may not read until the
// tenant binds wattson-credentials-reader. Its address is the exporter pod's own loopback, so
// that once it is Ready nothing polls a real address.
const tenantPDU = `apiVersion: v1
kind: Namespace
metadata: {name: wattson-rbac-tenant}
---
apiVersion: v1
kind: Secret
metadata: {name: snmp, namespace: wattson-rbac-tenant}
stringData: {community: tenant-before}
---
apiVersion: wattson.dev/v1alpha1
kind: PDU
metadata: {name: tenant-pdu, namespace: wattson-rbac-tenant}
spec:
  address: 127.0.0.1
  port: 1161
  model: apc-rpdu2
  snmp: {secretRef: {name: snmp}}
`

// credentials proves the least-privilege RBAC on the deployed kit: the operator's ServiceAccount
// may read no Secret cluster-wide; a tenant's PDU is CredentialsForbidden until the tenant runs
// the README's `kubectl create rolebinding`, then Ready within seconds with no restart, and a
// rotation of its Secret then rolls the exporter's config hash.
func (e *env) credentials(t *testing.T, ctx context.Context) {
	kubectl := filepath.Join(e.bin, "kubectl")
	canI := func(args ...string) string {
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"auth", "can-i", "--as=" + operatorSA}, args...)...)
		cmd.Env = e.environ
		out, _ := cmd.CombinedOutput() // exit status 1 is "no"
		return strings.TrimSpace(string(out))
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "secrets", "--all-namespaces"}, "no"},
		{[]string{"watch", "secrets", "--all-namespaces"}, "no"},
		{[]string{"get", "secrets", "-n", "wattson-rbac-tenant"}, "no"},
		{[]string{"list", "secrets", "-n", "dc1"}, "yes"}, // the kit's sample tenant binds it
	} {
		if got := canI(c.args...); got != c.want {
			t.Fatalf("kubectl auth can-i %s as the operator: %q, want %q", strings.Join(c.args, " "), got, c.want)
		}
	}

	cmd := exec.CommandContext(ctx, kubectl, "apply", "-f", "-")
	cmd.Env, cmd.Stdin = e.environ, strings.NewReader(tenantPDU)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tenant PDU: %v\n%s", err, out)
	}
	// Gone before the next steps, whose specs would otherwise find a PDU that cannot collect.
	t.Cleanup(func() {
		del := exec.Command(kubectl, "delete", "namespace", "wattson-rbac-tenant", "--ignore-not-found", "--timeout=2m")
		del.Env = e.environ
		if out, err := del.CombinedOutput(); err != nil {
			t.Errorf("delete the tenant namespace: %v\n%s", err, out)
		}
	})
	ns := []string{"-n", "wattson-rbac-tenant"}
	e.run(t, ctx, "tenant PDU CredentialsForbidden", kubectl, append(ns, "wait", "pdu/tenant-pdu", "--timeout=60s",
		`--for=jsonpath={.status.conditions[?(@.type=="Ready")].reason}=CredentialsForbidden`)...)
	msg := e.run(t, ctx, "tenant PDU message", kubectl, append(ns, "get", "pdu/tenant-pdu", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)...)
	const fix = "kubectl -n wattson-rbac-tenant create rolebinding wattson-credentials-reader --clusterrole=wattson-credentials-reader --serviceaccount=wattson-system:wattson-operator"
	if !strings.Contains(msg, fix) {
		t.Fatalf("the CredentialsForbidden message does not say what to run (%q): %s", fix, msg)
	}
	hash := func() string {
		return e.run(t, ctx, "exporter config hash", kubectl, "-n", "wattson-system", "get", "deploy/wattson-snmp-exporter", "-o",
			`jsonpath={.spec.template.metadata.annotations.wattson\.dev/config-hash}`)
	}

	// The tenant runs what the message says, word for word.
	start := time.Now()
	e.run(t, ctx, "tenant RoleBinding", kubectl, strings.Fields(fix)[1:]...)
	e.run(t, ctx, "tenant PDU Ready", kubectl, append(ns, "wait", "pdu/tenant-pdu", "--for=condition=Ready", "--timeout=60s")...)
	t.Logf("tenant PDU Ready %s after the RoleBinding", time.Since(start).Round(100*time.Millisecond))

	before := hash()
	start = time.Now()
	e.run(t, ctx, "rotate the tenant's Secret", kubectl, append(ns, "patch", "secret/snmp", "-p", `{"stringData":{"community":"tenant-after"}}`)...)
	for hash() == before {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the exporter's config hash did not change within 30s of the tenant's Secret rotation")
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("config hash changed %s after the rotation", time.Since(start).Round(100*time.Millisecond))
}
