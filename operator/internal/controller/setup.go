package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// Options configure the reconcilers.
type Options struct {
	// Namespace holds the MIB ConfigMaps, compiled modules, exporter and rules.
	Namespace string
	// PrometheusOperator: make ScrapeConfigs/Probes and a PrometheusRule (see
	// PrometheusOperatorServed) instead of a plain scrape configuration and rules ConfigMap.
	PrometheusOperator bool
	// ExporterAddr is host:port of the exporter Service, as Prometheus reaches it.
	ExporterAddr     string
	ExporterImage    string
	ExporterReplicas int32
	// Readings and ReadingEvents come from a collect.Poller; both nil without Prometheus.
	Readings      Readings
	ReadingEvents <-chan event.GenericEvent
	// RecheckAfter is how soon a Ready PDU that is not collecting is looked at again.
	RecheckAfter time.Duration
	// MaxConcurrentReconciles applies to the PDU controller.
	MaxConcurrentReconciles int
	// SuiteDefaultImage, SuitePollInterval and SuiteURL: see SuiteReconciler.
	SuiteDefaultImage string
	SuitePollInterval time.Duration
	SuiteURL          func(*v1alpha1.Suite) string
	// SuiteTriggerDebounce: see SuiteTriggerReconciler.Debounce. RerunToken is the bearer token
	// sent to the Suites' runtimes (reruns and history).
	SuiteTriggerDebounce time.Duration
	RerunToken           func() (string, error)
	// Identity is the operator's user name as the apiserver sees it (for a ServiceAccount,
	// system:serviceaccount:NAMESPACE:NAME); CredentialsForbidden messages name the RoleBinding
	// to create for it. Empty: the messages say "the operator's ServiceAccount".
	Identity string
	// CredentialsRecheck is how often a namespace whose Secrets the operator may not read is
	// checked again (SecretWatcher.Recheck); default 5s.
	CredentialsRecheck time.Duration
}

// ExporterAddress is the in-cluster address of the exporter Service in namespace.
func ExporterAddress(namespace string) string {
	return fmt.Sprintf("%s.%s.svc:%d", v1alpha1.ExporterName, namespace, v1alpha1.ExporterPort)
}

// PrometheusOperatorServed reports whether the apiserver serves the prometheus-operator kinds
// Wattson makes: ScrapeConfig (v1alpha1), Probe and PrometheusRule (v1).
func PrometheusOperatorServed(cfg *rest.Config) (bool, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, fmt.Errorf("discovery client: %w", err)
	}
	want := map[string][]string{
		monitoringv1alpha1.SchemeGroupVersion.String(): {"ScrapeConfig"},
		monitoringv1.SchemeGroupVersion.String():       {"Probe", "PrometheusRule"},
	}
	for gv, kinds := range want {
		list, err := dc.ServerResourcesForGroupVersion(gv)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("discovering %s: %w", gv, err)
		}
		served := map[string]bool{}
		for _, r := range list.APIResources {
			served[r.Kind] = true
		}
		for _, k := range kinds {
			if !served[k] {
				return false, nil
			}
		}
	}
	return true, nil
}

