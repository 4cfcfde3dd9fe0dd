// Package kube gives specs a Kubernetes client and Gomega matchers for live objects:
//
//   - MatchYAML compares a YAML snippet with an object the way chainsaw and kuttl asserts do:
//     only the fields written must match, and a list matches when each of its written elements
//     matches a distinct element of the live list (a subset, in any order).
//
//   - HaveCondition checks a status condition, and that it describes the object's current
//     generation.
//
//     Eventually(ctx, kube.Get(c, pdu)).Should(kube.HaveCondition("Ready", metav1.ConditionTrue))
//     Expect(pdu).To(kube.MatchYAML(`
//     spec: {model: apc-rpdu2}
//     status:
//     conditions:
//
//   - {type: Collecting, status: "True"}
//     `))
package kube

import (
	"context"
	"errors"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// scheme names the kinds of typed objects in messages.
var scheme = Scheme()

// Scheme knows the built-in kinds and Wattson's PDU and PDUModel.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	return s
}

// RESTConfig loads the connection: kubeconfig when given, else the in-cluster configuration in a
// pod, else the usual KUBECONFIG / ~/.kube/config rules.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s (--wattson.kubeconfig): %w", kubeconfig, err)
		}
		return cfg, nil
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster Kubernetes configuration: %w", err)
		}
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, errors.New("no Kubernetes configuration: give --wattson.kubeconfig (env WATTSON_KUBECONFIG) or KUBECONFIG, or run in a pod")
		}
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	return cfg, nil
}

// NewClient returns a controller-runtime client with Scheme.
func NewClient(cfg *rest.Config) (client.Client, error) {
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	return c, nil
}

// Get returns a function for Eventually that reads obj (by its namespace and name) afresh and
// returns it.
func Get[T client.Object](c client.Client, obj T) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		if err != nil {
			err = fmt.Errorf("get %s %s: %w", kindOf(c, obj), client.ObjectKeyFromObject(obj), err)
		}
		return obj, err
	}
}

func kindOf(c client.Client, obj client.Object) string {
	if gvk, err := c.GroupVersionKindFor(obj); err == nil {
		return gvk.Kind
	}
	return fmt.Sprintf("%T", obj)
}
