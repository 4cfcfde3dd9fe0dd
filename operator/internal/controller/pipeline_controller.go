package controller

import (
	"context"
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/snmp_exporter/config"
	yaml "go.yaml.in/yaml/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/render"
)

// PipelineRequest is the one request the PipelineReconciler handles: everything it writes
// depends on all PDUs and models, so every change enqueues this same key and the work queue
// folds bursts (1,000 new PDUs) into a few runs.
var PipelineRequest = ctrl.Request{NamespacedName: types.NamespacedName{Name: "pipeline"}}

// PipelineReconciler keeps the exporter's configuration, the exporter itself and the recording
// rules in step with all PDUs and PDUModels.
type PipelineReconciler struct {
	client.Client
	Recorder  events.EventRecorder
	Namespace string
	// PrometheusOperator selects a PrometheusRule (true) or a plain rules ConfigMap and scrape
	// configuration Secret (false).
	PrometheusOperator bool
	ExporterAddr       string
	ExporterImage      string
	ExporterReplicas   int32
	// Secrets streams the metadata of the Secrets in the operator's and the PDUs' namespaces.
	Secrets *SecretWatcher
}

// SetupWithManager feeds every change that can alter the pipeline into its one request:
// PDUs (spec), PDUModels, the Secrets PDUs reference, and the objects the pipeline itself wrote in
// Namespace (so a deleted or edited one is put back).
func (r *PipelineReconciler) SetupWithManager(mgr ctrl.Manager) error {
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{PipelineRequest}
	})
	managed := managedIn(r.Namespace)
	referenced := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		var list v1alpha1.PDUList
		err := r.List(context.Background(), &list, client.MatchingFields{indexSecret: obj.GetNamespace() + "/" + obj.GetName()})
		return err != nil || len(list.Items) > 0 || managed.Generic(event.GenericEvent{Object: obj})
	})
	b := ctrl.NewControllerManagedBy(mgr).Named("pipeline").
		Watches(&v1alpha1.PDU{}, one, specChanged).
		Watches(&v1alpha1.PDUModel{}, one).
		WatchesRawSource(source.Channel(r.Secrets.Subscribe(), one, source.WithPredicates[client.Object, reconcile.Request](referenced))).
		Watches(&corev1.ConfigMap{}, one, builder.WithPredicates(managed)).
		Watches(&appsv1.Deployment{}, one, builder.WithPredicates(managed)).
		Watches(&corev1.Service{}, one, builder.WithPredicates(managed))
	if r.PrometheusOperator {
		b = b.Watches(&monitoringv1.PrometheusRule{}, one, builder.WithPredicates(managed))
	}
	return b.Complete(r)
}

// The exporter's Secrets, in the operator's namespace only: no ClusterRole rule grants Secrets.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete,namespace=wattson-system
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete,namespace=wattson-system
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete,namespace=wattson-system
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=prometheusrules,verbs=get;list;watch;create;update;patch;delete,namespace=wattson-system

