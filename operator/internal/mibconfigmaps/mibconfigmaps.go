// Package mibconfigmaps reads and writes the MIB library: ConfigMaps labelled wattson.dev/mib=true
// in the operator's namespace, one MIB file per key, gzipped when large.
package mibconfigmaps

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

// MIBSet is every MIB file in the ConfigMaps labelled wattson.dev/mib=true.
type MIBSet struct {
	// Files maps "configmap/key" to the file's content (.gz keys decompressed, suffix dropped).
	Files map[string][]byte
	// Modules maps a MIB module name to the first file defining it.
	Modules map[string]string
	// Hash identifies the set's content.
	Hash string
}

// ModuleHeader finds "NAME DEFINITIONS ::= BEGIN", as net-snmp indexes MIB directories.
var ModuleHeader = regexp.MustCompile(`(?m)^[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t\r\n]+DEFINITIONS[ \t\r\n]*(?:[A-Z]+[ \t]+TAGS[ \t\r\n]*)?::=[ \t\r\n]*BEGIN`)

// MaxMIBSize bounds one decompressed MIB file.
const MaxMIBSize = 16 << 20

// GzipAbove is the size from which Put stores a file gzipped in binaryData: a ConfigMap holds at
// most 1 MiB.
const GzipAbove = 512 << 10

// LoadMIBs reads the MIB ConfigMaps of namespace; binaryData keys count too. Keys ending in .gz
// are gunzipped: PowerNet-MIB is 2.9 MB, above a ConfigMap's 1 MiB, and 350 kB compressed, so
// `gzip -k PowerNet-MIB && kubectl create configmap apc-mibs --from-file=PowerNet-MIB.gz` works.
func LoadMIBs(ctx context.Context, c client.Reader, namespace string) (*MIBSet, error) {
	var list corev1.ConfigMapList
	if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabels{v1alpha1.MIBLabel: "true"}); err != nil {
		return nil, fmt.Errorf("listing MIB ConfigMaps: %w", err)
	}
	set := &MIBSet{Files: map[string][]byte{}, Modules: map[string]string{}}
	for _, cm := range list.Items {
		for k, v := range cm.Data {
			set.Files[cm.Name+"/"+k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			set.Files[cm.Name+"/"+k] = v
		}
		for k, v := range set.Files {
			if !strings.HasSuffix(k, ".gz") || !strings.HasPrefix(k, cm.Name+"/") {
				continue
			}
			delete(set.Files, k)
			plain, err := Gunzip(v)
			if err != nil {
				return nil, fmt.Errorf("ConfigMap %s/%s key %s: %w", namespace, cm.Name, strings.TrimPrefix(k, cm.Name+"/"), err)
			}
			set.Files[strings.TrimSuffix(k, ".gz")] = plain
		}
	}
	names := make([]string, 0, len(set.Files))
	for n := range set.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([][]byte, 0, 2*len(names))
	for _, n := range names {
		parts = append(parts, []byte(n), set.Files[n])
		for _, m := range ModuleHeader.FindAllSubmatch(set.Files[n], -1) {
			if _, ok := set.Modules[string(m[1])]; !ok {
				set.Modules[string(m[1])] = n
			}
		}
	}
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	set.Hash = hex.EncodeToString(h.Sum(nil))
	return set, nil
}

// Gunzip decompresses a gzipped MIB file, refusing more than MaxMIBSize bytes.
func Gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, MaxMIBSize+1))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	if len(out) > MaxMIBSize {
		return nil, fmt.Errorf("gunzip: more than %d bytes", MaxMIBSize)
	}
	return out, nil
}

// Put stores MIB files (file name -> content) in cm, replacing any earlier version of each file
// (plain or gzipped): files up to GzipAbove bytes as data keys, larger ones gzipped as binaryData
// keys with a .gz suffix, which LoadMIBs reads back transparently. It labels cm as a MIB
// ConfigMap.
func Put(cm *corev1.ConfigMap, files map[string][]byte) {
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels[v1alpha1.MIBLabel] = "true"
	for k, v := range files {
		delete(cm.Data, k)
		delete(cm.BinaryData, k+".gz")
		if len(v) <= GzipAbove {
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[k] = string(v)
			continue
		}
		if cm.BinaryData == nil {
			cm.BinaryData = map[string][]byte{}
		}
		cm.BinaryData[k+".gz"] = Gzip(v)
	}
}

// Gzip compresses a MIB file at the best compression, as Put stores it.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // only an invalid level fails
	_, _ = zw.Write(b)                                       // a bytes.Buffer does not fail
	_ = zw.Close()
	return buf.Bytes()
}
