// Command mibs is `make mibs`: it fetches the MIB files of hack/mibs/sources.txt into the MIB
// cache (internal/mibs), or with --check only says whether the demo has MIBs and what to run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wattson-dev/wattson/internal/mibs"
	"github.com/wattson-dev/wattson/internal/procs"
)

func main() { os.Exit(run()) }

func run() int {
	root, err := procs.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mibs:", err)
		return 1
	}
	var (
		sources = flag.String("sources", filepath.Join(root, "hack", "mibs", "sources.txt"), "file of pinned MIB sources: DEST SHA256 URL [ZIP-MEMBER] per line")
		dir     = flag.String("dir", "", "cache to fill (default $WATTSON_MIBS_DIR, else ~/.cache/wattson/mibs)")
		check   = flag.Bool("check", false, "only report whether the demo finds MIBs (fixtures or a complete cache), and what to run if not")
		timeout = flag.Duration("timeout", 5*time.Minute, "give up after this long")
	)
	flag.Parse()
	if *check {
		dirs, err := mibs.Find(root)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("MIBs:", filepath.Dir(dirs[0]))
		return 0
	}
	if *dir == "" {
		if *dir, err = mibs.CacheDir(); err != nil {
			fmt.Fprintln(os.Stderr, "mibs:", err)
			return 1
		}
	}
	f, err := os.Open(*sources)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mibs:", err)
		return 1
	}
	defer f.Close()
	srcs, err := mibs.ParseSources(*sources, f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mibs:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := mibs.Fetch(ctx, &http.Client{Timeout: time.Minute}, *dir, srcs, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "mibs: %s: %v\n", *sources, err)
		if errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintln(os.Stderr, "mibs: no network? copy the files by hand into", *dir, "with the layout of", *sources)
		}
		return 1
	}
	fmt.Printf("MIBs: %d files in %s\n", len(srcs), *dir)
	return 0
}
