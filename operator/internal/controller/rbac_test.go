package controller_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/manager"
)

// The operator's ServiceAccount as config/rbac and config/manager name it.
const (
	operatorSA   = "wattson-operator"
	operatorUser = "system:serviceaccount:" + opNamespace + ":" + operatorSA
)

var operatorGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + opNamespace, "system:authenticated"}

// applyOperatorRBAC creates what config/rbac ships (every resource of its kustomization.yaml: the
// ServiceAccount, the generated ClusterRole and Role, their bindings, the credentials reader and
// the users' roles) and returns a config
// that acts as the operator's ServiceAccount (impersonated), so the apiserver enforces exactly
// what the markers grant.
func applyOperatorRBAC(t *testing.T, cfg *rest.Config, c client.Client) *rest.Config {
	t.Helper()
	ctx := context.Background()
	raw, err := os.ReadFile("../../config/rbac/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct{ Resources []string }
	if err := sigsyaml.Unmarshal(raw, &k); err != nil || len(k.Resources) == 0 {
		t.Fatalf("config/rbac/kustomization.yaml: no resources (%v)", err)
	}
	for _, f := range k.Resources {
		raw, err := os.ReadFile(filepath.Join("../../config/rbac", f))
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			if err := c.Create(ctx, &u); err != nil {
				t.Fatalf("%s: creating %s %s: %v", f, u.GetKind(), u.GetName(), err)
			}
		}
	}
	sa := rest.CopyConfig(cfg)
	sa.Impersonate = rest.ImpersonationConfig{UserName: operatorUser, Groups: operatorGroups}
	return sa
}

// credentialsBinding is the RoleBinding operator/README.md tells a tenant to create.
func credentialsBinding(ns string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: v1alpha1.CredentialsReaderRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: v1alpha1.CredentialsReaderRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: operatorSA, Namespace: opNamespace}},
	}
}

// allowed asks the apiserver whether the operator's ServiceAccount may verb secrets in ns
// (empty: in every namespace).
func allowed(t *testing.T, cfg *rest.Config, verb, ns string) bool {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{User: operatorUser, Groups: operatorGroups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Resource: "secrets", Namespace: ns}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Status.Allowed
}

