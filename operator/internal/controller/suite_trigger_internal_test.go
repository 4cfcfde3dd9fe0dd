package controller

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

func TestTriggerText(t *testing.T) {
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprintf("PDU dc1/rack-%02d", i)
	}
	cases := []struct {
		name string
		what []string
		want string
	}{
		{"one", []string{"PDU dc1/rack1"}, "PDU dc1/rack1"},
		{"two", []string{"PDU dc1/a", "PDUModel apc"}, "PDU dc1/a; PDUModel apc"},
		{"many", many, strings.Join(many[:11], "; ") + " (+29 more)"},
		{"one too long", []string{"PDU dc1/" + strings.Repeat("x", 250)}, "PDU dc1/" + strings.Repeat("x", 189) + "…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := triggerText(tc.what)
			if got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
			if len(got) > maxTrigger {
				t.Errorf("%d bytes, more than the runtime's %d", len(got), maxTrigger)
			}
		})
	}
}

func TestSelects(t *testing.T) {
	obj := func(ns string, labels map[string]string) client.Object {
		p := &v1alpha1.PDU{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p", Labels: labels}}
		return p
	}
	suite := func(ts ...v1alpha1.SuiteTrigger) *v1alpha1.Suite {
		return &v1alpha1.Suite{Spec: v1alpha1.SuiteSpec{Triggers: ts}}
	}
	r1 := &metav1.LabelSelector{MatchLabels: map[string]string{"room": "r1"}}
	cases := []struct {
		name  string
		suite *v1alpha1.Suite
		kind  v1alpha1.TriggerKind
		objs  []client.Object
		want  bool
	}{
		{"no triggers", suite(), v1alpha1.TriggerPDU, []client.Object{obj("dc1", nil)}, false},
		{"any PDU", suite(v1alpha1.SuiteTrigger{Kind: v1alpha1.TriggerPDU}), v1alpha1.TriggerPDU, []client.Object{obj("dc1", nil)}, true},
		{"other kind", suite(v1alpha1.SuiteTrigger{Kind: v1alpha1.TriggerPDUModel}), v1alpha1.TriggerPDU, []client.Object{obj("dc1", nil)}, false},
		{"other namespace", suite(v1alpha1.SuiteTrigger{Kind: v1alpha1.TriggerPDU, Namespace: "dc2"}), v1alpha1.TriggerPDU, []client.Object{obj("dc1", nil)}, false},
		{"selector matches", suite(v1alpha1.SuiteTrigger{Kind: v1alpha1.TriggerPDU, Selector: r1}), v1alpha1.TriggerPDU, []client.Object{obj("dc1", map[string]string{"room": "r1"})}, true},
		{"selector does not match", suite(v1alpha1.SuiteTrigger{Kind: v1alpha1.TriggerPDU, Selector: r1}), v1alpha1.TriggerPDU, []client.Object{obj("dc1", map[string]string{"room": "r2"})}, false},
		// An object leaving the selector is a change too: its old labels matched.
		{"leaving the selector", suite(v1alpha1.SuiteTrigger{Kind: v1alpha1.TriggerPDU, Selector: r1}), v1alpha1.TriggerPDU,
			[]client.Object{obj("dc1", map[string]string{"room": "r1"}), obj("dc1", map[string]string{"room": "r2"})}, true},
	}
	for _, tc := range cases {
		if got := selects(tc.suite, tc.kind, tc.objs); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
