package kube

import (
	"context"
	"fmt"
	"strings"

	"github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	monitoringclient "github.com/prometheus-operator/prometheus-operator/pkg/client/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// NewMonitoringClient returns prometheus-operator's typed clientset (monitoring.coreos.com:
// ScrapeConfigs, Probes, PrometheusRules, ServiceMonitors...) on cfg: the client its own e2e
// framework uses, with no scheme to register.
func NewMonitoringClient(cfg *rest.Config) (monitoringclient.Interface, error) {
	c, err := monitoringclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("prometheus-operator client for %s: %w", cfg.Host, err)
	}
	return c, nil
}

// ScrapeObjectKind is the kind of the prometheus-operator object a PDU's status.scrapeObject
// names ("ScrapeConfig" or "Probe"), or "" when the operator wrote a plain scrape job instead
// (prometheus-operator's CRDs are not served).
func ScrapeObjectKind(pdu *v1alpha1.PDU) string {
	kind, _, ok := strings.Cut(pdu.Status.ScrapeObject, " ")
	if ok && (kind == "ScrapeConfig" || kind == "Probe") {
		return kind
	}
	return ""
}

// ScrapeObject returns a function for Eventually that reads, through prometheus-operator's
// clientset, the ScrapeConfig or Probe the PDU's status.scrapeObject names, e.g.
// "ScrapeConfig dc1/rack-a01-pdu1". The PDU is read first, so the status is current. A status
// naming anything else stops Eventually: the PDU is not scraped through prometheus-operator.
func ScrapeObject(c client.Client, mc monitoringclient.Interface, pdu *v1alpha1.PDU) func(context.Context) (client.Object, error) {
	return func(ctx context.Context) (client.Object, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(pdu), pdu); err != nil {
			return nil, fmt.Errorf("get PDU %s: %w", client.ObjectKeyFromObject(pdu), err)
		}
		kind := ScrapeObjectKind(pdu)
		_, ref, _ := strings.Cut(pdu.Status.ScrapeObject, " ")
		ns, name, ok := strings.Cut(ref, "/")
		if kind == "" || !ok {
			return nil, gomega.StopTrying(fmt.Sprintf("PDU %s/%s names no ScrapeConfig or Probe in status.scrapeObject (%q)",
				pdu.Namespace, pdu.Name, pdu.Status.ScrapeObject))
		}
		var (
			obj client.Object
			err error
		)
		switch kind {
		case "ScrapeConfig":
			obj, err = mc.MonitoringV1alpha1().ScrapeConfigs(ns).Get(ctx, name, metav1.GetOptions{})
		case "Probe":
			obj, err = mc.MonitoringV1().Probes(ns).Get(ctx, name, metav1.GetOptions{})
		}
		if err != nil {
			return nil, fmt.Errorf("get %s %s/%s (status.scrapeObject of PDU %s/%s): %w", kind, ns, name, pdu.Namespace, pdu.Name, err)
		}
		return obj, nil
	}
}

// BeControlledBy succeeds when the object's controller reference is owner (same UID): the
// operator made it, and deleting the owner deletes it.
func BeControlledBy(owner client.Object) types.GomegaMatcher {
	return &beControlledBy{owner: owner}
}

type beControlledBy struct {
	owner client.Object
	why   string
}

func (m *beControlledBy) Match(actual any) (bool, error) {
	obj, ok := actual.(metav1.Object)
	if !ok || obj == nil {
		return false, fmt.Errorf("BeControlledBy expects a Kubernetes object, got %T", actual)
	}
	ref := metav1.GetControllerOf(obj)
	switch {
	case ref == nil:
		m.why = "it has no controller reference"
	case ref.UID != m.owner.GetUID():
		m.why = fmt.Sprintf("its controller is %s %s (uid %s)", ref.Kind, ref.Name, ref.UID)
	default:
		return true, nil
	}
	return false, nil
}

func (m *beControlledBy) FailureMessage(actual any) string {
	return fmt.Sprintf("Expected %s to be controlled by %s %s/%s (uid %s): %s", describe(actual),
		kindOfObject(m.owner), m.owner.GetNamespace(), m.owner.GetName(), m.owner.GetUID(), m.why)
}

func (m *beControlledBy) NegatedFailureMessage(actual any) string {
	return fmt.Sprintf("Expected %s not to be controlled by %s/%s", describe(actual), m.owner.GetNamespace(), m.owner.GetName())
}

func describe(actual any) string {
	if o, ok := actual.(client.Object); ok {
		return fmt.Sprintf("%s %s/%s", kindOfObject(o), o.GetNamespace(), o.GetName())
	}
	return fmt.Sprintf("%T", actual)
}

// kindOfObject names an object's kind: from its TypeMeta (unstructured, or as read), else from
// the scheme, else its Go type.
func kindOfObject(o client.Object) string {
	if k := o.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	if gvks, _, err := scheme.ObjectKinds(o); err == nil && len(gvks) > 0 {
		return gvks[0].Kind
	}
	t := fmt.Sprintf("%T", o)
	return t[strings.LastIndex(t, ".")+1:]
}
