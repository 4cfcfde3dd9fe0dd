package render

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// Defaults for PDUs created without the CRD's defaulting (e.g. in the demo, from Go).
const (
	DefaultInterval = "60s"
	DefaultTimeout  = "10s"
	DefaultPort     = 161
)

// Target is the snmp_exporter target of a PDU: address:port.
func Target(pdu *v1alpha1.PDU) string {
	port := pdu.Spec.Port
	if port == 0 {
		port = DefaultPort
	}
	return net.JoinHostPort(pdu.Spec.Address, strconv.Itoa(int(port)))
}

// TargetLabels are the labels every series of the PDU carries: the PDU's own labels (site, room,
// rack, ...) plus namespace, pdu and model.
func TargetLabels(pdu *v1alpha1.PDU) map[string]string {
	l := make(map[string]string, len(pdu.Spec.Labels)+3)
	for k, v := range pdu.Spec.Labels {
		l[k] = v
	}
	l[v1alpha1.NamespaceLabel] = pdu.Namespace
	l[v1alpha1.PDUNameLabel] = pdu.Name
	l[v1alpha1.ModelLabel] = pdu.Spec.Model
	return l
}

// Interval and Timeout return the PDU's scrape interval and timeout with defaults applied.
func Interval(pdu *v1alpha1.PDU) string { return orDefault(string(pdu.Spec.Interval), DefaultInterval) }

// Timeout returns the PDU's scrape timeout, or the default.
func Timeout(pdu *v1alpha1.PDU) string { return orDefault(string(pdu.Spec.Timeout), DefaultTimeout) }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ObjectLabels are the labels of a ScrapeConfig or Probe made for a PDU; select them in the
// Prometheus resource with scrapeConfigSelector/probeSelector matchLabels
// app.kubernetes.io/part-of: wattson.
func ObjectLabels(pdu *v1alpha1.PDU) map[string]string {
	return map[string]string{v1alpha1.ManagedByLabel: v1alpha1.ManagedBy, v1alpha1.PartOfLabel: v1alpha1.PartOf, v1alpha1.PDULabel: pdu.Name}
}

// ScrapeConfig renders the prometheus-operator ScrapeConfig of a PDU: one static target, scraped
// through snmp_exporter at exporterAddr (host:port) with the model's module and the PDU's auth.
// It has the PDU's name and namespace.
func ScrapeConfig(pdu *v1alpha1.PDU, module, exporterAddr string) *monitoringv1alpha1.ScrapeConfig {
	interval, timeout := monitoringv1.Duration(Interval(pdu)), monitoringv1.Duration(Timeout(pdu))
	job, path := v1alpha1.PDUJob, "/snmp"
	return &monitoringv1alpha1.ScrapeConfig{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1alpha1.SchemeGroupVersion.String(), Kind: "ScrapeConfig"},
		ObjectMeta: metav1.ObjectMeta{Name: pdu.Name, Namespace: pdu.Namespace, Labels: ObjectLabels(pdu)},
		Spec: monitoringv1alpha1.ScrapeConfigSpec{
			JobName: &job,
			StaticConfigs: []monitoringv1alpha1.StaticConfig{{
				Targets: []monitoringv1alpha1.Target{monitoringv1alpha1.Target(Target(pdu))},
				Labels:  TargetLabels(pdu),
			}},
			MetricsPath:    &path,
			Params:         map[string][]string{"module": {module}, "auth": {AuthName(pdu)}},
			ScrapeInterval: &interval,
			ScrapeTimeout:  &timeout,
			RelabelConfigs: exporterRelabelings(exporterAddr),
		},
	}
}

func exporterRelabelings(exporterAddr string) []monitoringv1.RelabelConfig {
	return []monitoringv1.RelabelConfig{
		{SourceLabels: []monitoringv1.LabelName{"__address__"}, TargetLabel: "__param_target"},
		{SourceLabels: []monitoringv1.LabelName{"__param_target"}, TargetLabel: "instance"},
		{TargetLabel: "__address__", Replacement: &exporterAddr},
	}
}

