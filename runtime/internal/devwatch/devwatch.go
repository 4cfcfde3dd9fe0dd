// Package devwatch is the runtime's dev mode, in two kinds. Builder polls the spec sources for
// changes (polling, not inotify, so it works with skaffold file sync and network file systems),
// rebuilds the suite with the Go toolchain and asks for a rerun. Binary watches for a suite
// compiled elsewhere and copied in, and installs each complete one: the pod then needs no Go
// toolchain, and the build uses the developer's warm build cache.
package devwatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Builder compiles the suite package into Output when its sources changed.
type Builder struct {
	// Dir is the folder watched and the working directory of `go test -c` (a module folder).
	Dir string
	// Package is the suite's package, relative to Dir (./specs).
	Package string
	// Output is the compiled suite binary (the runtime's --specs.binary).
	Output string
	// Go is the go command; "go" when empty.
	Go string

	mu    sync.Mutex
	built string // sources hash of the last successful build
}

// Hash returns a digest of the sources under Dir: path, size, mtime and, for files whose mtime
// is unreliable (file sync may preserve it), their content. Only .go files and go.mod/go.sum count.
func (b *Builder) Hash() (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(b.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != b.Dir && (strings.HasPrefix(name, ".") || name == "vendor" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") && name != "go.mod" && name != "go.sum" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", path, fi.Size(), fi.ModTime().UnixNano())
		// Content too: skaffold sync and some editors keep mtime and size for a one-character edit.
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(h, f)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("hash sources in %s: %w", b.Dir, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// BuildError is a failed build, with the compiler's output.
type BuildError struct {
	Package string
	Output  string
	Err     error
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("build %s: %v\n%s", e.Package, e.Err, e.Output)
}

// Build runs `go test -c -o Output Package` in Dir unless the sources are unchanged since the
// last successful build. It returns a *BuildError when compilation fails.
func (b *Builder) Build(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	hash, err := b.Hash()
	if err != nil {
		return err
	}
	if hash == b.built {
		if _, err := os.Stat(b.Output); err == nil {
			return nil
		}
	}
	gobin := b.Go
	if gobin == "" {
		gobin = "go"
	}
	out, err := filepath.Abs(b.Output)
	if err != nil {
		return err
	}
	// Build next to the target and rename, so a run never sees a half-written binary.
	tmp := out + ".building"
	cmd := exec.CommandContext(ctx, gobin, "test", "-c", "-o", tmp, b.Package)
	cmd.Dir = b.Dir
	output, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return &BuildError{Package: b.Package, Output: strings.TrimSpace(string(output)), Err: err}
	}
	if _, err := os.Stat(tmp); err != nil {
		// go test -c writes nothing for a package without tests.
		return &BuildError{Package: b.Package, Output: strings.TrimSpace(string(output)), Err: fmt.Errorf("no test binary produced (package has no _test.go files?)")}
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("install suite binary: %w", err)
	}
	b.built = hash
	return nil
}

// Watch polls the sources every poll and calls changed when their hash differs from the last
// one seen and has settled, until ctx ends.
func (b *Builder) Watch(ctx context.Context, poll time.Duration, changed func()) error {
	last, err := b.Hash()
	if err != nil {
		return err
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		h, err := b.Hash()
		if err != nil {
			continue // a file removed mid-walk (editors do this); look again next tick
		}
		if h == last {
			continue
		}
		// Wait for the writes to settle (the same hash on two polls in a row), so that a file
		// caught half-written does not cause a spurious failed build.
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			h2, err := b.Hash()
			if err == nil && h2 == h {
				break
			}
			h = h2
		}
		last = h
		changed()
	}
}
