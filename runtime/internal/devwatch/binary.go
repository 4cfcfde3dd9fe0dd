package devwatch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Binary is dev mode for a suite compiled somewhere else (on the developer's machine, with its
// warm build cache) and copied in (skaffold's file sync, kubectl cp, a volume): it watches Path
// and installs each new complete binary found there as the one the runner executes, then asks
// for a rerun. The pod needs no Go toolchain.
//
// A copy in progress never runs. Copying tools write in place (tar unlinks and rewrites, cp
// truncates), so a rename cannot be relied on; a candidate must instead be
//   - a whole ELF file: every program segment and section lies inside it (a file cut short
//     misses the end of its last section);
//   - equal to the digest in Path+".sha256" (sha256sum's format) when that file exists, which
//     the sender writes with the binary, so a binary of the right shape but half-overwritten, or a
//     new binary beside an old digest, waits for the pair to agree;
//   - unchanged (size, modification time, inode, and the digest file's) over one poll.
//
// What runs is a copy in Dir, made and then checked: a copy that starts over Path meanwhile
// cannot change what runs, and the runner never executes a file something is writing.
type Binary struct {
	// Path is the watched file (e.g. /suite/specs.test, where the sync writes).
	Path string
	// Dir is where installed copies go (a private folder).
	Dir string

	mu        sync.Mutex
	installed string   // the installed copy, "" before the first
	digest    string   // sha256 of the installed copy
	focus     []string // the saved files of the installed copy, until taken
}

// FocusSuffix names the file beside Path that says which spec files the sender saved for this
// binary: a first line "sha256 DIGEST" (the binary's), then one file name a line. The runtime
// runs those files' specs first (a focused run), then the whole suite. A focus file of another
// binary, or none, means no focused run.
const FocusSuffix = ".focus"

// IncompleteError says why a candidate is not installed (yet).
type IncompleteError struct {
	Path   string
	Reason string
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("suite binary %s is not complete: %s", e.Path, e.Reason)
}

// Current is the binary to run: the last installed copy, or fallback before any.
func (b *Binary) Current(fallback string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.installed == "" {
		return fallback
	}
	return b.installed
}

// Install copies Path into Dir and makes the copy current if it is complete and differs from the
// current one. It reports whether a new binary was installed; an *IncompleteError when the file
// is not (yet) a whole binary; an error wrapping os.ErrNotExist when there is none.
func (b *Binary) Install() (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := os.MkdirAll(b.Dir, 0o700); err != nil {
		return false, fmt.Errorf("dev binary folder: %w", err)
	}
	tmp, err := os.CreateTemp(b.Dir, ".incoming-*")
	if err != nil {
		return false, fmt.Errorf("dev binary folder: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	digest, err := copyFile(tmp, b.Path)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if err := checkComplete(tmp.Name(), b.Path, digest); err != nil {
		return false, err
	}
	if digest == b.digest {
		return false, nil
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return false, err
	}
	// A new name per binary: a run still executing the previous copy keeps its file, and no
	// process ever execs a file that is open for writing.
	dst := filepath.Join(b.Dir, "specs-"+digest[:16]+".test")
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return false, fmt.Errorf("install suite binary: %w", err)
	}
	if b.installed != "" && b.installed != dst {
		os.Remove(b.installed) // a run executing it keeps the inode
	}
	b.installed, b.digest = dst, digest
	b.focus = readFocus(b.Path+FocusSuffix, digest)
	return true, nil
}

// TakeFocus returns the saved spec files of the installed binary once (nil after that, or
// when the sender named none).
func (b *Binary) TakeFocus() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.focus
	b.focus = nil
	return f
}

// maxFocus bounds the files of one focus: more saved files than that is a whole run anyway.
const maxFocus = 16

