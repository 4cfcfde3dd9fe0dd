package controller

import (
	"strings"
	"testing"
)

// TestCredentialsForbiddenMessage: the message names the field, the Secret and the exact
// `kubectl create rolebinding` for whoever the operator runs as.
func TestCredentialsForbiddenMessage(t *testing.T) {
	for _, tc := range []struct{ identity, subject, flag string }{
		{"system:serviceaccount:ops:wattson", "ServiceAccount ops/wattson", "--serviceaccount=ops:wattson"},
		{"alice", "user alice", "--user=alice"},
		{"", "the operator's ServiceAccount", "--serviceaccount=<operator namespace>:<operator ServiceAccount>"},
	} {
		t.Run(tc.identity, func(t *testing.T) {
			msg := credentialsForbidden(tc.identity)("spec.snmp.secretRef.name", "dc2", "snmp")
			for _, want := range []string{
				"spec.snmp.secretRef.name: the operator may not read Secret dc2/snmp: ",
				"ClusterRole wattson-credentials-reader to " + tc.subject + ";",
				"kubectl -n dc2 create rolebinding wattson-credentials-reader --clusterrole=wattson-credentials-reader " + tc.flag,
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
		})
	}
}
