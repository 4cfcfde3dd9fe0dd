package render

import (
	"fmt"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// Defaults of a Suite's fields, the same as the CRD's, applied here too so the renderers give
// the same objects for a Suite read from a file as for one the apiserver defaulted.
const (
	DefaultSuiteBinary   = "/specs.test"
	DefaultSuiteInterval = "1m"
	DefaultSuiteTimeout  = "10m"
	// RuntimeCommand is where a suite image holds wattson-runtime.
	RuntimeCommand = "/wattson-runtime"
	// StoreURLEnv carries the PostgreSQL URL from spec.store's Secret into the runtime's
	// --store.postgres-url, expanded by the kubelet, so the URL is never in the Deployment.
	StoreURLEnv = "WATTSON_STORE_POSTGRES_URL"
	// RuntimeContainer is the name of the runtime's container.
	RuntimeContainer = "runtime"
	// JournalDir is where a runtime with a store keeps its journal (an emptyDir, bounded).
	JournalDir = "/var/lib/wattson/journal"
	// SuiteComponent is the app.kubernetes.io/name of every Suite's runtime objects (the kit's
	// NetworkPolicies select the runtime pods by it).
	SuiteComponent = "wattson-suite"
)

// SuiteObjectName is the name of every object made for a Suite: wattson-suite-<name>.
func SuiteObjectName(s *v1alpha1.Suite) string { return v1alpha1.SuitePrefix + s.Name }

// SuiteURL is where a Suite's runtime answers inside the cluster (its Service).
func SuiteURL(s *v1alpha1.Suite) string {
	return fmt.Sprintf("http://%s.%s.svc:%d", SuiteObjectName(s), s.Namespace, v1alpha1.RuntimePort)
}

// SuiteSelector selects a Suite's runtime pods (and its Service, for the ServiceMonitor).
func SuiteSelector(s *v1alpha1.Suite) map[string]string {
	return map[string]string{"app.kubernetes.io/name": SuiteComponent, v1alpha1.SuiteLabel: s.Name}
}

// SuiteLabels are the labels of every object made for a Suite: its selector, part-of so the
// kit's Prometheus selects the ServiceMonitor and PrometheusRule, and managed-by.
func SuiteLabels(s *v1alpha1.Suite) map[string]string {
	l := SuiteSelector(s)
	l["app.kubernetes.io/instance"] = s.Name
	l[v1alpha1.PartOfLabel] = v1alpha1.PartOf
	l[v1alpha1.ManagedByLabel] = v1alpha1.ManagedBy
	return l
}

func suiteMeta(s *v1alpha1.Suite) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: SuiteObjectName(s), Namespace: s.Namespace, Labels: SuiteLabels(s)}
}

func defaulted[T ~string](v T, def string) string {
	if v == "" {
		return def
	}
	return string(v)
}

// SuiteReplicas is spec.replicas, 1 when unset.
func SuiteReplicas(s *v1alpha1.Suite) int32 {
	if s.Spec.Replicas == nil {
		return 1
	}
	return *s.Spec.Replicas
}

// SuiteInterval is spec.interval, or its default.
func SuiteInterval(s *v1alpha1.Suite) string { return defaulted(s.Spec.Interval, DefaultSuiteInterval) }

// SuiteArgs are the runtime's flags for a Suite (runtime/README.md lists them).
func SuiteArgs(s *v1alpha1.Suite) []string {
	args := []string{
		"--specs.binary=" + defaulted(s.Spec.Binary, DefaultSuiteBinary),
		"--specs.suite=" + s.EffectiveSuiteName(),
		"--specs.interval=" + defaulted(s.Spec.Interval, DefaultSuiteInterval),
		"--specs.timeout=" + defaulted(s.Spec.Timeout, DefaultSuiteTimeout),
	}
	if s.Spec.LabelFilter != "" {
		args = append(args, "--specs.label-filter="+s.Spec.LabelFilter)
	}
	for _, a := range s.Spec.Args {
		args = append(args, "--specs.arg="+a)
	}
	if st := s.Spec.Store; st != nil {
		// The journal keeps the runs PostgreSQL has not taken yet across a container restart.
		args = append(args, "--store.postgres-url=$("+StoreURLEnv+")", "--store.journal="+JournalDir)
		if st.Retention != "" {
			args = append(args, "--store.retention="+string(st.Retention))
		}
	}
	return append(args, fmt.Sprintf("--web.listen-address=:%d", v1alpha1.RuntimePort), "--log.format=json")
}

