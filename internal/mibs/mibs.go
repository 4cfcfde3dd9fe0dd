package mibs

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Dirs are the folders, relative to a MIB root, that the sample models need, in search order.
var Dirs = []string{"ietf", "vendor/apc", "vendor/raritan", "vendor/cyberpower"}

// completeFile marks a cache Fetch has filled from every source.
const completeFile = ".complete"

// Source is one pinned MIB file.
type Source struct {
	// Dest is the file's path under the cache, e.g. vendor/apc/PowerNet-MIB.
	Dest string
	// SHA256 is the hex digest of the file as written (after extraction from a zip).
	SHA256 string
	// URL is where it is fetched from.
	URL string
	// Member, when set, names the file inside the zip archive at URL.
	Member string
	// Line is the line of the sources file, for errors.
	Line int
}

// ParseSources reads a sources file: one "DEST SHA256 URL [ZIP-MEMBER]" per line, # comments.
func ParseSources(name string, r io.Reader) ([]Source, error) {
	var out []Source
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 && len(f) != 4 {
			return nil, fmt.Errorf("%s:%d: want DEST SHA256 URL [ZIP-MEMBER], have %d fields", name, n, len(f))
		}
		s := Source{Dest: f[0], SHA256: strings.ToLower(f[1]), URL: f[2], Line: n}
		if len(f) == 4 {
			s.Member = f[3]
		}
		if d := path.Clean(s.Dest); d != s.Dest || path.IsAbs(d) || strings.HasPrefix(d, "../") || d == ".." {
			return nil, fmt.Errorf("%s:%d: DEST %q must be a clean relative path", name, n, s.Dest)
		}
		if b, err := hex.DecodeString(s.SHA256); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("%s:%d: SHA256 %q is not 64 hex digits", name, n, f[1])
		}
		if !strings.HasPrefix(s.URL, "https://") && !strings.HasPrefix(s.URL, "http://") {
			return nil, fmt.Errorf("%s:%d: URL %q is not http(s)", name, n, s.URL)
		}
		if prev, ok := seen[s.Dest]; ok {
			return nil, fmt.Errorf("%s:%d: DEST %s already given on line %d", name, n, s.Dest, prev)
		}
		seen[s.Dest] = n
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no sources", name)
	}
	return out, nil
}

// Fetch makes dir hold every source with its checksum: a file already there with the right
// sha256 is kept (no request), anything else is downloaded, checked and then renamed into place,
// so a failed or corrupt download leaves nothing behind. progress gets one line per file. The
// first error stops it, naming the file, its line and URL.
func Fetch(ctx context.Context, client *http.Client, dir string, sources []Source, progress io.Writer) error {
	_ = os.Remove(filepath.Join(dir, completeFile))
	for i, s := range sources {
		dest := filepath.Join(dir, filepath.FromSlash(s.Dest))
		if sum, err := fileSHA256(dest); err == nil && sum == s.SHA256 {
			fmt.Fprintf(progress, "[%d/%d] %s cached\n", i+1, len(sources), s.Dest)
			continue
		}
		fmt.Fprintf(progress, "[%d/%d] %s <- %s\n", i+1, len(sources), s.Dest, s.URL)
		b, err := download(ctx, client, s)
		if err != nil {
			return fmt.Errorf("line %d: %s: %w", s.Line, s.Dest, err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != s.SHA256 {
			return fmt.Errorf("line %d: %s: sha256 mismatch: got %s, want %s (from %s); nothing written",
				s.Line, s.Dest, hex.EncodeToString(sum[:]), s.SHA256, s.URL)
		}
		if err := writeAtomic(dest, b); err != nil {
			return fmt.Errorf("line %d: %s: %w", s.Line, s.Dest, err)
		}
	}
	return os.WriteFile(filepath.Join(dir, completeFile), []byte("make mibs\n"), 0o644)
}

func download(ctx context.Context, client *http.Client, s Source) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: %s", s.URL, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", s.URL, err)
	}
	if s.Member == "" {
		return b, nil
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("%s is not a zip archive: %w", s.URL, err)
	}
	for _, f := range zr.File {
		if f.Name == s.Member {
			rc, err := f.Open()
			if err != nil {
				return nil, fmt.Errorf("%s!%s: %w", s.URL, s.Member, err)
			}
			defer rc.Close()
			return io.ReadAll(io.LimitReader(rc, 256<<20))
		}
	}
	return nil, fmt.Errorf("%s has no member %s", s.URL, s.Member)
}

func writeAtomic(dest string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CacheDir is where `make mibs` writes: $WATTSON_MIBS_DIR, else ~/.cache/wattson/mibs.
func CacheDir() (string, error) {
	if d := os.Getenv("WATTSON_MIBS_DIR"); d != "" {
		return d, nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder for the MIBs (set WATTSON_MIBS_DIR): %w", err)
	}
	return filepath.Join(c, "wattson", "mibs"), nil
}

// ErrNotFound says that neither the fixtures nor the cache hold the MIBs; its text says what to
// run.
var ErrNotFound = errors.New("MIBs not found")

// Find returns the MIB folders of the sample models: the shared fixtures beside the clone
// (root/../shared/fixtures/mibs, or $WATTSON_FIXTURES/mibs) when present, else the cache that
// `make mibs` filled completely. Otherwise the error wraps ErrNotFound and says what to run.
func Find(root string) ([]string, error) {
	fixtures := filepath.Join(root, "..", "shared", "fixtures", "mibs")
	if f := os.Getenv("WATTSON_FIXTURES"); f != "" {
		fixtures = filepath.Join(f, "mibs")
	}
	if dirs, ok := all(fixtures); ok {
		return dirs, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(cache, completeFile)); err == nil {
		if dirs, ok := all(cache); ok {
			return dirs, nil
		}
	}
	return nil, fmt.Errorf(`%w: the sample PDUModels compile PowerNet-MIB, PDU2-MIB and CPS-MIB (and the IETF MIBs they import); they are neither in %s nor in %s.
Run:
    make mibs    # fetches them from their pinned upstream locations (needs network), checked by sha256
    make demo
or point the demo at your own copies: go run ./hack/demo --mibs-dir DIR [--mibs-dir DIR ...]`, ErrNotFound, fixtures, cache)
}

func all(base string) ([]string, bool) {
	var out []string
	for _, d := range Dirs {
		p := filepath.Join(base, filepath.FromSlash(d))
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			return nil, false
		}
		out = append(out, p)
	}
	return out, true
}
