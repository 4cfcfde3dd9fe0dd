package specs_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/specs/prom"
	"github.com/wattson-dev/wattson/specs/sim"
)

// simulatorDeviceAnnotation names the simulator device a PDU reads, when neither its SNMPv3
// context nor its community says so (or the suite may not read Secrets).
const simulatorDeviceAnnotation = "specs.wattson.dev/simulator-device"

// listPDUs returns the PDUs to check (in --wattson.namespace, or all), failing when there are
// none: a suite that checks nothing must not pass.
func listPDUs(ctx context.Context) []v1alpha1.PDU {
	var list v1alpha1.PDUList
	Expect(k8s.List(ctx, &list, client.InNamespace(cfg.Namespace))).To(Succeed())
	Expect(list.Items).NotTo(BeEmpty(), "no PDU objects in %s: nothing to check", namespaceText())
	slices.SortFunc(list.Items, func(a, b v1alpha1.PDU) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return list.Items
}

func namespaceText() string {
	if cfg.Namespace == "" {
		return "any namespace"
	}
	return "namespace " + cfg.Namespace
}

// pduLabels selects a PDU's series.
func pduLabels(p v1alpha1.PDU) prom.Labels {
	return prom.Labels{v1alpha1.NamespaceLabel: p.Namespace, v1alpha1.PDUNameLabel: p.Name}
}

// duration parses a PDU's Prometheus duration, with the CRD's default when unset.
func duration(d v1alpha1.PrometheusDuration, def time.Duration) time.Duration {
	if d == "" {
		return def
	}
	md, err := model.ParseDuration(string(d))
	Expect(err).NotTo(HaveOccurred(), "PDU duration %q", d)
	return time.Duration(md)
}

func interval(p v1alpha1.PDU) time.Duration { return duration(p.Spec.Interval, time.Minute) }
func timeout(p v1alpha1.PDU) time.Duration  { return duration(p.Spec.Timeout, 10*time.Second) }

// simPDU is a PDU served by the simulator, with the truth of its model.
type simPDU struct {
	PDU    v1alpha1.PDU
	Device string
	Model  sim.Model
}

func (s simPDU) String() string {
	return fmt.Sprintf("PDU %s/%s (device %s)", s.PDU.Namespace, s.PDU.Name, s.Device)
}

// deviceName says which simulator device a PDU reads: the annotation, else the SNMPv3 context,
// else the community in its Secret (the simulator picks the device by community or context).
func deviceName(ctx context.Context, p v1alpha1.PDU) (string, error) {
	if d := p.Annotations[simulatorDeviceAnnotation]; d != "" {
		return d, nil
	}
	if p.Spec.SNMP.ContextName != "" {
		return p.Spec.SNMP.ContextName, nil
	}
	if p.Spec.SNMP.Version == v1alpha1.SNMPv3 {
		return "", fmt.Errorf("PDU %s/%s uses SNMPv3 without a context name; annotate it with %s", p.Namespace, p.Name, simulatorDeviceAnnotation)
	}
	var s corev1.Secret
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: p.Spec.SNMP.SecretRef.Name}, &s); err != nil {
		return "", fmt.Errorf("PDU %s/%s: read its community from Secret %s (or annotate the PDU with %s): %w",
			p.Namespace, p.Name, p.Spec.SNMP.SecretRef.Name, simulatorDeviceAnnotation, err)
	}
	return string(s.Data[v1alpha1.CommunityKey]), nil
}

// simulatedPDUs returns the PDUs whose device the simulator serves, failing when there are none
// or when a PDU's model does not fit its device.
func simulatedPDUs(ctx context.Context) []simPDU {
	devices, err := simc.Devices(ctx, false)
	Expect(err).NotTo(HaveOccurred())
	byName := map[string]sim.Device{}
	for _, d := range devices {
		byName[d.Name] = d
	}
	var out []simPDU
	for _, p := range listPDUs(ctx) {
		name, err := deviceName(ctx, p)
		Expect(err).NotTo(HaveOccurred())
		d, ok := byName[name]
		if !ok {
			continue // a real PDU, or another simulator
		}
		m, ok := sim.Models[p.Spec.Model]
		Expect(ok).To(BeTrue(), "PDU %s/%s has model %q, for which specs/sim.Models has no truth; add it there", p.Namespace, p.Name, p.Spec.Model)
		Expect(d.Template).To(Equal(m.DataFile), "PDU %s/%s (model %s) reads simulator device %s, which serves %s data", p.Namespace, p.Name, p.Spec.Model, name, d.Template)
		out = append(out, simPDU{PDU: p, Device: name, Model: m})
	}
	Expect(out).NotTo(BeEmpty(), "no PDU in %s reads a device of the simulator at %s", namespaceText(), cfg.SimulatorURL)
	return out
}

// compareWithTruth compares every reading of a simulated PDU in Prometheus with what the
// simulator says the PDU really measures now (its truth: a wrong-scale fault falsifies what the
// PDU serves, not the truth). It returns a description of each disagreement.
func compareWithTruth(ctx context.Context, s simPDU) error {
	vs, err := simc.Truth(ctx, s.Device, "")
	if err != nil {
		return err
	}
	var bad []string
	for _, r := range s.Model.Readings {
		want, err := r.SI(vs)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		sel := pduLabels(s.PDU)
		for k, v := range r.Labels {
			sel[k] = v
		}
		v, err := promc.QueryVector(ctx, prom.Selector(r.Metric, sel))
		if err != nil {
			return err
		}
		switch len(v.Samples) {
		case 0:
			bad = append(bad, fmt.Sprintf("%s: no series in Prometheus (simulator serves %g)", prom.Selector(r.Metric, sel), want))
		case 1:
			got := v.Samples[0].Value
			if !sim.Within(got, want, cfg.PowerTolerance) {
				bad = append(bad, fmt.Sprintf("%s = %g in Prometheus, but the simulator serves %g (x%.3g; tolerance %g%%)",
					prom.Selector(r.Metric, sel), got, want, got/want, cfg.PowerTolerance*100))
			}
		default:
			bad = append(bad, fmt.Sprintf("%s: %d series, want one: %s", prom.Selector(r.Metric, sel), len(v.Samples), v.GomegaString()))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s disagrees with the simulator:\n  %s", s, strings.Join(bad, "\n  "))
	}
	return nil
}