// TestTenantCredentialsRBAC runs the operator as its ServiceAccount with the RBAC config/rbac
// ships, on a real apiserver that enforces it: the operator may read no Secret outside its
// namespace until a tenant binds wattson-credentials-reader in theirs. A PDU in a namespace
// without the binding is CredentialsForbidden, naming the RoleBinding to create, while the
// other namespace's PDU stays in snmp.yml; once the binding exists it becomes Ready within
// seconds, no restart, and a rotation of its Secret then rolls the exporter within seconds; once
// the binding is deleted, the pipeline's next run leaves that PDU out of snmp.yml.
// A Suite whose store Secret is out of reach is CredentialsForbidden too.
func TestTenantCredentialsRBAC(t *testing.T) {
	cfg, c := startKube(t, false)
	ctx := context.Background()
	g := NewWithT(t)
	sa := applyOperatorRBAC(t, cfg, c)

	// The generated ClusterRole grants no Secret: not cluster-wide, not in a tenant's namespace.
	for _, verb := range []string{"get", "list", "watch"} {
		g.Expect(allowed(t, cfg, verb, "")).To(BeFalse(), "the operator may %s Secrets in every namespace", verb)
		g.Expect(allowed(t, cfg, verb, "dc2")).To(BeFalse(), "the operator may %s Secrets in dc2 without a RoleBinding", verb)
		g.Expect(allowed(t, cfg, verb, opNamespace)).To(BeTrue(), "the operator may not %s its own Secrets", verb)
	}
	saClient, err := client.New(sa, client.Options{Scheme: manager.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	err = saClient.List(ctx, &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "SecretList"}})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "listing Secrets cluster-wide as the operator: %v", err)

	startOperator(t, sa, nil)
	g.Expect(c.Create(ctx, mibConfigMap(t))).To(Succeed())
	g.Expect(c.Create(ctx, rackModel("rackpdu"))).To(Succeed())
	g.Expect(c.Create(ctx, credentialsBinding("dc1"))).To(Succeed())
	g.Expect(c.Create(ctx, communitySecret("dc1", "snmp", "dc1-community"))).To(Succeed())
	g.Expect(c.Create(ctx, communitySecret("dc2", "snmp", "dc2-community"))).To(Succeed())
	granted, denied := pdu("dc1", "rack1", "192.0.2.1", "rackpdu", "snmp"), pdu("dc2", "rack2", "192.0.2.2", "rackpdu", "snmp")
	g.Expect(c.Create(ctx, granted)).To(Succeed())
	g.Expect(c.Create(ctx, denied)).To(Succeed())

	expectCondition(t, c, granted, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.ConfiguredReason)
	cond := expectCondition(t, c, denied, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.CredentialsForbiddenReason)
	g.Expect(cond.Message).To(HavePrefix("spec.snmp.secretRef.name: the operator may not read Secret dc2/snmp"))
	g.Expect(cond.Message).To(ContainSubstring("kubectl -n dc2 create rolebinding wattson-credentials-reader --clusterrole=wattson-credentials-reader --serviceaccount=wattson-system:wattson-operator"))
	// The forbidden PDU does not stop the other one.
	g.Eventually(func(g Gomega) {
		raw := secretData(ctx, g, c, v1alpha1.ExporterConfigName, v1alpha1.SNMPConfigKey)
		g.Expect(raw).To(ContainSubstring("dc1-community"))
		g.Expect(raw).NotTo(ContainSubstring("dc2-community"))
	}).WithTimeout(30 * time.Second).Should(Succeed())

	// The tenant creates the RoleBinding: the PDU recovers, the operator untouched.
	start := time.Now()
	g.Expect(c.Create(ctx, credentialsBinding("dc2"))).To(Succeed())
	g.Eventually(func(g Gomega) {
		cond := condition(ctx, g, c, denied, v1alpha1.ReadyCondition)
		g.Expect(cond.Reason).To(Equal(v1alpha1.ConfiguredReason), cond.Message)
		g.Expect(denied.Status.Auth).NotTo(BeEmpty())
		g.Expect(secretData(ctx, g, c, v1alpha1.ExporterConfigName, v1alpha1.SNMPConfigKey)).To(ContainSubstring("dc2-community"))
	}).WithTimeout(20 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	t.Logf("Ready and in snmp.yml %s after the RoleBinding", time.Since(start).Round(10*time.Millisecond))

	// A rotation in the namespace, now watched, rolls the exporter within seconds.
	var before string
	g.Eventually(func(g Gomega) { before = exporterHash(ctx, g, c) }).Should(Succeed())
	var s corev1.Secret
	g.Expect(c.Get(ctx, types.NamespacedName{Namespace: "dc2", Name: "snmp"}, &s)).To(Succeed())
	s.Data[v1alpha1.CommunityKey] = []byte("dc2-rotated")
	start = time.Now()
	g.Expect(c.Update(ctx, &s)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(secretData(ctx, g, c, v1alpha1.ExporterConfigName, v1alpha1.SNMPConfigKey)).To(ContainSubstring("dc2-rotated"))
		g.Expect(exporterHash(ctx, g, c)).NotTo(Equal(before))
	}).WithTimeout(5 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
	t.Logf("config hash changed %s after the rotation", time.Since(start).Round(10*time.Millisecond))

	// Revoked: the pipeline's next run (here, dc1's rotation) leaves dc2's community out.
	g.Expect(c.Delete(ctx, credentialsBinding("dc2"))).To(Succeed())
	g.Eventually(func() bool { return allowed(t, cfg, "get", "dc2") }).WithTimeout(10 * time.Second).Should(BeFalse())
	g.Expect(c.Get(ctx, types.NamespacedName{Namespace: "dc1", Name: "snmp"}, &s)).To(Succeed())
	s.Data[v1alpha1.CommunityKey] = []byte("dc1-rotated")
	g.Expect(c.Update(ctx, &s)).To(Succeed())
	g.Eventually(func(g Gomega) {
		raw := secretData(ctx, g, c, v1alpha1.ExporterConfigName, v1alpha1.SNMPConfigKey)
		g.Expect(raw).To(ContainSubstring("dc1-rotated"))
		g.Expect(raw).NotTo(ContainSubstring("dc2-rotated"))
	}).WithTimeout(10 * time.Second).Should(Succeed())

	// A Suite's store Secret follows the same rule.
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dc3"}})).To(Succeed())
	g.Expect(c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "dc3", Name: "history"}, StringData: map[string]string{"url": "postgres://x"}})).To(Succeed())
	st := suite("dc3", "energy", func(s *v1alpha1.SuiteSpec) {
		s.Store = &v1alpha1.SuiteStore{PostgresURLSecretRef: v1alpha1.SecretKeyReference{Name: "history", Key: "url"}}
	})
	g.Expect(c.Create(ctx, st)).To(Succeed())
	cond = suiteCondition(t, c, st, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.CredentialsForbiddenReason)
	g.Expect(cond.Message).To(HavePrefix("spec.store.postgresURLSecretRef.name: the operator may not read Secret dc3/history"))
	g.Expect(c.Create(ctx, credentialsBinding("dc3"))).To(Succeed())
	suiteCondition(t, c, st, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.DeployedReason)
}
