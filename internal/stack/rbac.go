package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// The operator runs as its ServiceAccount, as in a cluster: the apiserver authenticates the
// stack's admin certificate and impersonates wattson-system/wattson-operator, so the operator has
// exactly the rights operator/config/rbac gives it (no Secret outside its namespace unless a
// tenant binds v1alpha1.CredentialsReaderRole, as applySamples does for dc1).
const (
	operatorSA   = "wattson-operator"
	operatorUser = "system:serviceaccount:" + Namespace + ":" + operatorSA
)

// applyOperatorRBAC creates operator/config/rbac's objects (the resources its kustomization.yaml
// lists) and writes a kubeconfig that acts as the operator's ServiceAccount; it returns that
// kubeconfig's path.
func (s *Stack) applyOperatorRBAC(ctx context.Context) (string, error) {
	dir := filepath.Join(s.opts.Root, "operator", "config", "rbac")
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return "", err
	}
	var k struct{ Resources []string }
	if err := sigsyaml.Unmarshal(raw, &k); err != nil {
		return "", fmt.Errorf("%s/kustomization.yaml: %w", dir, err)
	}
	if len(k.Resources) == 0 {
		return "", fmt.Errorf("%s/kustomization.yaml: no resources", dir)
	}
	for _, f := range k.Resources {
		path := filepath.Join(dir, f)
		raw, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return "", fmt.Errorf("%s: %w", path, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			if err := s.Client.Create(ctx, &u); err != nil {
				return "", fmt.Errorf("%s: creating %s %s: %w", path, u.GetKind(), u.GetName(), err)
			}
		}
	}
	kc, err := clientcmd.Load(s.Kube.KubeConfig)
	if err != nil {
		return "", fmt.Errorf("reading the admin kubeconfig: %w", err)
	}
	for _, a := range kc.AuthInfos {
		a.Impersonate = operatorUser
		a.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + Namespace, "system:authenticated"}
	}
	path := filepath.Join(s.Dir, "operator.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return "", err
	}
	return path, nil
}

// credentialsBinding lets the operator read the Secrets of namespace (operator/README.md).
func credentialsBinding(namespace string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: v1alpha1.CredentialsReaderRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: v1alpha1.CredentialsReaderRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: operatorSA, Namespace: Namespace}},
	}
}
