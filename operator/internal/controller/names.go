package controller

import (
	"crypto/sha256"
	"encoding/hex"
)

// ModuleConfigMapName is the ConfigMap holding a model's last good compiled module.
func ModuleConfigMapName(model string) string { return childName("wattson-model-", model) }

// childName prefixes name, shortening it with a hash when the result would exceed the 253
// characters an object name may have.
func childName(prefix, name string) string {
	if len(prefix)+len(name) <= 253 {
		return prefix + name
	}
	sum := sha256.Sum256([]byte(name))
	return prefix + name[:253-len(prefix)-9] + "-" + hex.EncodeToString(sum[:4])
}
