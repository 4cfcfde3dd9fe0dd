package controller_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/controller"
)

// TestHostileMIBConfigMap labels a ConfigMap holding a 100,000-deep OID chain (before the MIB
// limits: a minute and 10 GB per compile) next to the good MIBs: the operator keeps compiling
// every other model, and the model that asks for the hostile module says which file and line.
func TestHostileMIBConfigMap(t *testing.T) {
	cfg, c := startKube(t, false)
	startOperator(t, cfg, nil)
	ctx := context.Background()
	g := NewWithT(t)
	g.Expect(c.Create(ctx, mibConfigMap(t))).To(Succeed())
	before := rackModel("before")
	g.Expect(c.Create(ctx, before)).To(Succeed())
	expectCondition(t, c, before, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.CompiledReason)

	var chain strings.Builder
	chain.WriteString("HOSTILE-MIB DEFINITIONS ::= BEGIN\nIMPORTS enterprises FROM SNMPv2-SMI;\nn0 OBJECT IDENTIFIER ::= { enterprises 1 }\n")
	for i := 1; i < 100000; i++ {
		fmt.Fprintf(&chain, "n%d OBJECT IDENTIFIER ::= { n%d 1 }\n", i, i-1)
	}
	chain.WriteString("END\n")
	g.Expect(c.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "hostile", Namespace: opNamespace, Labels: map[string]string{v1alpha1.MIBLabel: "true"}},
		BinaryData: map[string][]byte{"HOSTILE-MIB.gz": gzipped(t, []byte(chain.String()))},
	})).To(Succeed())

	after := rackModel("after")
	g.Expect(c.Create(ctx, after)).To(Succeed())
	expectCondition(t, c, after, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.CompiledReason)
	var cm corev1.ConfigMap
	g.Expect(c.Get(ctx, types.NamespacedName{Namespace: opNamespace, Name: controller.ModuleConfigMapName("after")}, &cm)).To(Succeed())
	expectCondition(t, c, before, v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.CompiledReason)

	victim := rackModel("victim")
	victim.Spec.MIBs = append(victim.Spec.MIBs, "HOSTILE-MIB")
	g.Expect(c.Create(ctx, victim)).To(Succeed())
	cond := expectCondition(t, c, victim, v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.MIBNotFoundReason)
	g.Expect(cond.Message).To(And(ContainSubstring("spec.mibs[1]: MIB module HOSTILE-MIB was not loaded"),
		ContainSubstring("hostile/HOSTILE-MIB:124"), ContainSubstring("deeper than 128")))
}

// gzipped compresses b, as a MIB over a ConfigMap's 1 MiB is stored.
func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
