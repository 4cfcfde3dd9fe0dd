package procs

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is a started server process with its base URL (or DSN for PostgreSQL).
type Server struct {
	*Proc
	// URL is the base URL, e.g. http://127.0.0.1:PORT.
	URL string
	// Addr is host:port.
	Addr string
	// Dir holds the server's config and data; removed by Stop.
	Dir string
}

// Stop stops the process and removes its directory.
func (s *Server) Stop() error {
	err := s.Proc.Stop(10 * time.Second)
	if s.Dir != "" {
		os.RemoveAll(s.Dir)
	}
	return err
}

// Options are common to every component.
type Options struct {
	// Addr to listen on; a free 127.0.0.1 port when empty.
	Addr string
	// Dir for config and data; a new temporary folder when empty.
	Dir string
	// Output also receives the process output.
	Output io.Writer
	// Args are extra command-line arguments.
	Args []string
}

func (o *Options) prepare(name string) error {
	if o.Addr == "" {
		a, err := FreeAddr()
		if err != nil {
			return err
		}
		o.Addr = a
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "wattson-"+name+"-")
		if err != nil {
			return err
		}
		o.Dir = d
	}
	return os.MkdirAll(o.Dir, 0o755)
}

func startHTTP(ctx context.Context, name, bin string, o Options, args []string, ready string) (*Server, error) {
	path, err := Binary(bin)
	if err != nil {
		return nil, err
	}
	p, err := Start(Spec{Name: name, Path: path, Args: append(args, o.Args...), Dir: o.Dir, Output: o.Output})
	if err != nil {
		return nil, err
	}
	s := &Server{Proc: p, URL: "http://" + o.Addr, Addr: o.Addr, Dir: o.Dir}
	if err := p.WaitHTTP(ctx, s.URL+ready); err != nil {
		_ = s.Stop() // the start error says why
		return nil, err
	}
	return s, nil
}

