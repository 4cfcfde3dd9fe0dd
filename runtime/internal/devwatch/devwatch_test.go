package devwatch_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wattson-dev/wattson/runtime/internal/devwatch"
	"github.com/wattson-dev/wattson/runtime/internal/suitetest"
)

func edit(t testing.TB, dir, old, new string) {
	t.Helper()
	suitetest.Edit(t, filepath.Join(dir, "passing_test.go"), old, new)
}

func TestBuildAndWatch(t *testing.T) {
	dir := suitetest.Module(t, "passing")
	out := filepath.Join(t.TempDir(), "specs.test")
	b := &devwatch.Builder{Dir: dir, Package: ".", Output: out}
	ctx := context.Background()
	if err := b.Build(ctx); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	// Unchanged sources: no rebuild.
	if err := b.Build(ctx); err != nil {
		t.Fatal(err)
	}
	if fi2, _ := os.Stat(out); !fi2.ModTime().Equal(fi.ModTime()) {
		t.Error("rebuilt unchanged sources")
	}

	changed := make(chan struct{}, 10)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = b.Watch(wctx, 20*time.Millisecond, func() { changed <- struct{}{} }) }()
	time.Sleep(100 * time.Millisecond)

	// A change that keeps size and mtime is still seen (file sync may preserve both).
	p := filepath.Join(dir, "passing_test.go")
	before, _ := os.Stat(p)
	edit(t, dir, "Equal(2)", "Equal(3)")
	_ = os.Chtimes(p, before.ModTime(), before.ModTime())
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("change not seen")
	}
	if err := b.Build(ctx); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(out, "--ginkgo.no-color")
	if o, err := run.CombinedOutput(); err == nil || !strings.Contains(string(o), "[FAILED] Expected") || !strings.Contains(string(o), "<int>: 3") {
		t.Errorf("rebuilt suite does not fail as edited: %v\n%s", err, o)
	}

	// A compile error is a BuildError with the compiler's output, and the old binary stays.
	edit(t, dir, "Equal(3)", "Equal(3")
	err = b.Build(ctx)
	var be *devwatch.BuildError
	if !errors.As(err, &be) || !strings.Contains(be.Output, "passing_test.go:11") {
		t.Fatalf("build error %v", err)
	}
	if _, err := os.Stat(out); err != nil {
		t.Error("failed build removed the last good binary")
	}
}
