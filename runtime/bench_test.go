package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wattson-dev/wattson/runtime/internal/suitetest"
)

// BenchmarkDevEditToResult measures dev mode from a one-line spec edit to the new result in the
// history API (target < 5 s): detect, go test -c, run, parse, record.
func BenchmarkDevEditToResult(b *testing.B) {
	if _, err := exec.LookPath("go"); err != nil {
		b.Skip("go toolchain not found")
	}
	base, src := startDev(b)
	prev := waitNewRun(b, base, "").ID
	b.ResetTimer()
	for i := range b.N {
		old, new := "Equal(2)", "Equal(2) /* edit */"
		if i%2 == 1 {
			old, new = new, old
		}
		suitetest.Edit(b, src, old, new)
		prev = waitNewRun(b, base, prev).ID
	}
}

// BenchmarkDevBinarySaveToResult measures dev mode with a suite compiled elsewhere
// (--dev.watch-binary), as on the test cluster, from a one-line spec edit to the new result in
// the history API: go test -c on this machine (what hack/cluster/devsync.sh runs), a copy in place
// with its sha256 (what the tar through kubectl exec does), detect, install, run, record. Only
// skaffold's reaction to the save and the copy through the apiserver are left out.
func BenchmarkDevBinarySaveToResult(b *testing.B) {
	if _, err := exec.LookPath("go"); err != nil {
		b.Skip("go toolchain not found")
	}
	dir := suitetest.Module(b, "passing")
	src := filepath.Join(dir, "passing_test.go")
	out := filepath.Join(b.TempDir(), "specs.test")
	compile := func() []byte {
		cmd := exec.Command("go", "test", "-c", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "CGO_ENABLED=0")
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go test -c: %v\n%s", err, o)
		}
		bin, err := os.ReadFile(out)
		if err != nil {
			b.Fatal(err)
		}
		return bin
	}
	seed := compile()
	watched := filepath.Join(b.TempDir(), "specs.test")
	if err := os.WriteFile(watched, seed, 0o755); err != nil {
		b.Fatal(err)
	}
	base, _ := startRuntime(b, "--specs.binary="+watched, "--dev.watch-binary="+watched, "--dev.poll=100ms",
		"--specs.interval=1h", "--rerun.debounce=0")
	prev := waitNewRun(b, base, "").ID
	b.ResetTimer()
	for i := range b.N {
		// A change the binary shows (a comment would compile to the same bytes: no new binary).
		old, new := `Println("adding")`, `Println("adding, edited")`
		if i%2 == 1 {
			old, new = new, old
		}
		suitetest.Edit(b, src, old, new)
		bin := compile()
		sum := sha256.Sum256(bin)
		if err := os.WriteFile(watched, bin, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(watched+".sha256", []byte(hex.EncodeToString(sum[:])+"  specs.test\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		prev = waitNewRun(b, base, prev).ID
	}
}