// StartPrometheus starts Prometheus on config (prometheus.yml contents) plus extra files written
// next to it (rule files, for example), with the lifecycle API enabled for reloads.
func StartPrometheus(ctx context.Context, config string, files map[string]string, o Options) (*Server, error) {
	if err := o.prepare("prometheus"); err != nil {
		return nil, err
	}
	if err := writeFiles(o.Dir, files, "prometheus.yml", config); err != nil {
		return nil, err
	}
	args := []string{
		"--config.file=" + filepath.Join(o.Dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(o.Dir, "data"),
		"--web.listen-address=" + o.Addr,
		"--web.enable-lifecycle",
		"--storage.tsdb.retention.time=1d",
	}
	return startHTTP(ctx, "prometheus", "prometheus", o, args, "/-/ready")
}

// StartVictoriaMetrics starts VictoriaMetrics single-node, the long-term store of
// monitoring/overlays/long-term: Prometheus remote-writes to URL+"/api/v1/write" and queries go to
// URL+"/api/v1/query" (PromQL/MetricsQL). Samples are visible to queries as soon as they are written
// (-search.latencyOffset=0s, no response cache), which production does not need but a test does.
func StartVictoriaMetrics(ctx context.Context, o Options) (*Server, error) {
	if err := o.prepare("victoria-metrics"); err != nil {
		return nil, err
	}
	args := []string{
		"-httpListenAddr=" + o.Addr,
		"-storageDataPath=" + filepath.Join(o.Dir, "data"),
		"-retentionPeriod=1d",
		"-search.latencyOffset=0s",
		"-search.disableCache",
		"-loggerLevel=WARN",
	}
	return startHTTP(ctx, "victoria-metrics", "victoria-metrics", o, args, "/health")
}

// StartAlertmanager starts Alertmanager on config (alertmanager.yml contents), with clustering off.
func StartAlertmanager(ctx context.Context, config string, o Options) (*Server, error) {
	if err := o.prepare("alertmanager"); err != nil {
		return nil, err
	}
	if err := writeFiles(o.Dir, nil, "alertmanager.yml", config); err != nil {
		return nil, err
	}
	args := []string{
		"--config.file=" + filepath.Join(o.Dir, "alertmanager.yml"),
		"--storage.path=" + filepath.Join(o.Dir, "data"),
		"--web.listen-address=" + o.Addr,
		"--cluster.listen-address=", // otherwise it binds 0.0.0.0:9094
	}
	return startHTTP(ctx, "alertmanager", "alertmanager", o, args, "/-/ready")
}

// StartSNMPExporter starts snmp_exporter on config (snmp.yml contents).
func StartSNMPExporter(ctx context.Context, config string, o Options) (*Server, error) {
	if err := o.prepare("snmp-exporter"); err != nil {
		return nil, err
	}
	if err := writeFiles(o.Dir, nil, "snmp.yml", config); err != nil {
		return nil, err
	}
	args := []string{
		"--config.file=" + filepath.Join(o.Dir, "snmp.yml"),
		"--web.listen-address=" + o.Addr,
	}
	return startHTTP(ctx, "snmp_exporter", "snmp_exporter", o, args, "/metrics")
}

// PostgresBinDir finds the PostgreSQL server binaries installed by Debian's postgresql package.
func PostgresBinDir() (string, error) {
	if d := os.Getenv("WATTSON_PG_BIN"); d != "" {
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", fmt.Errorf("%w: PostgreSQL server binaries not found under /usr/lib/postgresql; install them with `apt-get install postgresql`", ErrMissingBinary)
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

// StartPostgres initialises a throwaway PostgreSQL cluster in a temporary folder (or reuses the
// one already in Options.Dir) and starts it on 127.0.0.1 with fsync off. Server.URL is a DSN for database "postgres" as user "postgres".
// When run as root, the server runs as the "postgres" user, as PostgreSQL requires.
func StartPostgres(ctx context.Context, o Options) (*Server, error) {
	bin, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	if err := o.prepare("postgres"); err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("postgres must not run as root and user postgres does not exist: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chmod(o.Dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chown(o.Dir, uid, gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(o.Dir, "data")
	// An existing cluster in Dir is reused, so a server stopped with Proc.Stop (which keeps Dir,
	// unlike Server.Stop) can be started again on the same address and data: tests use this to
	// simulate a database outage.
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		initdb, err := Start(Spec{Name: "initdb", Path: filepath.Join(bin, "initdb"), Credential: cred,
			// UTF8 whatever the environment's locale: with no LANG (CI's environment may have none)
			// initdb picks SQL_ASCII, which refuses every UTF-8 text the runtime stores.
			Args: []string{"-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"}})
		if err != nil {
			return nil, err
		}
		<-initdb.Done()
		if initdb.err != nil {
			return nil, fmt.Errorf("initdb: %w\n%s", initdb.err, initdb.Output())
		}
	}
	_, port, _ := net.SplitHostPort(o.Addr)
	p, err := Start(Spec{Name: "postgres", Path: filepath.Join(bin, "postgres"), Credential: cred, Output: o.Output,
		Args: append([]string{"-D", data, "-c", "listen_addresses=127.0.0.1", "-p", port,
			"-c", "unix_socket_directories=" + o.Dir, "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off"}, o.Args...)})
	if err != nil {
		return nil, err
	}
	s := &Server{Proc: p, Addr: o.Addr, Dir: o.Dir,
		URL: fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", o.Addr)}
	if err := waitPostgres(ctx, p, o.Addr); err != nil {
		_ = s.Stop() // the start error says why
		return nil, err
	}
	return s, nil
}

// waitPostgres waits until the server accepts connections; a TCP accept is not enough while it
// is still starting, so it waits for the log line as well.
func waitPostgres(ctx context.Context, p *Proc, addr string) error {
	if err := p.WaitTCP(ctx, addr); err != nil {
		return err
	}
	for {
		if strings.Contains(p.Output(), "ready to accept connections") {
			return nil
		}
		select {
		case <-p.done:
			return p.exitError()
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func writeFiles(dir string, files map[string]string, name, content string) error {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		return err
	}
	for n, c := range files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			return err
		}
	}
	return nil
}
