package controller

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/snmp_exporter/config"
	yaml "go.yaml.in/yaml/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

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
	// ExporterHostNetwork runs the exporter in the node's network namespace, listening on
	// ExporterAddr itself: for single-node clusters on loopback, with no Service routing.
	ExporterHostNetwork bool
}

// +kubebuilder:rbac:groups="",resources=secrets,verbs=create;update;patch;delete,namespace=wattson-system
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
	envData := map[string][]byte{}
	keys := make([]string, 0, len(env))
	for k, v := range env {
		envData[k] = []byte(v)
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var envBytes bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&envBytes, "%s=%s\n", k, env[k])
	}
	if err := r.writeSecret(ctx, ExporterConfigName, map[string][]byte{SNMPConfigKey: snmpYML}); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.writeSecret(ctx, ExporterEnvName, envData); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.writeExporter(ctx, hashOf(snmpYML, envBytes.Bytes())); err != nil {
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
		if err := r.writeSecret(ctx, ScrapeConfigsName, map[string][]byte{ScrapeConfigsKey: scrape}); err != nil {
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
	if err := r.List(ctx, &cms, client.InNamespace(r.Namespace), client.MatchingLabels{ComponentLabel: "module"}); err != nil {
		return nil, nil, fmt.Errorf("listing module ConfigMaps: %w", err)
	}
	byModel := map[string]*corev1.ConfigMap{}
	for i := range cms.Items {
		byModel[cms.Items[i].Annotations[ModelAnnotation]] = &cms.Items[i]
	}
	var models []v1alpha1.PDUModel
	modules := map[string]*config.Module{}
	for _, m := range list.Items {
		cm, ok := byModel[m.Name]
		if !ok || m.Status.Module == "" {
			continue
		}
		var cfg config.Config
		if err := yaml.UnmarshalStrict([]byte(cm.Data[SNMPConfigKey]), &cfg); err != nil {
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
		c, err := checkPDU(ctx, r.Client, pdu)
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

func (r *PipelineReconciler) labels() map[string]string {
	return map[string]string{render.ManagedByLabel: render.ManagedBy, "app.kubernetes.io/name": ExporterName}
}

func (r *PipelineReconciler) writeSecret(ctx context.Context, name string, data map[string][]byte) error {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.Namespace}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, s, func() error {
		s.Labels = r.labels()
		s.Type = corev1.SecretTypeOpaque
		s.Data = data
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing Secret %s: %w", name, err)
	}
	return nil
}

// ExporterUID is the user and group snmp_exporter runs as: nobody.
const ExporterUID int64 = 65534

func (r *PipelineReconciler) deploymentRef() *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: ExporterName, Namespace: r.Namespace},
	}
}

// writeExporter keeps the snmp_exporter Deployment and Service. The config hash on the pod
// template rolls the pods whenever snmp.yml or the SNMPv3 environment changes (a mounted Secret
// updates late and env never does).
func (r *PipelineReconciler) writeExporter(ctx context.Context, configHash string) error {
	sel := map[string]string{"app.kubernetes.io/name": ExporterName}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: ExporterName, Namespace: r.Namespace}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, dep, func() error {
		dep.Labels = r.labels()
		replicas := r.ExporterReplicas
		dep.Spec.Replicas = &replicas
		dep.Spec.Selector = &metav1.LabelSelector{MatchLabels: sel}
		t := &dep.Spec.Template
		t.Labels = r.labels()
		if t.Annotations == nil {
			t.Annotations = map[string]string{}
		}
		t.Annotations[ConfigHashAnnotaion] = configHash
		t.Spec.AutomountServiceAccountToken = ptr(false)
		// The published snmp_exporter image has no USER (it runs as root): runAsNonRoot alone makes
		// kubelet refuse it, so the user is set here, nobody as in the Prometheus images.
		t.Spec.SecurityContext = &corev1.PodSecurityContext{
			RunAsNonRoot: ptr(true), RunAsUser: ptr(ExporterUID), RunAsGroup: ptr(ExporterUID),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}
		t.Spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: ExporterConfigName}}}}
		listen, port := ":"+strconv.Itoa(ExporterPort), int32(ExporterPort)
		probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}}}
		t.Spec.HostNetwork = r.ExporterHostNetwork
		if r.ExporterHostNetwork {
			// Each replica binds the same host port: the old pod must go before the new one starts.
			dep.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
			// snmp_exporter resolves no names here (PDU targets are addresses); never hand a pod
			// the host's resolver.
			t.Spec.DNSPolicy = corev1.DNSNone
			t.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"127.0.0.1"}}
			listen = r.ExporterAddr
			if h, p, err := net.SplitHostPort(r.ExporterAddr); err == nil {
				// kubelet probes a hostNetwork pod at the node's address, not where it listens.
				probe.HTTPGet.Host = h
				if n, err := strconv.ParseInt(p, 10, 32); err == nil {
					port = int32(n)
				}
			}
		} else {
			t.Spec.DNSPolicy, t.Spec.DNSConfig = corev1.DNSClusterFirst, nil
			if dep.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
				dep.Spec.Strategy = appsv1.DeploymentStrategy{} // the apiserver's default: RollingUpdate
			}
		}
		t.Spec.Containers = []corev1.Container{{
			Name:  "snmp-exporter",
			Image: r.ExporterImage,
			Args: []string{
				"--config.file=/etc/snmp_exporter/" + SNMPConfigKey,
				"--config.expand-environment-variables",
				"--web.listen-address=" + listen,
			},
			EnvFrom:        []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: ExporterEnvName}}}},
			Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}},
			VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/snmp_exporter", ReadOnly: true}},
			ReadinessProbe: probe,
			LivenessProbe:  probe,
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing Deployment %s: %w", ExporterName, err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: ExporterName, Namespace: r.Namespace}}
	_, err = controllerutil.CreateOrUpdate(ctx, r.Client, svc, func() error {
		svc.Labels = r.labels()
		svc.Spec.Selector = sel
		svc.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: ExporterPort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing Service %s: %w", ExporterName, err)
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
		pr := &monitoringv1.PrometheusRule{ObjectMeta: metav1.ObjectMeta{Name: RecordingRulesName, Namespace: r.Namespace}}
		_, err = controllerutil.CreateOrUpdate(ctx, r.Client, pr, func() error {
			pr.Labels = r.labels()
			pr.Spec.Groups = groups
			return nil
		})
		if err != nil {
			return fmt.Errorf("writing PrometheusRule %s: %w", RecordingRulesName, err)
		}
		return nil
	}
	rules, err := render.RecordingRules(models)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: RecordingRulesName, Namespace: r.Namespace}}
	_, err = controllerutil.CreateOrUpdate(ctx, r.Client, cm, func() error {
		cm.Labels = r.labels()
		cm.Data = map[string]string{RecordingRulesKey: string(rules)}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing ConfigMap %s: %w", RecordingRulesName, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
