package kube

import (
	"fmt"
	"slices"
	"strings"

	"github.com/onsi/gomega/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HaveCondition succeeds when the object's status.conditions has condType with the given status
// (and, when given, one of the reasons), and the condition is not stale: if it records an
// observedGeneration, that is the object's metadata.generation. Works on any object whose
// conditions follow the metav1.Condition shape (PDU, PDUModel, Deployment, ...).
func HaveCondition(condType string, status metav1.ConditionStatus, reasons ...string) types.GomegaMatcher {
	return &haveCondition{typ: condType, status: status, reasons: reasons}
}

type haveCondition struct {
	typ     string
	status  metav1.ConditionStatus
	reasons []string
	why     string
}

type condition struct {
	Type, Status, Reason, Message string
	ObservedGeneration            int64
}

func conditionsOf(obj map[string]any) []condition {
	st, _ := obj["status"].(map[string]any)
	list, _ := st["conditions"].([]any)
	var out []condition
	for _, e := range list {
		m, _ := e.(map[string]any)
		c := condition{}
		c.Type, _ = m["type"].(string)
		c.Status, _ = m["status"].(string)
		c.Reason, _ = m["reason"].(string)
		c.Message, _ = m["message"].(string)
		if g, ok := m["observedGeneration"].(float64); ok {
			c.ObservedGeneration = int64(g)
		}
		out = append(out, c)
	}
	return out
}

func (c condition) String() string {
	s := c.Type + "=" + c.Status
	if c.Reason != "" || c.Message != "" {
		s += " (" + c.Reason
		if c.Message != "" {
			s += ": " + c.Message
		}
		s += ")"
	}
	return s
}

func (m *haveCondition) Match(actual any) (bool, error) {
	obj, err := toMap(actual)
	if err != nil {
		return false, fmt.Errorf("HaveCondition: %w", err)
	}
	name := describeObject(obj)
	conds := conditionsOf(obj)
	var gen int64
	if md, ok := obj["metadata"].(map[string]any); ok {
		if g, ok := md["generation"].(float64); ok {
			gen = int64(g)
		}
	}
	for _, c := range conds {
		if c.Type != m.typ {
			continue
		}
		switch {
		case c.Status != string(m.status):
			m.why = fmt.Sprintf("%s: condition %s is %s, want %s", name, m.typ, c, m.status)
		case len(m.reasons) > 0 && !slices.Contains(m.reasons, c.Reason):
			m.why = fmt.Sprintf("%s: condition %s has reason %q, want %s", name, c, c.Reason, strings.Join(m.reasons, " or "))
		case c.ObservedGeneration != 0 && gen != 0 && c.ObservedGeneration < gen:
			m.why = fmt.Sprintf("%s: condition %s describes generation %d, but the object is at generation %d (the controller has not caught up)", name, c, c.ObservedGeneration, gen)
		default:
			return true, nil
		}
		return false, nil
	}
	all := make([]string, len(conds))
	for i, c := range conds {
		all[i] = c.String()
	}
	m.why = fmt.Sprintf("%s has no condition %s; its conditions: [%s]", name, m.typ, strings.Join(all, ", "))
	return false, nil
}

func (m *haveCondition) FailureMessage(any) string {
	return "Expected condition " + m.typ + "=" + string(m.status) + ": " + m.why
}

func (m *haveCondition) NegatedFailureMessage(any) string {
	return fmt.Sprintf("Expected condition %s not to be %s", m.typ, m.status)
}
