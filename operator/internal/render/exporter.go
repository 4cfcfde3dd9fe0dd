package render

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// Exporter says how the operator runs snmp_exporter.
type Exporter struct {
	// Namespace is the operator's namespace, where the exporter and its Secrets live.
	Namespace string
	// Image is snmp_exporter's image.
	Image string
	// Replicas of the Deployment.
	Replicas int32
	// Addr is where Prometheus reaches the exporter (host:port): its Service. The exporter
	// listens on ExporterPort behind it.
	Addr string
}

// ExporterLabels are on every object the operator writes for the exporter, and on its pods.
func ExporterLabels() map[string]string {
	return map[string]string{v1alpha1.ManagedByLabel: v1alpha1.ManagedBy, v1alpha1.PartOfLabel: v1alpha1.PartOf, "app.kubernetes.io/name": v1alpha1.ExporterName}
}

// exporterSelector selects the exporter's pods.
func exporterSelector() map[string]string {
	return map[string]string{"app.kubernetes.io/name": v1alpha1.ExporterName}
}

// ExporterEnv is the data of the exporter's environment Secret: the SNMPv3 keys snmp.yml names by
// variable (see Auth).
func ExporterEnv(env map[string]string) map[string][]byte {
	data := make(map[string][]byte, len(env))
	for k, v := range env {
		data[k] = []byte(v)
	}
	return data
}

// ExporterConfigHash identifies the exporter's Secrets (snmp.yml and the environment) by name,
// UID and resourceVersion, which change whenever their content does. It goes on the pod template
// (v1alpha1.ConfigHashAnnotation), so a change of either rolls the pods: a mounted Secret updates
// late, and the environment of a running container never does. It is not a hash of the content:
// anyone who can read the Deployment could otherwise test guessed communities against it offline.
func ExporterConfigHash(secrets ...*corev1.Secret) string {
	h := sha256.New()
	for _, s := range secrets {
		fmt.Fprintf(h, "%s/%s/%s/%s\n", s.Namespace, s.Name, s.UID, s.ResourceVersion)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ExporterSecret is one of the exporter's Secrets (v1alpha1.ExporterConfigName with snmp.yml,
// v1alpha1.ExporterEnvName with ExporterEnv, v1alpha1.ScrapeConfigsName with the plain scrape
// configuration).
func ExporterSecret(namespace, name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: ExporterLabels()},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// ExporterService is the Service Prometheus scrapes snmp_exporter through.
func ExporterService(namespace string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ExporterName, Namespace: namespace, Labels: ExporterLabels()},
		Spec: corev1.ServiceSpec{
			Selector: exporterSelector(),
			Ports:    []corev1.ServicePort{{Name: "http", Port: v1alpha1.ExporterPort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// ExporterUID is the user and group snmp_exporter runs as: nobody, as in the Prometheus images.
const ExporterUID int64 = 65534

// ExporterDeployment is snmp_exporter's Deployment, reading snmp.yml from the
// v1alpha1.ExporterConfigName Secret and the SNMPv3 keys from the v1alpha1.ExporterEnvName Secret.
// configHash is ExporterConfigHash of what those Secrets hold.
func ExporterDeployment(e Exporter, configHash string) *appsv1.Deployment {
	listen, port := ":"+strconv.Itoa(v1alpha1.ExporterPort), int32(v1alpha1.ExporterPort)
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}}}
	pod := corev1.PodSpec{
		AutomountServiceAccountToken: ptr.To(false),
		// The published snmp_exporter image has no USER (it runs as root): runAsNonRoot alone
		// makes kubelet refuse it ("image will run as root"), so the user is set, nobody.
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(ExporterUID), RunAsGroup: ptr.To(ExporterUID),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Volumes:   []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: v1alpha1.ExporterConfigName}}}},
		DNSPolicy: corev1.DNSClusterFirst,
	}
	var strategy appsv1.DeploymentStrategy // the apiserver's default: RollingUpdate
	pod.Containers = []corev1.Container{{
		Name:  "snmp-exporter",
		Image: e.Image,
		Args: []string{
			"--config.file=/etc/snmp_exporter/" + v1alpha1.SNMPConfigKey,
			"--config.expand-environment-variables",
			"--web.listen-address=" + listen,
		},
		EnvFrom:        []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: v1alpha1.ExporterEnvName}}}},
		Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}},
		VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/snmp_exporter", ReadOnly: true}},
		ReadinessProbe: probe,
		LivenessProbe:  probe,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ExporterName, Namespace: e.Namespace, Labels: ExporterLabels()},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(e.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: exporterSelector()},
			Strategy: strategy,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: ExporterLabels(), Annotations: map[string]string{v1alpha1.ConfigHashAnnotation: configHash}},
				Spec:       pod,
			},
		},
	}
}
