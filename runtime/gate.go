package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/wattson-dev/wattson/runtime/internal/verdict"
)

// saTokenPath is where a pod finds its token, sent by gate when no other is given.
const saTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// gate is `wattson-runtime gate`: it polls a runtime's GET /api/verdict until green (exit 0) or
// --timeout (exit 1, with the last reason), for any CI or promotion pipeline.
func gate(ctx context.Context, args []string, w io.Writer) int {
	fs := flag.NewFlagSet("wattson-runtime gate", flag.ContinueOnError)
	fs.SetOutput(w)
	base := fs.String("url", "http://127.0.0.1:9464", "The runtime's base URL (a Suite's Service in a cluster, e.g. the energy Suite's http://wattson-suite-energy.wattson-system.svc:9464).")
	runs := fs.Int("runs", 3, "Runs in a row that must have passed.")
	since := fs.String("since", "", "Only runs started at or after this RFC 3339 time (e.g. the deploy's time).")
	revision := fs.String("revision", "", "Only runs recorded with this --specs.revision.")
	suite := fs.String("suite", "", "Only runs of this suite.")
	label := fs.String("label", "", "Judge only the specs with this Ginkgo label.")
	timeout := fs.Duration("timeout", 10*time.Minute, "Give up (exit 1) after this long.")
	poll := fs.Duration("poll", 5*time.Second, "Time between two verdict requests.")
	tokenFile := fs.String("token-file", "", "File holding the bearer token (default $WATTSON_TOKEN, else the pod's ServiceAccount token if present).")
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: wattson-runtime gate [flags]\n\nWaits until the runtime's verdict is green (exit 0) or --timeout (exit 1).\nThe caller needs RBAC verb get on the non-resource URL /api/verdict.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	q := verdict.Query{Runs: *runs, Revision: *revision, Suite: *suite, Label: *label}
	if *since != "" {
		t, err := time.Parse(time.RFC3339, *since)
		if err != nil {
			fmt.Fprintf(w, "wattson-runtime gate: --since %q is not an RFC 3339 time\n", *since)
			return 2
		}
		q.Since = t
	}
	u, err := url.Parse(strings.TrimSuffix(*base, "/") + "/api/verdict")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		fmt.Fprintf(w, "wattson-runtime gate: --url %q is not an http(s) URL\n", *base)
		return 2
	}
	if *runs < 1 || *runs > verdict.MaxRuns || *timeout <= 0 || *poll <= 0 {
		fmt.Fprintf(w, "wattson-runtime gate: --runs must be 1 to %d, --timeout and --poll positive\n", verdict.MaxRuns)
		return 2
	}
	u.RawQuery = q.Values().Encode()
	token, err := gateToken(*tokenFile)
	if err != nil {
		fmt.Fprintln(w, "wattson-runtime gate:", err)
		return 2
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client := &http.Client{Timeout: 30 * time.Second}
	last := ""
	for {
		v, err := fetchVerdict(ctx, client, u.String(), token)
		line := ""
		if err != nil {
			line = "no verdict: " + err.Error()
		} else {
			line = v.Verdict + ": " + v.Reason
		}
		if line != last {
			fmt.Fprintf(w, "%s %s\n", time.Now().UTC().Format(time.TimeOnly), line)
			last = line
		}
		if err == nil && v.Verdict == verdict.Green {
			return 0
		}
		t := time.NewTimer(*poll)
		select {
		case <-ctx.Done():
			t.Stop()
			fmt.Fprintf(w, "NOT GREEN after %s: %s\n", *timeout, last)
			return 1
		case <-t.C:
		}
	}
}

func gateToken(file string) (string, error) {
	if file == "" {
		if t := os.Getenv("WATTSON_TOKEN"); t != "" {
			return t, nil
		}
		if _, err := os.Stat(saTokenPath); err != nil {
			return "", nil //nolint:nilerr // no token outside a pod: the gate calls without one
		}
		file = saTokenPath
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func fetchVerdict(ctx context.Context, c *http.Client, u, token string) (verdict.Verdict, error) {
	var v verdict.Verdict
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return v, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("verdict: %w", err)
	}
	return v, nil
}
