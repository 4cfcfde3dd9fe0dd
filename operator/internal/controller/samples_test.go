package controller_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// TestSamplesAndValidation applies config/samples and the kit's energy Suite
// (runtime/config/suite.yaml) to the real apiserver (schema, defaults and CEL rules included) and
// checks that the CEL rules refuse what they should, naming the field.
func TestSamplesAndValidation(t *testing.T) {
	_, c := startKube(t, false)
	ctx := context.Background()
	g := NewWithT(t)
	files, _ := filepath.Glob("../../config/samples/wattson_*.yaml")
	g.Expect(files).NotTo(BeEmpty())
	files = append(files, "../../../runtime/config/suite.yaml")
	n := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		g.Expect(err).NotTo(HaveOccurred())
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for {
			obj := &unstructured.Unstructured{}
			if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(obj.Object) == 0 {
				continue
			}
			g.Expect(c.Create(ctx, obj)).To(Succeed(), "%s: %s", f, obj.GetName())
			n++
		}
	}
	g.Expect(n).To(Equal(8)) // four models (apc-rpdu, apc-rpdu2, raritan-px, cyberpower-epdu), three PDUs, the kit's energy Suite

	cases := []struct {
		name  string
		edit  func(*v1alpha1.PDU)
		field string
	}{
		{"v3 fields on v2c", func(p *v1alpha1.PDU) { p.Spec.SNMP.SecurityLevel = v1alpha1.AuthNoPriv }, "only for version v3"},
		{"authPriv without privProtocol", func(p *v1alpha1.PDU) {
			p.Spec.SNMP.Version, p.Spec.SNMP.SecurityLevel, p.Spec.SNMP.AuthProtocol = v1alpha1.SNMPv3, v1alpha1.AuthPriv, "SHA"
		}, "privProtocol is required"},
		{"unknown version", func(p *v1alpha1.PDU) { p.Spec.SNMP.Version = "v4" }, "spec.snmp.version"},
		{"port out of range", func(p *v1alpha1.PDU) { p.Spec.Port = 70000 }, "spec.port"},
		{"bad address", func(p *v1alpha1.PDU) { p.Spec.Address = "http://pdu/" }, "spec.address"},
		{"reserved label", func(p *v1alpha1.PDU) { p.Spec.Labels = map[string]string{"namespace": "x"} }, "spec.labels"},
	}
	for _, tc := range cases {
		p := pdu("dc1", "invalid", "192.0.2.77", "apc-rpdu2", "pdu-community")
		tc.edit(p)
		g.Expect(c.Create(ctx, p)).To(MatchError(ContainSubstring(tc.field)), tc.name)
	}
	m := rackModel("both-quantities")
	m.Spec.Energy[0].QuantityByIndex = &v1alpha1.QuantityByIndex{Label: "x", Values: map[string]v1alpha1.Quantity{"a": "power"}}
	g.Expect(c.Create(ctx, m)).To(MatchError(ContainSubstring("set exactly one of quantity and quantityByIndex")))
	m = rackModel("bad-scale")
	m.Spec.Energy[0].Scale = "ten"
	g.Expect(c.Create(ctx, m)).To(MatchError(ContainSubstring("spec.energy[0].scale")))
}
