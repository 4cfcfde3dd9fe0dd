package listflag_test

import (
	"flag"
	"io"
	"slices"
	"testing"

	"github.com/wattson-dev/wattson/internal/listflag"
)

func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{name: "none", args: nil, want: nil},
		{name: "one", args: []string{"--dir", "a"}, want: []string{"a"}},
		{name: "repeated, in order, through two names", args: []string{"--dir", "b", "-d", "a", "--dir=c,d"}, want: []string{"b", "a", "c,d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got listflag.Strings
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.Var(&got, "dir", "a directory (repeatable)")
			fs.Var(&got, "d", "shorthand for --dir")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
