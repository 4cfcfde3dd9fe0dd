package render

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/prometheus/snmp_exporter/config"
	corev1 "k8s.io/api/core/v1"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/generator"
)

// Credentials are what a PDU's Secret holds for its SNMP version.
type Credentials struct {
	Community    string
	Username     string
	AuthPassword string
	PrivPassword string
}

// SecretKeys returns the Secret keys the PDU's SNMP settings need.
func SecretKeys(s *v1alpha1.SNMP) []string {
	if version(s) != v1alpha1.SNMPv3 {
		return []string{v1alpha1.CommunityKey}
	}
	switch s.SecurityLevel {
	case v1alpha1.AuthPriv:
		return []string{v1alpha1.UsernameKey, v1alpha1.AuthPasswordKey, v1alpha1.PrivPasswordKey}
	case v1alpha1.AuthNoPriv:
		return []string{v1alpha1.UsernameKey, v1alpha1.AuthPasswordKey}
	default:
		return []string{v1alpha1.UsernameKey}
	}
}

// CredentialsFrom reads the keys the SNMP settings need from secret. The error names the missing
// key and the field that points at the Secret.
func CredentialsFrom(s *v1alpha1.SNMP, secret *corev1.Secret) (Credentials, error) {
	for _, k := range SecretKeys(s) {
		if len(secret.Data[k]) == 0 {
			return Credentials{}, fieldErr("spec.snmp.secretRef", "Secret %s/%s has no key %q, which SNMP %s needs", secret.Namespace, secret.Name, k, version(s))
		}
	}
	return Credentials{
		Community:    string(secret.Data[v1alpha1.CommunityKey]),
		Username:     string(secret.Data[v1alpha1.UsernameKey]),
		AuthPassword: string(secret.Data[v1alpha1.AuthPasswordKey]),
		PrivPassword: string(secret.Data[v1alpha1.PrivPasswordKey]),
	}, nil
}

func version(s *v1alpha1.SNMP) v1alpha1.SNMPVersion {
	if s.Version == "" {
		return v1alpha1.SNMPv2c
	}
	return s.Version
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// AuthName is the snmp_exporter auth a PDU is scraped with. PDUs that share a Secret and the same
// SNMP settings share one auth, so 10,000 PDUs with one community make one auth. The hash keeps
// names distinct when settings differ; the prefix keeps them readable.
func AuthName(pdu *v1alpha1.PDU) string {
	s := &pdu.Spec.SNMP
	key := strings.Join([]string{pdu.Namespace, s.SecretRef.Name, string(version(s)), string(s.SecurityLevel),
		string(s.AuthProtocol), string(s.PrivProtocol), s.ContextName}, "\x00")
	sum := sha256.Sum256([]byte(key))
	return unsafeName.ReplaceAllString(pdu.Namespace+"_"+s.SecretRef.Name, "_") + "_" + hex.EncodeToString(sum[:4])
}

// envName is the environment variable holding one SNMPv3 secret of an auth.
func envName(auth, what string) string {
	return "WATTSON_" + strings.ToUpper(unsafeName.ReplaceAllString(auth, "_")) + "_" + what
}

// Auth builds the snmp_exporter auth of a PDU. Communities are written inline (snmp_exporter
// cannot read them from the environment), so the rendered snmp.yml must live in a Secret. SNMPv3
// user names and keys become ${VAR} references, expanded by snmp_exporter's
// --config.expand-environment-variables from env, returned here (variable -> value).
func Auth(pdu *v1alpha1.PDU, c Credentials) (*config.Auth, map[string]string) {
	s := &pdu.Spec.SNMP
	a := &config.Auth{SecurityLevel: "noAuthNoPriv", AuthProtocol: "MD5", PrivProtocol: "DES"}
	switch version(s) {
	case v1alpha1.SNMPv1:
		a.Version = 1
		a.Community = config.Secret(c.Community)
		return a, nil
	case v1alpha1.SNMPv2c:
		a.Version = 2
		a.Community = config.Secret(c.Community)
		return a, nil
	}
	name := AuthName(pdu)
	env := map[string]string{}
	ref := func(what, value string) string {
		v := envName(name, what)
		env[v] = value
		return "${" + v + "}"
	}
	a.Version = 3
	a.Community = "public" // snmp_exporter's default; unused by v3
	a.ContextName = s.ContextName
	a.Username = ref("USERNAME", c.Username)
	if s.SecurityLevel != "" {
		a.SecurityLevel = string(s.SecurityLevel)
	}
	if s.AuthProtocol != "" {
		a.AuthProtocol = string(s.AuthProtocol)
	}
	if s.PrivProtocol != "" {
		a.PrivProtocol = string(s.PrivProtocol)
	}
	switch s.SecurityLevel {
	case v1alpha1.AuthPriv:
		a.PrivPassword = config.Secret(ref("PRIV_PASSWORD", c.PrivPassword))
		fallthrough
	case v1alpha1.AuthNoPriv:
		a.Password = config.Secret(ref("AUTH_PASSWORD", c.AuthPassword))
	}
	return a, env
}

// SNMPConfig renders snmp.yml from modules and auths, re-parsed strictly by snmp_exporter's
// config package before it is returned.
func SNMPConfig(modules map[string]*config.Module, auths map[string]*config.Auth) ([]byte, error) {
	out, err := generator.MarshalConfig(&config.Config{Modules: modules, Auths: auths})
	if err != nil {
		return nil, fmt.Errorf("rendering snmp.yml: %w", err)
	}
	return out, nil
}
