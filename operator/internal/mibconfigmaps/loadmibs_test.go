package mibconfigmaps_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/manager"
	"github.com/wattson-dev/wattson/operator/internal/mib"
	"github.com/wattson-dev/wattson/operator/internal/mibconfigmaps"
)

func TestMaxMIBSizeIsTheLoaderLimit(t *testing.T) {
	if mibconfigmaps.MaxMIBSize != mib.DefaultLimits.MaxFileSize {
		t.Fatalf("mibconfigmaps.MaxMIBSize %d != mib.DefaultLimits.MaxFileSize %d", mibconfigmaps.MaxMIBSize, mib.DefaultLimits.MaxFileSize)
	}
}

// TestLoadMIBsGzipBomb stores a gzip bomb (1 GiB of zeros in 1 MB) beside a good MIB ConfigMap on
// a real apiserver: the bomb is left out with a problem naming its key, the good file loads.
func TestLoadMIBsGzipBomb(t *testing.T) {
	cfg, _ := testenv.Kube(t, testenv.KubeOptions{})
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g := NewWithT(t)
	const ns = "wattson-system"
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for range 1 << 10 {
		_, _ = zw.Write(zero)
	}
	_ = zw.Close()
	label := map[string]string{v1alpha1.MIBLabel: "true"}
	g.Expect(c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bomb", Labels: label},
		BinaryData: map[string][]byte{"BOMB-MIB.gz": bomb.Bytes()}})).To(Succeed())
	g.Expect(c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "good", Labels: label},
		Data: map[string]string{"GOOD-MIB": "GOOD-MIB DEFINITIONS ::= BEGIN\nEND\n"}})).To(Succeed())

	set, err := mibconfigmaps.LoadMIBs(ctx, c, ns)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(set.Modules).To(HaveKeyWithValue("GOOD-MIB", "good/GOOD-MIB"))
	g.Expect(set.Files).NotTo(HaveKey("bomb/BOMB-MIB"))
	g.Expect(set.Problems).To(HaveLen(1))
	g.Expect(set.Problems[0].String()).To(And(ContainSubstring("bomb/BOMB-MIB"), ContainSubstring("key BOMB-MIB.gz"),
		ContainSubstring("more than 8388608 bytes")))
	g.Expect(strings.Contains(set.Problems[0].String(), "not loaded")).To(BeTrue())
}
