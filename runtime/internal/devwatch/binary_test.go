package devwatch_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/runtime/internal/devwatch"
	"github.com/wattson-dev/wattson/runtime/internal/suitetest"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// write writes b over path in place, as tar and cp do (no rename).
func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestBinaryInstallsOnlyCompleteBinaries(t *testing.T) {
	passing := read(t, suitetest.Binary(t, "passing"))
	failing := read(t, suitetest.Binary(t, "failing"))
	watched := filepath.Join(t.TempDir(), "specs.test")
	b := &devwatch.Binary{Path: watched, Dir: t.TempDir()}
	const fallback = "/specs.test"

	if _, err := b.Install(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no file: got %v, want not exist", err)
	}
	// Cut short anywhere: never installed.
	for _, n := range []int{0, 3, 64, 4096, len(passing) / 2, len(passing) - 1} {
		write(t, watched, passing[:n])
		ok, err := b.Install()
		var inc *devwatch.IncompleteError
		if ok || !errors.As(err, &inc) {
			t.Fatalf("first %d of %d bytes: installed=%v err=%v, want an IncompleteError", n, len(passing), ok, err)
		}
		if got := b.Current(fallback); got != fallback {
			t.Fatalf("first %d bytes: current %s, want the fallback", n, got)
		}
	}
	write(t, watched, passing)
	if ok, err := b.Install(); !ok || err != nil {
		t.Fatalf("whole binary: installed=%v err=%v", ok, err)
	}
	first := b.Current(fallback)
	if first == fallback || sha(read(t, first)) != sha(passing) || b.Digest() != sha(passing) {
		t.Fatalf("installed %s is not the binary", first)
	}
	if fi, _ := os.Stat(first); fi.Mode()&0o111 == 0 {
		t.Fatalf("installed copy is not executable: %s", fi.Mode())
	}
	if ok, err := b.Install(); ok || err != nil {
		t.Fatalf("same binary again: installed=%v err=%v, want nothing new", ok, err)
	}

	// A digest file beside it: a binary that does not match waits for the pair to agree.
	write(t, watched, failing)
	write(t, watched+".sha256", []byte(sha(passing)+"  specs.test\n"))
	if ok, err := b.Install(); ok || err == nil {
		t.Fatalf("binary with another's digest: installed=%v err=%v", ok, err)
	}
	write(t, watched+".sha256", []byte(sha(failing)[:20]))
	if ok, err := b.Install(); ok || err == nil {
		t.Fatalf("half-written digest: installed=%v err=%v", ok, err)
	}
	write(t, watched+".sha256", []byte(sha(failing)+"  specs.test\n"))
	if ok, err := b.Install(); !ok || err != nil {
		t.Fatalf("binary and digest agree: installed=%v err=%v", ok, err)
	}
	if cur := b.Current(fallback); sha(read(t, cur)) != sha(failing) {
		t.Fatal("current is not the new binary")
	}
	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Errorf("the replaced copy %s is still there", first)
	}
	// Not an executable at all.
	write(t, watched, []byte("#!/bin/sh\necho hi\n"))
	os.Remove(watched + ".sha256")
	if ok, err := b.Install(); ok || err == nil {
		t.Fatalf("a script: installed=%v err=%v", ok, err)
	}
}