// Probe renders the prometheus-operator Probe of a PDU, for users who select Probes rather than
// ScrapeConfigs. It has the PDU's name and namespace.
func Probe(pdu *v1alpha1.PDU, module, exporterAddr string) *monitoringv1.Probe {
	return &monitoringv1.Probe{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: "Probe"},
		ObjectMeta: metav1.ObjectMeta{Name: pdu.Name, Namespace: pdu.Namespace, Labels: ObjectLabels(pdu)},
		Spec: monitoringv1.ProbeSpec{
			JobName:       v1alpha1.PDUJob,
			ProberSpec:    monitoringv1.ProberSpec{URL: exporterAddr, Path: "/snmp"},
			Module:        module,
			Params:        []monitoringv1.ProbeParam{{Name: "auth", Values: []string{AuthName(pdu)}}},
			Interval:      monitoringv1.Duration(Interval(pdu)),
			ScrapeTimeout: monitoringv1.Duration(Timeout(pdu)),
			Targets: monitoringv1.ProbeTargets{StaticConfig: &monitoringv1.ProbeTargetStaticConfig{
				Targets: []string{Target(pdu)},
				Labels:  TargetLabels(pdu),
			}},
		},
	}
}

// plainScrapeConfig is the subset of Prometheus' scrape_config that Wattson writes.
type plainScrapeConfig struct {
	JobName        string              `json:"job_name"`
	ScrapeInterval string              `json:"scrape_interval"`
	ScrapeTimeout  string              `json:"scrape_timeout"`
	MetricsPath    string              `json:"metrics_path"`
	Params         map[string][]string `json:"params"`
	StaticConfigs  []plainStaticConfig `json:"static_configs"`
	RelabelConfigs []plainRelabel      `json:"relabel_configs"`
}

type plainStaticConfig struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

type plainRelabel struct {
	SourceLabels []string `json:"source_labels,omitempty"`
	TargetLabel  string   `json:"target_label"`
	Replacement  string   `json:"replacement,omitempty"`
}

// PlainScrapeConfigs renders a Prometheus configuration file holding only scrape_configs, for
// Prometheus without prometheus-operator: load it with scrape_config_files, or use it as the
// whole prometheus.yml. PDUs sharing module, auth, interval and timeout share one job (Prometheus
// needs those per job), each PDU one static target with its labels, so 10,000 PDUs make a handful
// of jobs. Every PDU's model must be in models. The output is deterministic.
func PlainScrapeConfigs(pdus []v1alpha1.PDU, models []v1alpha1.PDUModel, exporterAddr string) ([]byte, error) {
	byName := make(map[string]*v1alpha1.PDUModel, len(models))
	for i := range models {
		byName[models[i].Name] = &models[i]
	}
	jobs := map[string]*plainScrapeConfig{}
	sorted := make([]*v1alpha1.PDU, len(pdus))
	for i := range pdus {
		sorted[i] = &pdus[i]
	}
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Namespace != sorted[j].Namespace {
			return sorted[i].Namespace < sorted[j].Namespace
		}
		return sorted[i].Name < sorted[j].Name
	})
	for _, pdu := range sorted {
		model, ok := byName[pdu.Spec.Model]
		if !ok {
			return nil, fmt.Errorf("pdu %s/%s: spec.model: no PDUModel %q given", pdu.Namespace, pdu.Name, pdu.Spec.Model)
		}
		module, auth := ModuleName(model), AuthName(pdu)
		name := strings.Join([]string{v1alpha1.PDUJob, module, auth, Interval(pdu), Timeout(pdu)}, "/")
		job, ok := jobs[name]
		if !ok {
			job = &plainScrapeConfig{
				JobName: name, ScrapeInterval: Interval(pdu), ScrapeTimeout: Timeout(pdu), MetricsPath: "/snmp",
				Params: map[string][]string{"module": {module}, "auth": {auth}},
				RelabelConfigs: []plainRelabel{
					{SourceLabels: []string{"__address__"}, TargetLabel: "__param_target"},
					{SourceLabels: []string{"__param_target"}, TargetLabel: "instance"},
					{TargetLabel: "__address__", Replacement: exporterAddr},
					{TargetLabel: "job", Replacement: v1alpha1.PDUJob},
				},
			}
			jobs[name] = job
		}
		job.StaticConfigs = append(job.StaticConfigs, plainStaticConfig{Targets: []string{Target(pdu)}, Labels: TargetLabels(pdu)})
	}
	out := struct {
		ScrapeConfigs []*plainScrapeConfig `json:"scrape_configs"`
	}{ScrapeConfigs: []*plainScrapeConfig{}}
	for _, name := range slices.Sorted(maps.Keys(jobs)) {
		out.ScrapeConfigs = append(out.ScrapeConfigs, jobs[name])
	}
	b, err := marshalYAML(out)
	if err != nil {
		return nil, fmt.Errorf("rendering scrape configs: %w", err)
	}
	return append([]byte("# Generated by the Wattson operator from PDUs and PDUModels; do not edit.\n"), b...), nil
}
