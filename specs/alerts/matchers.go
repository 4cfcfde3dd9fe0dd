package alerts

import (
	"fmt"

	"github.com/onsi/gomega/format"
	"github.com/onsi/gomega/types"
)

func asList(actual any) (List, error) {
	switch l := actual.(type) {
	case List:
		return l, nil
	case *List:
		return *l, nil
	}
	return List{}, fmt.Errorf("alerts matcher expects an alerts.List (from Client.Poll or Client.Alerts), got %T", actual)
}

// BeFiring succeeds when Alertmanager holds at least one matching alert in state active: firing
// and neither silenced nor inhibited, so it reaches its receivers.
func BeFiring() types.GomegaMatcher { return &beFiring{} }

type beFiring struct{}

func (m *beFiring) Match(actual any) (bool, error) {
	l, err := asList(actual)
	if err != nil {
		return false, err
	}
	for _, a := range l.Alerts {
		if a.Status.State == "active" {
			return true, nil
		}
	}
	return false, nil
}

func (m *beFiring) FailureMessage(actual any) string {
	l, _ := asList(actual)
	if len(l.Alerts) == 0 {
		return fmt.Sprintf("Expected alert %s to be firing in Alertmanager, but Alertmanager holds no such alert", l.Query)
	}
	return fmt.Sprintf("Expected alert %s to be firing (state active), but none is:\n%s", l.Query, format.Object(actual, 1))
}

func (m *beFiring) NegatedFailureMessage(actual any) string {
	l, _ := asList(actual)
	return fmt.Sprintf("Expected alert %s not to be firing:\n%s", l.Query, format.Object(actual, 1))
}

// BeResolved succeeds when Alertmanager no longer holds any matching alert.
func BeResolved() types.GomegaMatcher { return &beResolved{} }

type beResolved struct{}

func (m *beResolved) Match(actual any) (bool, error) {
	l, err := asList(actual)
	if err != nil {
		return false, err
	}
	return len(l.Alerts) == 0, nil
}

func (m *beResolved) FailureMessage(actual any) string {
	l, _ := asList(actual)
	return fmt.Sprintf("Expected alert %s to be resolved, but Alertmanager still holds it:\n%s", l.Query, format.Object(actual, 1))
}

func (m *beResolved) NegatedFailureMessage(actual any) string {
	l, _ := asList(actual)
	return fmt.Sprintf("Expected Alertmanager to hold alert %s, but it holds none", l.Query)
}