// TestBinaryWatchWaitsForTheWriter: a slow copy in place, chunk by chunk with pauses longer than
// the poll, is looked at while partial (and rejected) and installed once, whole, when it ends.
func TestBinaryWatchWaitsForTheWriter(t *testing.T) {
	passing := read(t, suitetest.Binary(t, "passing"))
	failing := read(t, suitetest.Binary(t, "failing"))
	watched := filepath.Join(t.TempDir(), "specs.test")
	write(t, watched, passing)
	b := &devwatch.Binary{Path: watched, Dir: t.TempDir()}
	if ok, err := b.Install(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	var mu sync.Mutex
	var installed []string
	rejected := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const poll = 10 * time.Millisecond
	go b.Watch(ctx, poll, func(d string) {
		mu.Lock()
		installed = append(installed, d)
		mu.Unlock()
	}, func(err error) {
		var inc *devwatch.IncompleteError
		if !errors.As(err, &inc) {
			t.Errorf("rejected with %v, want an IncompleteError", err)
		}
		mu.Lock()
		rejected++
		mu.Unlock()
	})

	f, err := os.OpenFile(watched, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	chunk := len(failing)/8 + 1
	for off := 0; off < len(failing); off += chunk {
		if _, err := f.Write(failing[off:min(off+chunk, len(failing))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(6 * poll)
		mu.Lock()
		n := len(installed)
		mu.Unlock()
		if n > 0 && off+chunk < len(failing) {
			t.Fatalf("installed after %d of %d bytes", off+chunk, len(failing))
		}
	}
	f.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n, r := len(installed), rejected
		mu.Unlock()
		if n > 0 {
			if n != 1 || installed[0] != sha(failing) {
				t.Fatalf("installed %v, want once %s", installed, sha(failing)[:12])
			}
			if r == 0 {
				t.Fatal("the watcher never looked at the partial file: the test proves nothing")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the whole binary was never installed")
		}
		time.Sleep(poll)
	}
	if sha(read(t, b.Current(""))) != sha(failing) {
		t.Fatal("current is not the new binary")
	}
}

// TestBinaryFocus: the focus file counts only for the binary whose digest it names, once, and
// only when it holds plain Go file names.
func TestBinaryFocus(t *testing.T) {
	passing := read(t, suitetest.Binary(t, "passing"))
	failing := read(t, suitetest.Binary(t, "failing"))
	watched := filepath.Join(t.TempDir(), "specs.test")
	b := &devwatch.Binary{Path: watched, Dir: t.TempDir()}
	install := func(bin []byte, focus string) []string {
		t.Helper()
		write(t, watched+devwatch.FocusSuffix, []byte(focus))
		write(t, watched, bin)
		write(t, watched+".sha256", []byte(sha(bin)+"  specs.test\n"))
		if ok, err := b.Install(); !ok || err != nil {
			t.Fatalf("installed=%v err=%v", ok, err)
		}
		return b.TakeFocus()
	}
	if got := install(passing, "sha256 "+sha(passing)+"\npower_test.go\nenergy_test.go\npower_test.go\n"); len(got) != 2 || got[0] != "power_test.go" || got[1] != "energy_test.go" {
		t.Errorf("focus %q, want [power_test.go energy_test.go]", got)
	}
	if got := b.TakeFocus(); got != nil {
		t.Errorf("focus taken twice: %q", got)
	}
	// Each case installs the other binary, so that Install sees a new one every time.
	bins := [][]byte{failing, passing}
	for i, tc := range []struct {
		name  string
		focus func(digest string) string
	}{
		{"another binary's", func(string) string { return "sha256 " + sha(passing) + "\npower_test.go\n" }},
		{"no digest line", func(string) string { return "power_test.go\n" }},
		{"a path", func(d string) string { return "sha256 " + d + "\n../etc/passwd.go\n" }},
		{"not a Go file", func(d string) string { return "sha256 " + d + "\npower_test.go\nREADME.md\n" }},
		{"a line range", func(d string) string { return "sha256 " + d + "\npower_test.go:12\n" }},
		{"only the digest", func(d string) string { return "sha256 " + d + "\n" }},
	} {
		bin := bins[i%2]
		if tc.name == "another binary's" && sha(bin) == sha(passing) {
			t.Fatal("the case needs the failing binary")
		}
		if got := install(bin, tc.focus(sha(bin))); got != nil {
			t.Errorf("%s focus file: focus %q, want none", tc.name, got)
		}
	}
	// And a good one again after all that.
	if got := install(failing, "sha256 "+sha(failing)+"\nenergy_test.go\n"); len(got) != 1 || got[0] != "energy_test.go" {
		t.Errorf("focus %q, want [energy_test.go]", got)
	}
}