// Reconcile renders and writes the whole pipeline.
func (r *PipelineReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	models, modules, err := r.modules(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	pdus, auths, env, err := r.pdus(ctx, models)
	if err != nil {
		return ctrl.Result{}, err
	}
	snmpYML, err := render.SNMPConfig(modules, auths)
	if err != nil {
		// Keep the exporter on its last good configuration.
		r.Recorder.Eventf(r.deploymentRef(), nil, corev1.EventTypeWarning, "RenderFailed", "Render", "snmp.yml not updated: %v", err)
		return ctrl.Result{}, err
	}
	configSecret, err := r.writeSecret(ctx, render.ExporterSecret(r.Namespace, v1alpha1.ExporterConfigName, map[string][]byte{v1alpha1.SNMPConfigKey: snmpYML}))
	if err != nil {
		return ctrl.Result{}, err
	}
	envSecret, err := r.writeSecret(ctx, render.ExporterSecret(r.Namespace, v1alpha1.ExporterEnvName, render.ExporterEnv(env)))
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.writeExporter(ctx, render.ExporterConfigHash(configSecret, envSecret)); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.writeRules(ctx, models); err != nil {
		return ctrl.Result{}, err
	}
	if !r.PrometheusOperator {
		scrape, err := render.PlainScrapeConfigs(pdus, models, r.ExporterAddr)
		if err != nil {
			return ctrl.Result{}, err
		}
		if _, err := r.writeSecret(ctx, render.ExporterSecret(r.Namespace, v1alpha1.ScrapeConfigsName, map[string][]byte{v1alpha1.ScrapeConfigsKey: scrape})); err != nil {
			return ctrl.Result{}, err
		}
	}
	log.FromContext(ctx).V(1).Info("pipeline written", "modules", len(modules), "pdus", len(pdus), "auths", len(auths))
	return ctrl.Result{}, nil
}

// modules returns the models that have a last good module, and those modules. A model whose new
// spec fails to compile keeps serving its previous module.
func (r *PipelineReconciler) modules(ctx context.Context) ([]v1alpha1.PDUModel, map[string]*config.Module, error) {
	var list v1alpha1.PDUModelList
	if err := r.List(ctx, &list); err != nil {
		return nil, nil, fmt.Errorf("listing PDUModels: %w", err)
	}
	var cms corev1.ConfigMapList
	if err := r.List(ctx, &cms, client.InNamespace(r.Namespace), client.MatchingLabels{v1alpha1.ComponentLabel: v1alpha1.ModuleComponent}); err != nil {
		return nil, nil, fmt.Errorf("listing module ConfigMaps: %w", err)
	}
	byModel := map[string]*corev1.ConfigMap{}
	for i := range cms.Items {
		byModel[cms.Items[i].Annotations[v1alpha1.ModelAnnotation]] = &cms.Items[i]
	}
	var models []v1alpha1.PDUModel
	modules := map[string]*config.Module{}
	for _, m := range list.Items {
		cm, ok := byModel[m.Name]
		if !ok || m.Status.Module == "" {
			continue
		}
		var cfg config.Config
		if err := yaml.UnmarshalStrict([]byte(cm.Data[v1alpha1.SNMPConfigKey]), &cfg); err != nil {
			log.FromContext(ctx).Error(err, "module ConfigMap does not parse; model skipped", "configmap", cm.Name)
			continue
		}
		mod, ok := cfg.Modules[m.Status.Module]
		if !ok {
			continue
		}
		modules[m.Status.Module] = mod
		models = append(models, m)
	}
	return models, modules, nil
}

// pdus returns the usable PDUs with their auths and the SNMPv3 environment.
func (r *PipelineReconciler) pdus(ctx context.Context, models []v1alpha1.PDUModel) ([]v1alpha1.PDU, map[string]*config.Auth, map[string]string, error) {
	var list v1alpha1.PDUList
	if err := r.List(ctx, &list); err != nil {
		return nil, nil, nil, fmt.Errorf("listing PDUs: %w", err)
	}
	served := map[string]bool{}
	for _, m := range models {
		served[m.Name] = true
	}
	var pdus []v1alpha1.PDU
	auths := map[string]*config.Auth{}
	env := map[string]string{}
	for i := range list.Items {
		pdu := &list.Items[i]
		if !pdu.DeletionTimestamp.IsZero() || !served[pdu.Spec.Model] {
			continue
		}
		c, err := checkPDU(ctx, r.Client, pdu, nil)
		if err != nil {
			return nil, nil, nil, err
		}
		if c.Reason != "" {
			continue
		}
		a, e := render.Auth(pdu, c.Creds)
		auths[render.AuthName(pdu)] = a
		for k, v := range e {
			env[k] = v
		}
		pdus = append(pdus, *pdu)
	}
	return pdus, auths, env, nil
}

// writeSecret creates or updates a Secret rendered by render.ExporterSecret and returns it as
// stored (with its resourceVersion).
func (r *PipelineReconciler) writeSecret(ctx context.Context, want *corev1.Secret) (*corev1.Secret, error) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, s, func() error {
		s.Labels = want.Labels
		s.Type = want.Type
		s.Data = want.Data
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("writing Secret %s: %w", want.Name, err)
	}
	return s, nil
}