// readFocus reads a focus file for the binary with this digest: nil when there is none, when it
// names another binary, or when it names too many files. Only plain Go file names count.
func readFocus(path, digest string) []string {
	raw, err := os.ReadFile(path)
	if err != nil || len(raw) > 64<<10 {
		return nil
	}
	lines := strings.Split(string(raw), "\n")
	if f := strings.Fields(lines[0]); len(f) != 2 || f[0] != "sha256" || !strings.EqualFold(f[1], digest) {
		return nil
	}
	var files []string
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if !strings.HasSuffix(l, ".go") || strings.ContainsAny(l, "/\\:") || len(l) > 255 {
			return nil // not a file name the sender writes: no focus rather than a wrong one
		}
		if !slices.Contains(files, l) {
			files = append(files, l)
		}
	}
	if len(files) > maxFocus {
		return nil
	}
	return files
}

// Digest is the sha256 of the installed binary, "" before the first.
func (b *Binary) Digest() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.digest
}

// copyFile copies src into dst and returns the sha256 of what it copied.
func copyFile(dst io.Writer, src string) (string, error) {
	f, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("suite binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(dst, h), f); err != nil {
		return "", fmt.Errorf("copy suite binary %s: %w", src, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkComplete fails unless the copy at path is a whole ELF file and, when the watched file has
// a digest file beside it, has that digest.
func checkComplete(path, watched, digest string) error {
	incomplete := func(format string, args ...any) error {
		return &IncompleteError{Path: watched, Reason: fmt.Sprintf(format, args...)}
	}
	want, err := os.ReadFile(watched + ".sha256")
	switch {
	case err == nil:
		fields := strings.Fields(string(want))
		if len(fields) == 0 || len(fields[0]) != sha256.Size*2 {
			return incomplete("%s.sha256 holds no sha256 digest (yet)", filepath.Base(watched))
		}
		if !strings.EqualFold(fields[0], digest) {
			return incomplete("its sha256 is %s, %s.sha256 says %s", digest[:12], filepath.Base(watched), fields[0][:12])
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("suite binary digest: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil || !bytes.Equal(magic[:], []byte(elf.ELFMAG)) {
		return incomplete("not an ELF executable (%d bytes)", size)
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return incomplete("%v (%d bytes)", err, size)
	}
	if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
		return incomplete("ELF type %s, not an executable", ef.Type)
	}
	for _, p := range ef.Progs {
		if end := p.Off + p.Filesz; end > uint64(size) {
			return incomplete("segment at %d ends at byte %d of %d", p.Off, end, size)
		}
	}
	for _, s := range ef.Sections {
		if s.Type == elf.SHT_NOBITS || s.Type == elf.SHT_NULL {
			continue
		}
		if end := s.Offset + s.FileSize; end > uint64(size) {
			return incomplete("section %s ends at byte %d of %d", s.Name, end, size)
		}
	}
	return nil
}

// stamp identifies a version of the watched file and its digest file without reading them.
type stamp struct {
	size, dsize   int64
	mtime, dmtime time.Time
	ino, dino     uint64
	exists        bool
}

func (b *Binary) stamp() stamp {
	var s stamp
	if fi, err := os.Stat(b.Path); err == nil {
		s.exists, s.size, s.mtime, s.ino = true, fi.Size(), fi.ModTime(), inode(fi)
	}
	if fi, err := os.Stat(b.Path + ".sha256"); err == nil {
		s.dsize, s.dmtime, s.dino = fi.Size(), fi.ModTime(), inode(fi)
	}
	return s
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// Watch polls Path every poll until ctx ends. When the file (or its digest file) has changed and
// then stayed the same for one poll, it tries Install: changed is called after each new binary,
// rejected (may be nil) with the reason after each incomplete one. A copy of the binary already
// installed (a save that compiles to the same bytes) calls neither.
func (b *Binary) Watch(ctx context.Context, poll time.Duration, changed func(digest string), rejected func(error)) {
	last := b.stamp()
	// Pending from the start: a copy that completed between an Install before Watch and this
	// first stamp is still installed (an unchanged binary is a no-op).
	pending := true
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := b.stamp()
		if s != last {
			last, pending = s, true
			continue // wait for the writer to finish: the same stamp on the next poll
		}
		if !pending || !s.exists {
			continue
		}
		pending = false
		ok, err := b.Install()
		switch {
		case err != nil && rejected != nil:
			rejected(err)
		case ok:
			changed(b.Digest())
		}
	}
}
