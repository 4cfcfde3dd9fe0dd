// Package v1alpha1 holds Wattson's API: the cluster-scoped PDUModel (how to read one kind of
// power distribution unit over SNMP) and the namespaced PDU (one device to read).
//
// The package is public because the specs and other tools create these objects.
//
// +kubebuilder:object:generate=true
// +groupName=wattson.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "wattson.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = &schemeBuilder{}

	// AddToScheme adds the types of this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// schemeBuilder is controller-runtime's scheme.Builder on apimachinery alone (that one is
// deprecated for API packages): whoever imports the API, as the specs do, gets no
// controller-runtime with it.
type schemeBuilder struct{ runtime.SchemeBuilder }

// Register adds the kinds to GroupVersion.
func (b *schemeBuilder) Register(objs ...runtime.Object) {
	b.SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, objs...)
		metav1.AddToGroupVersion(s, GroupVersion)
		return nil
	})
}
