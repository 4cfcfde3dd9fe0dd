// Command probe is /bin/sh in the loopback cluster's Prometheus and prometheus-config-reloader
// images. With listenLocal, prometheus-operator gives those containers exec probes, `sh -c '...
// curl --fail http://localhost:9090/-/ready ...'`, which need a shell and curl that a FROM scratch
// image lacks, and name the reloader's port 8080 whatever it listens on (on a hostNetwork node,
// Prometheus's and Alertmanager's reloaders cannot share a port). So this program answers such
// probes itself: it asks the process of its own container (PID 1, whose --listen-address or
// --web.listen-address it reads) for the path the probe names. It runs nothing else and fails on
// any other command.
package main

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"
)

var healthURL = regexp.MustCompile(`http://[^/\s"']+(/[^\s"';]*)`)

func main() {
	if err := probe(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func probe(args []string) error {
	if len(args) != 2 || args[0] != "-c" {
		return fmt.Errorf("not a shell: only answers prometheus-operator's probes (sh -c SCRIPT), got %q", args)
	}
	m := healthURL.FindStringSubmatch(args[1])
	if m == nil {
		return fmt.Errorf("no URL in the probe script %q", args[1])
	}
	addr, err := listenAddress()
	if err != nil {
		return err
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + m[1])
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET http://%s%s: %s", addr, m[1], resp.Status)
	}
	return nil
}

// listenAddress is the reloader's --listen-address, from its command line.
func listenAddress() (string, error) {
	b, err := os.ReadFile("/proc/1/cmdline")
	if err != nil {
		return "", err
	}
	for _, a := range strings.Split(string(b), "\x00") {
		v, ok := strings.CutPrefix(a, "--listen-address=")
		if !ok {
			v, ok = strings.CutPrefix(a, "--web.listen-address=")
		}
		if ok {
			if strings.HasPrefix(v, ":") {
				v = "127.0.0.1" + v
			}
			return v, nil
		}
	}
	return "", fmt.Errorf("PID 1 has no --listen-address or --web.listen-address: %q", b)
}
