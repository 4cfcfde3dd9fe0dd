package procs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Spec describes a process to start.
type Spec struct {
	// Name is used in errors and log prefixes.
	Name string
	// Path is the executable.
	Path string
	Args []string
	// Env is added to the current environment.
	Env []string
	Dir string
	// Credential runs the process as another user (PostgreSQL refuses to run as root).
	Credential *syscall.Credential
	// Output, when set, also receives the process's combined output.
	Output io.Writer
}

// Proc is a running process started by Start.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
	err  error
}

// Start starts the process in its own process group so that Stop also ends its children.
func Start(spec Spec) (*Proc, error) {
	if _, err := os.Stat(spec.Path); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Dir = spec.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: spec.Credential}
	out := &tailBuffer{max: 256 << 10}
	var w io.Writer = out
	if spec.Output != nil {
		w = io.MultiWriter(out, spec.Output)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p := &Proc{Name: spec.Name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Output returns the last 256 KiB of the process's combined output.
func (p *Proc) Output() string { return p.out.String() }

// Tail returns the last n lines of the process's combined output, for error messages and logs.
func (p *Proc) Tail(n int) string { return lastLines(p.out.String(), n) }

// Stop sends SIGTERM to the process group, waits up to grace, then kills it. It returns nil when
// the process ended on the signal, and is safe to call more than once.
func (p *Proc) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not stop within %s and was killed", p.Name, grace)
}

// exitError describes an unexpected exit, with the end of the output to say why.
func (p *Proc) exitError() error {
	return fmt.Errorf("%s exited early (%w); last output:\n%s", p.Name, p.err, lastLines(p.out.String(), 30))
}

// WaitHTTP polls url until it answers 200, the process exits, or ctx ends.
func (p *Proc) WaitHTTP(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return p.exitError()
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w; last output:\n%s", p.Name, url, ctx.Err(), lastLines(p.out.String(), 30))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitTCP polls addr until it accepts a connection, the process exits, or ctx ends.
func (p *Proc) WaitTCP(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return p.exitError()
		case <-ctx.Done():
			return fmt.Errorf("%s not listening on %s: %w", p.Name, addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago, for SNMP agents.
func FreeUDPPort() (int, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, fmt.Errorf("find a free UDP port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// FreeUDPAddr returns "127.0.0.1:PORT" for a free UDP port.
func FreeUDPAddr() (string, error) {
	port, err := FreeUDPPort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// FreeAddr returns "127.0.0.1:PORT" for a free port.
func FreeAddr() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// RepoRoot finds the module root (the folder with go.mod) from the working directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// BinDir is where `make tools` puts the real binaries: $WATTSON_BIN, or bin/ at the repo root.
func BinDir() (string, error) {
	if d := os.Getenv("WATTSON_BIN"); d != "" {
		return filepath.Abs(d)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin"), nil
}

// ErrMissingBinary is returned by Binary when a tool has not been built.
var ErrMissingBinary = errors.New("missing binary")

// Binary returns the path of bin/name, or an error wrapping ErrMissingBinary that says how to
// build it.
func Binary(name string) (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w: %s not found; build it with `make tools` (or hack/tools.sh %s)", ErrMissingBinary, p, toolFor(name))
	}
	return p, nil
}

// toolFor maps a binary to the hack/tools.sh entry that builds it.
func toolFor(bin string) string {
	switch bin {
	case "kubectl":
		return "kube-apiserver"
	case "promtool":
		return "prometheus"
	case "amtool":
		return "alertmanager"
	case "prometheus-operator-crds":
		return "prometheus-operator"
	case "victoria-metrics":
		return "victoriametrics"
	case "rollouts-controller", "argo-measure", "argo-rollouts-crds", "argo-rollouts-manifests":
		return "argo-rollouts"
	case "flagger-check", "flagger-crds":
		return "flagger"
	case "kube-controller-manager", "kube-scheduler", "kubelet":
		return "kube-cluster"
	}
	return bin
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func lastLines(s string, n int) string {
	lines := bytes.Split([]byte(s), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