// SuiteDeployment renders the runtime's Deployment for a Suite, running image: non-root, read-only root, /tmp for the Ginkgo
// reports, the port named assert. Without a store the runtime is one pod replaced rather than
// rolled (two would run the suite twice); with PostgreSQL the replicas share the runs and roll.
func SuiteDeployment(s *v1alpha1.Suite, image string) *appsv1.Deployment {
	env := append([]corev1.EnvVar{}, s.Spec.Env...)
	if st := s.Spec.Store; st != nil {
		env = append(env, corev1.EnvVar{Name: StoreURLEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: st.PostgresURLSecretRef.Name}, Key: st.PostgresURLSecretRef.Key,
		}}})
	}
	if len(env) == 0 {
		env = nil
	}
	resources := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
	if s.Spec.Resources != nil {
		resources = *s.Spec.Resources.DeepCopy()
	}
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(v1alpha1.RuntimePortName)}}, PeriodSeconds: period}
	}
	strategy := appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if s.Spec.Store != nil {
		strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
	}
	replicas := SuiteReplicas(s)
	// The runner writes each run's Ginkgo report to a temporary folder.
	mounts := []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}}
	volumes := []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	if s.Spec.Store != nil {
		// The store's journal: an emptyDir survives container restarts (a crash, an OOM kill, a
		// liveness probe's SIGTERM), not a rescheduled pod; --store.journal-max-bytes (256 MiB by
		// default) keeps it under the limit.
		mounts = append(mounts, corev1.VolumeMount{Name: "journal", MountPath: JournalDir})
		limit := resource.MustParse("300Mi")
		volumes = append(volumes, corev1.Volume{Name: "journal", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &limit}}})
	}
	var envFrom []corev1.EnvFromSource
	if len(s.Spec.EnvFrom) > 0 {
		envFrom = append(envFrom, s.Spec.EnvFrom...)
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: suiteMeta(s),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Strategy: strategy,
			Selector: &metav1.LabelSelector{MatchLabels: SuiteSelector(s)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      SuiteLabels(s),
					Annotations: map[string]string{"kubectl.kubernetes.io/default-container": RuntimeContainer},
				},
				Spec: corev1.PodSpec{
					ServiceAccountName: s.Spec.ServiceAccountName,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(65532)), RunAsGroup: ptr.To(int64(65532)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            RuntimeContainer,
						Image:           image,
						ImagePullPolicy: s.Spec.ImagePullPolicy,
						Command:         []string{RuntimeCommand},
						Args:            SuiteArgs(s),
						Env:             env,
						EnvFrom:         envFrom,
						Ports:           []corev1.ContainerPort{{Name: v1alpha1.RuntimePortName, ContainerPort: v1alpha1.RuntimePort, Protocol: corev1.ProtocolTCP}},
						ReadinessProbe:  probe("/-/ready", 0),
						LivenessProbe:   probe("/-/healthy", 20),
						Resources:       resources,
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						VolumeMounts: mounts,
					}},
					Volumes: volumes,
				},
			},
		},
	}
}

// SuiteService renders the runtime's Service: metrics, history API, page and POST /rerun on the
// port named assert, labelled kubernetes-assert: metrics as kubernetes-assert's Service is.
func SuiteService(s *v1alpha1.Suite) *corev1.Service {
	meta := suiteMeta(s)
	meta.Labels[v1alpha1.KubernetesAssertLabel] = v1alpha1.KubernetesAssertMetrics
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta,
		Spec: corev1.ServiceSpec{
			Selector: SuiteSelector(s),
			Ports: []corev1.ServicePort{{
				Name: v1alpha1.RuntimePortName, Port: v1alpha1.RuntimePort,
				TargetPort: intstr.FromString(v1alpha1.RuntimePortName), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// SuiteScrapeInterval is how often Prometheus scrapes a Suite's runtime.
const SuiteScrapeInterval = "30s"

// SuiteServiceMonitor renders the ServiceMonitor scraping the runtime's Service on port assert.
// Every series gets wattson_suite=<Suite name>, which the Suite's rules select on, so they see
// exactly this Suite's runtime whatever its replicas and pods.
func SuiteServiceMonitor(s *v1alpha1.Suite) *monitoringv1.ServiceMonitor {
	sel := SuiteSelector(s)
	sel[v1alpha1.KubernetesAssertLabel] = v1alpha1.KubernetesAssertMetrics
	name := s.Name
	return &monitoringv1.ServiceMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: "ServiceMonitor"},
		ObjectMeta: suiteMeta(s),
		Spec: monitoringv1.ServiceMonitorSpec{
			Selector: metav1.LabelSelector{MatchLabels: sel},
			Endpoints: []monitoringv1.Endpoint{{
				Port:     v1alpha1.RuntimePortName,
				Path:     "/metrics",
				Interval: SuiteScrapeInterval,
				RelabelConfigs: []monitoringv1.RelabelConfig{{
					Action: "replace", TargetLabel: v1alpha1.SuiteMetricLabel, Replacement: &name,
				}},
			}},
		},
	}
}

// suiteDurations parses spec.interval and spec.timeout (defaults applied).
func suiteDurations(s *v1alpha1.Suite) (interval, timeout time.Duration, err error) {
	if interval, err = time.ParseDuration(defaulted(s.Spec.Interval, DefaultSuiteInterval)); err != nil {
		return 0, 0, fmt.Errorf("spec.interval: %w", err)
	}
	if timeout, err = time.ParseDuration(defaulted(s.Spec.Timeout, DefaultSuiteTimeout)); err != nil {
		return 0, 0, fmt.Errorf("spec.timeout: %w", err)
	}
	return interval, timeout, nil
}