// Setup registers the field indexes the reconcilers share, then the reconcilers, each with its
// own SetupWithManager: PDUModelReconciler (pdumodel_controller.go), PDUReconciler
// (pdu_controller.go), PipelineReconciler (pipeline_controller.go), SuiteTriggerReconciler
// (suite_trigger.go) and SuiteReconciler (suite_controller.go).
func Setup(mgr ctrl.Manager, o Options) error {
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	for name, fn := range map[string]client.IndexerFunc{indexTarget: pduTarget, indexModel: pduModel, indexSecret: pduSecret} {
		if err := idx.IndexField(ctx, &v1alpha1.PDU{}, name, fn); err != nil {
			return fmt.Errorf("indexing PDUs by %s: %w", name, err)
		}
	}
	if o.ExporterAddr == "" {
		o.ExporterAddr = ExporterAddress(o.Namespace)
	}
	if o.RecheckAfter == 0 {
		o.RecheckAfter = time.Minute
	}
	c := mgr.GetClient()
	meta, err := metadata.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return fmt.Errorf("metadata client: %w", err)
	}
	secrets := NewSecretWatcher(meta, mgr.GetCache(), o.Namespace)
	if o.CredentialsRecheck > 0 {
		secrets.Recheck = o.CredentialsRecheck
	}
	forbidden := credentialsForbidden(o.Identity)
	models := &PDUModelReconciler{Client: c, Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("pdumodel-controller"),
		Namespace: o.Namespace}
	if err := models.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("pdumodel controller: %w", err)
	}
	pdus := &PDUReconciler{Client: c, Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("pdu-controller"),
		PrometheusOperator: o.PrometheusOperator, ExporterAddr: o.ExporterAddr, Readings: o.Readings, ReadingEvents: o.ReadingEvents,
		RecheckAfter: o.RecheckAfter, MaxConcurrentReconciles: o.MaxConcurrentReconciles, Secrets: secrets, Forbidden: forbidden}
	if err := pdus.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("pdu controller: %w", err)
	}
	pipeline := &PipelineReconciler{Client: c, Recorder: mgr.GetEventRecorder("pipeline-controller"), Namespace: o.Namespace,
		PrometheusOperator: o.PrometheusOperator, ExporterAddr: o.ExporterAddr, ExporterImage: o.ExporterImage, ExporterReplicas: o.ExporterReplicas, Secrets: secrets}
	if err := pipeline.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("pipeline controller: %w", err)
	}
	triggers := NewSuiteTriggerReconciler(c)
	triggers.Debounce, triggers.URL, triggers.Token = o.SuiteTriggerDebounce, o.SuiteURL, o.RerunToken
	if err := triggers.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("suite-trigger controller: %w", err)
	}
	suites := &SuiteReconciler{Client: c, Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("suite-controller"),
		PrometheusOperator: o.PrometheusOperator, DefaultImage: o.SuiteDefaultImage, URL: o.SuiteURL,
		PollInterval: o.SuitePollInterval, Token: o.RerunToken, Triggers: triggers, Secrets: secrets, Forbidden: forbidden}
	if err := suites.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("suite controller: %w", err)
	}
	if err := mgr.Add(secrets); err != nil {
		return fmt.Errorf("secret watcher: %w", err)
	}
	return nil
}

// credentialsForbidden returns the message of a CredentialsForbidden condition: what to bind,
// to whom, in the namespace of the Secret field names.
func credentialsForbidden(identity string) func(field, namespace, name string) string {
	subject, flag := "the operator's ServiceAccount", "--serviceaccount=<operator namespace>:<operator ServiceAccount>"
	if ns, sa, ok := strings.Cut(strings.TrimPrefix(identity, "system:serviceaccount:"), ":"); ok && strings.HasPrefix(identity, "system:serviceaccount:") {
		subject, flag = "ServiceAccount "+ns+"/"+sa, "--serviceaccount="+ns+":"+sa
	} else if identity != "" {
		subject, flag = "user "+identity, "--user="+identity
	}
	return func(field, namespace, name string) string {
		return fmt.Sprintf("%s: the operator may not read Secret %s/%s: namespace %s has no RoleBinding of ClusterRole %s to %s; create one: "+
			"kubectl -n %s create rolebinding %s --clusterrole=%s %s",
			field, namespace, name, namespace, v1alpha1.CredentialsReaderRole, subject,
			namespace, v1alpha1.CredentialsReaderRole, v1alpha1.CredentialsReaderRole, flag)
	}
}

// managedIn selects the objects the operator made (ManagedByLabel) in namespace.
func managedIn(namespace string) predicate.Predicate {
	return predicate.NewPredicateFuncs(func(obj client.Object) bool {
		return obj.GetNamespace() == namespace && obj.GetLabels()[v1alpha1.ManagedByLabel] == v1alpha1.ManagedBy
	})
}

// specChanged passes an object's creation, deletion and spec changes, not its status updates.
var specChanged = builder.WithPredicates(predicate.GenerationChangedPredicate{})
