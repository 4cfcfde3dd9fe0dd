package mibconfigmaps

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
)

func TestPut(t *testing.T) {
	small := []byte("SMALL-MIB DEFINITIONS ::= BEGIN\nEND\n")
	large := bytes.Repeat([]byte("-- a comment line of a large MIB\n"), GzipAbove/32+1)
	tests := []struct {
		name      string
		before    corev1.ConfigMap
		files     map[string][]byte
		wantData  []string // keys in data
		wantGzip  []string // keys in binaryData (with .gz)
		wantGone  []string // keys in neither
		roundTrip map[string][]byte
	}{
		{name: "small file as data", files: map[string][]byte{"SMALL-MIB": small},
			wantData: []string{"SMALL-MIB"}, roundTrip: map[string][]byte{"SMALL-MIB": small}},
		{name: "large file gzipped as binaryData", files: map[string][]byte{"PowerNet-MIB": large},
			wantGzip: []string{"PowerNet-MIB.gz"}, wantGone: []string{"PowerNet-MIB"}, roundTrip: map[string][]byte{"PowerNet-MIB.gz": large}},
		{name: "a new version replaces the gzipped one",
			before: corev1.ConfigMap{BinaryData: map[string][]byte{"SMALL-MIB.gz": Gzip(large)}, Data: map[string]string{"OTHER-MIB": "x"}},
			files:  map[string][]byte{"SMALL-MIB": small}, wantData: []string{"SMALL-MIB", "OTHER-MIB"}, wantGone: []string{"SMALL-MIB.gz"}},
		{name: "a new version replaces the plain one",
			before: corev1.ConfigMap{Data: map[string]string{"PowerNet-MIB": "old"}},
			files:  map[string][]byte{"PowerNet-MIB": large}, wantGzip: []string{"PowerNet-MIB.gz"}, wantGone: []string{"PowerNet-MIB"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cm := tc.before.DeepCopy()
			Put(cm, tc.files)
			if cm.Labels[v1alpha1.MIBLabel] != "true" {
				t.Errorf("label %s = %q, want true", v1alpha1.MIBLabel, cm.Labels[v1alpha1.MIBLabel])
			}
			for _, k := range tc.wantData {
				if _, ok := cm.Data[k]; !ok {
					t.Errorf("data has no key %s: %v", k, cm.Data)
				}
			}
			for _, k := range tc.wantGzip {
				if _, ok := cm.BinaryData[k]; !ok {
					t.Errorf("binaryData has no key %s", k)
				}
			}
			for _, k := range tc.wantGone {
				_, inData := cm.Data[k]
				_, inBinary := cm.BinaryData[k]
				if inData || inBinary {
					t.Errorf("key %s is still there", k)
				}
			}
			for k, want := range tc.roundTrip {
				got := []byte(cm.Data[k])
				if b, ok := cm.BinaryData[k]; ok {
					var err error
					if got, err = Gunzip(b); err != nil {
						t.Fatalf("gunzip %s: %v", k, err)
					}
					if len(b) >= len(want) {
						t.Errorf("%s: %d bytes gzipped, not smaller than %d", k, len(b), len(want))
					}
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: read back %d bytes, want %d", k, len(got), len(want))
				}
			}
		})
	}
}
