// Package v1alpha1 holds Wattson's API: the cluster-scoped PDUModel (how to read one kind of
// power distribution unit over SNMP) and the namespaced PDU (one device to read).
//
// The package is public because the specs and other tools create these objects.
//
// +kubebuilder:object:generate=true
// +groupName=wattson.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "wattson.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
