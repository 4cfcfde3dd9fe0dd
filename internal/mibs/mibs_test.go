package mibs_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wattson-dev/wattson/internal/mibs"
	"github.com/wattson-dev/wattson/internal/procs"
)

// Small MIBs of our own: the test never contacts the real upstream.
const (
	smiMIB    = "TEST-SMI DEFINITIONS ::= BEGIN\nwattsonTest OBJECT IDENTIFIER ::= { iso 3 6 1 4 1 99999 }\nEND\n"
	vendorMIB = "TEST-PDU-MIB DEFINITIONS ::= BEGIN\nIMPORTS wattsonTest FROM TEST-SMI;\npdu OBJECT IDENTIFIER ::= { wattsonTest 1 }\nEND\n"
	zippedMIB = "TEST-ZIPPED-MIB DEFINITIONS ::= BEGIN\nEND\n"
)

func sum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func zipOf(t *testing.T, name, content string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	f, err := w.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(f, content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// upstream serves the test MIBs on 127.0.0.1 and counts requests.
func upstream(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	files := map[string][]byte{
		"/net-snmp/v5.9.4/mibs/TEST-SMI.txt": []byte(smiMIB),
		"/vendor/TEST-PDU-MIB":               []byte(vendorMIB),
		"/vendor/bundle.zip":                 zipOf(t, "MIBs/TEST-ZIPPED-MIB.txt", zippedMIB),
		"/tampered/TEST-PDU-MIB":             []byte(vendorMIB + "-- changed upstream\n"),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b) // a client that went away is the client's failure
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func sources(t *testing.T, text string) []mibs.Source {
	t.Helper()
	s, err := mibs.ParseSources("sources.txt", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFetchChecksAndCaches(t *testing.T) {
	srv, requests := upstream(t)
	dir := t.TempDir()
	srcs := sources(t, fmt.Sprintf(`# test sources
ietf/TEST-SMI            %s  %s/net-snmp/v5.9.4/mibs/TEST-SMI.txt
vendor/test/TEST-PDU-MIB %s  %s/vendor/TEST-PDU-MIB
vendor/test/TEST-ZIPPED  %s  %s/vendor/bundle.zip  MIBs/TEST-ZIPPED-MIB.txt
`, sum(smiMIB), srv.URL, sum(vendorMIB), srv.URL, sum(zippedMIB), srv.URL))
	var progress bytes.Buffer
	if err := mibs.Fetch(t.Context(), srv.Client(), dir, srcs, &progress); err != nil {
		t.Fatal(err)
	}
	for dest, want := range map[string]string{"ietf/TEST-SMI": smiMIB, "vendor/test/TEST-PDU-MIB": vendorMIB, "vendor/test/TEST-ZIPPED": zippedMIB} {
		b, err := os.ReadFile(filepath.Join(dir, dest))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", dest, b, err, want)
		}
	}
	if !strings.Contains(progress.String(), "[1/3] ietf/TEST-SMI <- ") || !strings.Contains(progress.String(), "[3/3]") {
		t.Errorf("progress:\n%s", progress.String())
	}
	// A second run requests nothing: every file is there with its checksum.
	before := requests.Load()
	progress.Reset()
	if err := mibs.Fetch(t.Context(), srv.Client(), dir, srcs, &progress); err != nil {
		t.Fatal(err)
	}
	if requests.Load() != before || strings.Count(progress.String(), "cached") != 3 {
		t.Errorf("second run made %d requests; progress:\n%s", requests.Load()-before, progress.String())
	}
	// A file changed on disk is fetched again.
	if err := os.WriteFile(filepath.Join(dir, "ietf/TEST-SMI"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := mibs.Fetch(t.Context(), srv.Client(), dir, srcs, io.Discard); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ietf/TEST-SMI")); string(b) != smiMIB {
		t.Errorf("a corrupted cached file was not replaced: %q", b)
	}
}

func TestFetchErrorsNameTheFileAndWriteNothing(t *testing.T) {
	srv, _ := upstream(t)
	tests := []struct {
		name, line string
		want       []string
	}{
		{"checksum mismatch", fmt.Sprintf("vendor/test/TEST-PDU-MIB %s %s/tampered/TEST-PDU-MIB", sum(vendorMIB), srv.URL),
			[]string{"line 1: vendor/test/TEST-PDU-MIB: sha256 mismatch: got " + sum(vendorMIB+"-- changed upstream\n"), "want " + sum(vendorMIB), "nothing written"}},
		{"not found", fmt.Sprintf("vendor/test/GONE %s %s/vendor/GONE", sum(vendorMIB), srv.URL), []string{"line 1: vendor/test/GONE", "404 Not Found"}},
		{"no zip member", fmt.Sprintf("vendor/test/Z %s %s/vendor/bundle.zip OTHER.MIB", sum(zippedMIB), srv.URL), []string{"has no member OTHER.MIB"}},
		{"not a zip", fmt.Sprintf("vendor/test/Z %s %s/vendor/TEST-PDU-MIB X.MIB", sum(zippedMIB), srv.URL), []string{"is not a zip archive"}},
		{"server down", fmt.Sprintf("vendor/test/Z %s http://127.0.0.1:1/x", sum(zippedMIB)), []string{"line 1: vendor/test/Z: fetch:", "connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := mibs.Fetch(t.Context(), srv.Client(), dir, sources(t, tt.line), io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var left []string
			if err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.IsDir() {
					left = append(left, p)
				}
				return nil
			}); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			if len(left) > 0 {
				t.Errorf("a failed fetch left %v", left)
			}
		})
	}
}

func TestParseSourcesErrors(t *testing.T) {
	good := sum("x")
	tests := map[string]string{
		"a/B " + good:                   "sources.txt:1: want DEST SHA256 URL [ZIP-MEMBER], have 2 fields",
		"../B " + good + " https://h/x": `sources.txt:1: DEST "../B" must be a clean relative path`,
		"a/B 1234 https://h/x":          `sources.txt:1: SHA256 "1234" is not 64 hex digits`,
		"a/B " + good + " ftp://h/x":    `sources.txt:1: URL "ftp://h/x" is not http(s)`,
		"# only\n":                      "sources.txt: no sources",
		"a/B " + good + " https://h/x\na/B " + good + " https://h/y": "sources.txt:2: DEST a/B already given on line 1",
	}
	for in, want := range tests {
		if _, err := mibs.ParseSources("sources.txt", strings.NewReader(in)); err == nil || err.Error() != want {
			t.Errorf("ParseSources(%q) = %v, want %s", in, err, want)
		}
	}
}

// TestShippedSourcesMatchFixtures: every pinned checksum is that of the file the tests compile
// (../shared/fixtures/mibs), and the pinned set is what the demo needs (the folders of Find).
func TestShippedSourcesMatchFixtures(t *testing.T) {
	root, err := procs.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "hack", "mibs", "sources.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	srcs, err := mibs.ParseSources("hack/mibs/sources.txt", f)
	if err != nil {
		t.Fatal(err)
	}
	fixtures := filepath.Join(root, "..", "shared", "fixtures", "mibs")
	if _, err := os.Stat(fixtures); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("skipping: no fixtures at %s", fixtures)
	}
	dirs := map[string]bool{}
	for _, s := range srcs {
		b, err := os.ReadFile(filepath.Join(fixtures, s.Dest))
		if err != nil {
			t.Errorf("line %d: %v", s.Line, err)
			continue
		}
		if got := sum(string(b)); got != s.SHA256 {
			t.Errorf("line %d: %s: fixture sha256 %s, pinned %s", s.Line, s.Dest, got, s.SHA256)
		}
		dirs[filepath.Dir(s.Dest)] = true
	}
	for _, d := range mibs.Dirs {
		if !dirs[d] {
			t.Errorf("no pinned source fills %s, which the demo reads", d)
		}
	}
}

func TestFindSaysWhatToRun(t *testing.T) {
	t.Setenv("WATTSON_FIXTURES", t.TempDir())
	cache := t.TempDir()
	t.Setenv("WATTSON_MIBS_DIR", cache)
	_, err := mibs.Find(t.TempDir())
	if !errors.Is(err, mibs.ErrNotFound) || !strings.Contains(err.Error(), "make mibs") || !strings.Contains(err.Error(), "make demo") {
		t.Fatalf("Find = %v, want ErrNotFound saying to run make mibs, then make demo", err)
	}
	// A cache that make mibs has not completed does not count.
	for _, d := range mibs.Dirs {
		if err := os.MkdirAll(filepath.Join(cache, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mibs.Find(t.TempDir()); !errors.Is(err, mibs.ErrNotFound) {
		t.Fatalf("an incomplete cache was used: %v", err)
	}
	// After a complete Fetch it is found.
	srv, _ := upstream(t)
	var lines []string
	for _, d := range mibs.Dirs {
		lines = append(lines, fmt.Sprintf("%s/TEST-SMI %s %s/net-snmp/v5.9.4/mibs/TEST-SMI.txt", d, sum(smiMIB), srv.URL))
	}
	if err := mibs.Fetch(t.Context(), srv.Client(), cache, sources(t, strings.Join(lines, "\n")), io.Discard); err != nil {
		t.Fatal(err)
	}
	dirs, err := mibs.Find(t.TempDir())
	if err != nil || len(dirs) != len(mibs.Dirs) || dirs[0] != filepath.Join(cache, "ietf") {
		t.Fatalf("Find = %v, %v; want the cache's folders", dirs, err)
	}
}
