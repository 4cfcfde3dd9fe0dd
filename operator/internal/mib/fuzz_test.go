package mib

import (
	"context"
	"errors"
	"testing"
	"time"
)

// FuzzLoad feeds one file to the loader, beside a good MIB. The loader must not panic, must
// finish within its deadline (a timeout fails), must keep the repair pass length-preserving and
// must keep loading the good MIB whatever the other file holds. The seed corpus is
// testdata/fuzz/FuzzLoad; `make fuzz` runs it for a bounded time and keeps any crasher there.
func FuzzLoad(f *testing.F) {
	f.Add(goodMIB)
	f.Add([]byte(bombHeader + "x OBJECT IDENTIFIER ::= { enterprises 1 2 3 }\nEND\n"))
	f.Fuzz(func(t *testing.T, content []byte) {
		fixed, _ := repair("fuzz", "M", content, DefaultLimits.MaxRepairs)
		if len(fixed) != len(content) {
			t.Fatalf("repair changed the length from %d to %d", len(content), len(fixed))
		}
		lim := Limits{MaxFileSize: 256 << 10, Timeout: 10 * time.Second}
		tree, diags, err := Load(context.Background(), Source{Files: map[string][]byte{"fuzz": content, "good": goodMIB}, Limits: lim})
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Load of %d bytes did not finish in %s", len(content), lim.Timeout)
		}
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		for _, d := range diags {
			if d.File != "" && d.File != "fuzz" && d.File != "good" {
				t.Errorf("diagnostic names a file that is not loaded: %s", d)
			}
		}
		if n := tree.Resolve("ZZ-MIB::zzValue"); n == nil && !definesZZ(content) {
			t.Errorf("the good MIB did not load beside %q", content)
		}
	})
}

// definesZZ reports whether the fuzzed file claims the good MIB's module name, so shadows it.
func definesZZ(content []byte) bool {
	m := moduleHeaderRE.FindSubmatch(content)
	return m != nil && string(m[1]) == "ZZ-MIB"
}