func (r *PipelineReconciler) deploymentRef() *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ExporterName, Namespace: r.Namespace},
	}
}

// writeExporter creates or updates the snmp_exporter Deployment and Service that
// render.ExporterDeployment and render.ExporterService describe. It sets the fields those own and
// leaves the rest (the apiserver's defaults, other pod template annotations) as they are.
func (r *PipelineReconciler) writeExporter(ctx context.Context, configHash string) error {
	want := render.ExporterDeployment(render.Exporter{
		Namespace: r.Namespace, Image: r.ExporterImage, Replicas: r.ExporterReplicas,
		Addr: r.ExporterAddr,
	}, configHash)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, dep, func() error {
		dep.Labels = want.Labels
		dep.Spec.Replicas = want.Spec.Replicas
		dep.Spec.Selector = want.Spec.Selector
		switch {
		case want.Spec.Strategy.Type != "":
			dep.Spec.Strategy = want.Spec.Strategy
		case dep.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType:
			dep.Spec.Strategy = appsv1.DeploymentStrategy{} // back to the apiserver's default
		}
		t, w := &dep.Spec.Template, want.Spec.Template
		t.Labels = w.Labels
		if t.Annotations == nil {
			t.Annotations = map[string]string{}
		}
		for k, v := range w.Annotations {
			t.Annotations[k] = v
		}
		t.Spec.AutomountServiceAccountToken = w.Spec.AutomountServiceAccountToken
		t.Spec.SecurityContext = w.Spec.SecurityContext
		t.Spec.Volumes = w.Spec.Volumes
		t.Spec.HostNetwork = w.Spec.HostNetwork
		t.Spec.DNSPolicy, t.Spec.DNSConfig = w.Spec.DNSPolicy, w.Spec.DNSConfig
		t.Spec.Containers = w.Spec.Containers
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing Deployment %s: %w", want.Name, err)
	}
	wantSvc := render.ExporterService(r.Namespace)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: wantSvc.Name, Namespace: wantSvc.Namespace}}
	_, err = controllerutil.CreateOrUpdate(ctx, r.Client, svc, func() error {
		svc.Labels = wantSvc.Labels
		svc.Spec.Selector = wantSvc.Spec.Selector
		svc.Spec.Ports = wantSvc.Spec.Ports
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing Service %s: %w", wantSvc.Name, err)
	}
	return nil
}

// writeRules writes the recording rules as a PrometheusRule, or as a ConfigMap holding a plain
// rule file when prometheus-operator is absent.
func (r *PipelineReconciler) writeRules(ctx context.Context, models []v1alpha1.PDUModel) error {
	if r.PrometheusOperator {
		groups, err := render.RuleGroups(models)
		if err != nil {
			return err
		}
		pr := &monitoringv1.PrometheusRule{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.RecordingRulesName, Namespace: r.Namespace}}
		_, err = controllerutil.CreateOrUpdate(ctx, r.Client, pr, func() error {
			pr.Labels = render.ExporterLabels()
			pr.Spec.Groups = groups
			return nil
		})
		if err != nil {
			return fmt.Errorf("writing PrometheusRule %s: %w", v1alpha1.RecordingRulesName, err)
		}
		return nil
	}
	rules, err := render.RecordingRules(models)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.RecordingRulesName, Namespace: r.Namespace}}
	_, err = controllerutil.CreateOrUpdate(ctx, r.Client, cm, func() error {
		cm.Labels = render.ExporterLabels()
		cm.Data = map[string]string{v1alpha1.RecordingRulesKey: string(rules)}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing ConfigMap %s: %w", v1alpha1.RecordingRulesName, err)
	}
	return nil
}
