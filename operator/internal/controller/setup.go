package controller

import (
	"context"
	"fmt"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/render"
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
	// ExporterHostNetwork: see PipelineReconciler.
	ExporterHostNetwork bool
	// Readings and ReadingEvents come from a collect.Poller; both nil without Prometheus.
	Readings      Readings
	ReadingEvents <-chan event.GenericEvent
	// RecheckAfter is how soon a Ready PDU that is not collecting is looked at again.
	RecheckAfter time.Duration
	// MaxConcurrentReconciles applies to the PDU controller.
	MaxConcurrentReconciles int
	// Compiler compiles models; nil means the generator package's MIB compiler.
	Compiler ModuleCompiler
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

// Setup registers the field indexes and the three reconcilers with mgr.
func Setup(mgr ctrl.Manager, o Options) error {
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	for name, fn := range map[string]client.IndexerFunc{indexTarget: pduTarget, indexModel: pduModel, indexSecret: pduSecret} {
		if err := idx.IndexField(ctx, &v1alpha1.PDU{}, name, fn); err != nil {
			return fmt.Errorf("indexing PDUs by %s: %w", name, err)
		}
	}
	if o.Compiler == nil {
		o.Compiler = &GeneratorCompiler{}
	}
	if o.ExporterAddr == "" {
		o.ExporterAddr = ExporterAddress(o.Namespace)
	}
	if o.RecheckAfter == 0 {
		o.RecheckAfter = time.Minute
	}
	c := mgr.GetClient()
	inNamespace := predicate.NewPredicateFuncs(func(obj client.Object) bool { return obj.GetNamespace() == o.Namespace })
	isMIB := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		return obj.GetNamespace() == o.Namespace && obj.GetLabels()[v1alpha1.MIBLabel] == "true"
	})

	// PDUModels: recompile every model when any MIB ConfigMap changes.
	models := &PDUModelReconciler{Client: c, Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("pdumodel-controller"), Namespace: o.Namespace, Compiler: o.Compiler}
	allModels := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		var list v1alpha1.PDUModelList
		if err := c.List(ctx, &list); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, m := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: m.Name}})
		}
		return reqs
	})
	if err := ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.PDUModel{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.ConfigMap{}, allModels, builder.WithPredicates(isMIB)).
		Complete(models); err != nil {
		return fmt.Errorf("pdumodel controller: %w", err)
	}

	// PDUs: react to their model, their Secret, PDUs sharing their address and Prometheus.
	pdus := &PDUReconciler{Client: c, Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("pdu-controller"),
		PrometheusOperator: o.PrometheusOperator, ExporterAddr: o.ExporterAddr, Readings: o.Readings, RecheckAfter: o.RecheckAfter}
	byIndex := func(index string, key func(client.Object) string) handler.EventHandler {
		return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
			var list v1alpha1.PDUList
			if err := c.List(ctx, &list, client.MatchingFields{index: key(obj)}); err != nil {
				return nil
			}
			reqs := make([]reconcile.Request, 0, len(list.Items))
			for _, p := range list.Items {
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}})
			}
			return reqs
		})
	}
	specChanged := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	b := ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.PDU{}, specChanged).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, o.MaxConcurrentReconciles)}).
		Watches(&v1alpha1.PDUModel{}, byIndex(indexModel, func(o client.Object) string { return o.GetName() })).
		Watches(&corev1.Secret{}, byIndex(indexSecret, func(o client.Object) string { return o.GetNamespace() + "/" + o.GetName() })).
		Watches(&v1alpha1.PDU{}, byIndex(indexTarget, func(o client.Object) string { return render.Target(o.(*v1alpha1.PDU)) }), specChanged)
	if o.PrometheusOperator {
		b = b.Owns(&monitoringv1alpha1.ScrapeConfig{}).Owns(&monitoringv1.Probe{})
	}
	if o.ReadingEvents != nil {
		b = b.WatchesRawSource(source.Channel(o.ReadingEvents, &handler.EnqueueRequestForObject{}))
	}
	if err := b.Complete(pdus); err != nil {
		return fmt.Errorf("pdu controller: %w", err)
	}

	// The pipeline: one key for everything.
	pipeline := &PipelineReconciler{Client: c, Recorder: mgr.GetEventRecorder("pipeline-controller"), Namespace: o.Namespace,
		PrometheusOperator: o.PrometheusOperator, ExporterAddr: o.ExporterAddr, ExporterImage: o.ExporterImage, ExporterReplicas: o.ExporterReplicas,
		ExporterHostNetwork: o.ExporterHostNetwork}
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{PipelineRequest}
	})
	referenced := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		var list v1alpha1.PDUList
		err := c.List(context.Background(), &list, client.MatchingFields{indexSecret: obj.GetNamespace() + "/" + obj.GetName()})
		return err != nil || len(list.Items) > 0 || (obj.GetNamespace() == o.Namespace && obj.GetLabels()[v1alpha1.ManagedByLabel] == v1alpha1.ManagedBy)
	})
	managed := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		return obj.GetNamespace() == o.Namespace && obj.GetLabels()[v1alpha1.ManagedByLabel] == v1alpha1.ManagedBy
	})
	pb := ctrl.NewControllerManagedBy(mgr).Named("pipeline").
		Watches(&v1alpha1.PDU{}, one, specChanged).
		Watches(&v1alpha1.PDUModel{}, one).
		Watches(&corev1.Secret{}, one, builder.WithPredicates(referenced)).
		Watches(&corev1.ConfigMap{}, one, builder.WithPredicates(inNamespace, managed)).
		Watches(&appsv1.Deployment{}, one, builder.WithPredicates(managed)).
		Watches(&corev1.Service{}, one, builder.WithPredicates(managed))
	if o.PrometheusOperator {
		pb = pb.Watches(&monitoringv1.PrometheusRule{}, one, builder.WithPredicates(managed))
	}
	if err := pb.Complete(pipeline); err != nil {
		return fmt.Errorf("pipeline controller: %w", err)
	}
	return nil
}
