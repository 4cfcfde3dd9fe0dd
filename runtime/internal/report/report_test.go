package report

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTail(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 100, "short"},
		{"nul\x00byte", 100, "nul\uFFFDbyte"},
		{"bad \xff utf8", 100, "bad \uFFFD utf8"},
	}
	for _, tt := range tests {
		if got := Tail(tt.in, tt.max); got != tt.want {
			t.Errorf("Tail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := strings.Repeat("é", 1000) + "end"
	got := Tail(long, 101)
	if !strings.HasPrefix(got, "[... cut ...]\n") || !strings.HasSuffix(got, "end") || !utf8.ValidString(got) || len(got) > 104 {
		t.Errorf("Tail(long) = %q (%d bytes)", got, len(got))
	}
}

func TestFromGinkgoRejectsGarbage(t *testing.T) {
	for _, raw := range []string{"", "{}", "[]", "not json"} {
		if err := FromGinkgo(&Run{}, []byte(raw)); err == nil {
			t.Errorf("FromGinkgo(%q) accepted", raw)
		}
	}
}
