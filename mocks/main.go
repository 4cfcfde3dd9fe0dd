// Command wattson-snmpsim serves simulated SNMP agents (PDUs) from recorded
// data, with live values and faults injected over HTTP. It takes snmpsim's
// common flags, so a test rig swaps snmpsim out by changing the program name.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wattson-dev/wattson/internal/buildinfo"
	"github.com/wattson-dev/wattson/internal/listflag"
	"github.com/wattson-dev/wattson/internal/logging"
	"github.com/wattson-dev/wattson/mocks/internal/agent"
	"github.com/wattson-dev/wattson/mocks/internal/control"
	"github.com/wattson-dev/wattson/mocks/internal/device"
)

type options struct {
	dataDirs       listflag.Strings
	endpoints      listflag.Strings
	templates      listflag.Strings
	users          []agent.User
	engineID       string
	bootsFile      string
	contextDefault string
	webAddr        string
	perDevice      bool
	maxMsgSize     int
	seed           uint64
	log            *logging.Config
	dryRun         bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the simulator until ctx ends; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "record" {
		return runRecord(args[1:], stdout, stderr)
	}
	var o options
	fs := flag.NewFlagSet("wattson-snmpsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(fs) }
	fs.Var(&o.dataDirs, "data-dir", "directory of .snmprec/.snmpwalk files; community NAME serves DIR/NAME.snmprec, subfolders give a/b (repeatable)")
	fs.Var(&o.endpoints, "agent-udpv4-endpoint", "UDP HOST:PORT to serve SNMP on (repeatable; default 127.0.0.1:1161)")
	fs.Var(&o.templates, "device-template", "NAME:COUNT adds COUNT devices NAME-1..NAME-COUNT sharing data file NAME (repeatable)")
	fs.Var(userFlag{&o.users, func(u *agent.User, v string) error { *u = agent.User{Name: v}; return nil }, true}, "v3-user", "SNMPv3 USM user; the --v3-auth-*/--v3-priv-* flags after it apply to it (repeatable)")
	fs.Var(userFlag{&o.users, func(u *agent.User, v string) error { u.AuthKey = v; return nil }, false}, "v3-auth-key", "authentication passphrase of the last --v3-user (default protocol MD5, as snmpsim)")
	fs.Var(userFlag{&o.users, func(u *agent.User, v string) (err error) { u.AuthProto, err = agent.ParseAuthProto(v); return }, false}, "v3-auth-proto", "MD5, SHA, SHA224, SHA256, SHA384 or SHA512")
	fs.Var(userFlag{&o.users, func(u *agent.User, v string) error { u.PrivKey = v; return nil }, false}, "v3-priv-key", "privacy passphrase of the last --v3-user (default protocol DES, as snmpsim)")
	fs.Var(userFlag{&o.users, func(u *agent.User, v string) (err error) { u.PrivProto, err = agent.ParsePrivProto(v); return }, false}, "v3-priv-proto", "DES, AES, AES192, AES256 (Blumenthal key extension, as net-snmp and snmpsim) or AES192C, AES256C (Reeder, as Cisco)")
	fs.StringVar(&o.engineID, "v3-engine-id", "", "snmpEngineID in hex (default: derived from --seed)")
	fs.StringVar(&o.bootsFile, "v3-engine-boots-file", "", "file keeping snmpEngineBoots, incremented at every start as net-snmp does, so a captured v3 request does not replay after a restart (default: the start's Unix time)")
	fs.StringVar(&o.contextDefault, "v3-context-default", "", "device served to v3 requests with an empty contextName (default: the only device, if there is exactly one)")
	fs.StringVar(&o.webAddr, "web.listen-address", "127.0.0.1:8161", "HTTP address of the control API and /metrics; empty disables it")
	fs.BoolVar(&o.perDevice, "metrics.device-label", false, "label request metrics by device (series grow with the fleet; keep off for 1,000+ devices)")
	fs.IntVar(&o.maxMsgSize, "max-msg-size", 65507, "largest response in bytes (v3 requests may ask for less)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the live values and the default engine ID")
	o.log = logging.AddFlags(fs)
	fs.Var(o.log.LevelValue(), "log-level", "snmpsim's spelling of --log.level")
	fs.BoolVar(&o.dryRun, "dry-run", false, "load and check flags and data files, then exit")
	showVersion := buildinfo.Flag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		buildinfo.Fprint(stdout, "wattson-snmpsim")
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wattson-snmpsim: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	logger := o.log.New(stderr)
	store, ag, reg, err := setup(o, logger)
	if err != nil {
		fmt.Fprintln(stderr, "wattson-snmpsim:", err)
		return 1
	}
	if o.dryRun {
		fmt.Fprintf(stdout, "ok: %d devices, %d endpoints, %d v3 users\n", store.Len(), len(o.endpoints), len(o.users))
		return 0
	}
	if err := serve(ctx, o, sim{store, ag, reg}, logger, net.ListenUDP); err != nil {
		logger.Error("simulator stopped", "err", err)
		return 1
	}
	return 0
}

func usage(fs *flag.FlagSet) {
	fmt.Fprint(fs.Output(), `wattson-snmpsim: an snmpsim-compatible SNMP PDU simulator with live values and faults.

Usage:
  wattson-snmpsim --data-dir=DIR [--agent-udpv4-endpoint=127.0.0.1:1161] [flags]
  wattson-snmpsim record --agent-udpv4-endpoint=HOST:PORT [flags]   (walk a live agent into a .snmprec; record -h)

Examples:
  wattson-snmpsim --data-dir=mocks/data
  snmpwalk -v2c -c apc-rpdu2 127.0.0.1:1161 1.3.6.1.4.1.318
  wattson-snmpsim --data-dir=mocks/data --device-template=apc-rpdu2:1000
  wattson-snmpsim --data-dir=mocks/data --v3-user=sim --v3-auth-proto=SHA \
      --v3-auth-key=authpass1 --v3-priv-proto=AES --v3-priv-key=privpass1
  curl -X PUT localhost:8161/api/v1/devices/apc-rpdu2/faults/timeout

Flags:
`)
	fs.PrintDefaults()
}

// setup validates the options and loads every data file, failing fast.
func setup(o options, logger *slog.Logger) (*device.Store, *agent.Agent, *prometheus.Registry, error) {
	if len(o.dataDirs) == 0 {
		return nil, nil, nil, errors.New("flag --data-dir is required")
	}
	store := device.NewStore(device.Options{Seed: o.seed})
	for _, d := range o.dataDirs {
		if err := store.LoadDir(d); err != nil {
			return nil, nil, nil, err
		}
	}
	for _, t := range o.templates {
		name, count, ok := strings.Cut(t, ":")
		n, err := strconv.Atoi(count)
		if !ok || err != nil {
			return nil, nil, nil, fmt.Errorf("flag --device-template %q: want NAME:COUNT", t)
		}
		if err := store.Expand(name, n); err != nil {
			return nil, nil, nil, fmt.Errorf("flag --device-template: %w", err)
		}
	}
	for _, e := range o.endpoints {
		if _, err := net.ResolveUDPAddr("udp4", e); err != nil {
			return nil, nil, nil, fmt.Errorf("flag --agent-udpv4-endpoint %q: %w", e, err)
		}
	}
	engineID, err := hex.DecodeString(strings.TrimPrefix(o.engineID, "0x"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("flag --v3-engine-id: %w", err)
	}
	ctxDefault := o.contextDefault
	if ctxDefault == "" && store.Len() == 1 {
		ctxDefault = store.Names()[0]
	}
	if ctxDefault != "" {
		if _, ok := store.Get(ctxDefault); !ok {
			return nil, nil, nil, fmt.Errorf("flag --v3-context-default: no device %q", ctxDefault)
		}
	}
	users := make([]agent.User, len(o.users))
	for i, u := range o.users {
		// snmpsim's defaults: a key without a protocol means MD5 / DES.
		if u.AuthKey != "" && u.AuthProto == 0 {
			u.AuthProto, _ = agent.ParseAuthProto("MD5")
		}
		if u.PrivKey != "" && u.PrivProto == 0 {
			u.PrivProto, _ = agent.ParsePrivProto("DES")
		}
		if u.AuthProto == 0 {
			u.AuthProto, _ = agent.ParseAuthProto("")
		}
		if u.PrivProto == 0 {
			u.PrivProto, _ = agent.ParsePrivProto("")
		}
		users[i] = u
	}
	var boots uint32 // zero: the agent takes the start's Unix time
	if o.bootsFile != "" && !o.dryRun {
		if boots, err = agent.NextEngineBoots(o.bootsFile); err != nil {
			return nil, nil, nil, fmt.Errorf("flag --v3-engine-boots-file: %w", err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildinfo.NewCollector())
	ag, err := agent.New(agent.Config{
		Store: store, Users: users, EngineID: engineID, EngineBoots: boots, ContextDefault: ctxDefault,
		MaxMsgSize: o.maxMsgSize, Seed: o.seed, Logger: logger,
		Metrics: agent.NewMetrics(reg, store, o.perDevice),
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return store, ag, reg, nil
}

// sim is what setup loaded and checked: the devices, the agent, the metrics.
type sim struct {
	store *device.Store
	agent *agent.Agent
	reg   *prometheus.Registry
}

// serve runs the loaded simulator until ctx ends or a part fails: the control API first (healthy,
// not ready), then every SNMP endpoint is bound (with listenUDP), and only then is it ready
// (/-/ready) and serves the API, so that a probe or a test never reaches an agent that is not
// there yet.
func serve(ctx context.Context, o options, s sim, logger *slog.Logger, listenUDP func(string, *net.UDPAddr) (*net.UDPConn, error)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	gate := control.NewGate()
	if o.webAddr != "" {
		ln, err := net.Listen("tcp", o.webAddr)
		if err != nil {
			return fmt.Errorf("flag --web.listen-address: %w", err)
		}
		srv := &http.Server{Handler: gate, ReadHeaderTimeout: 10 * time.Second}
		logger.Info("serving control API", "address", ln.Addr().String())
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				cancel(err)
			}
		}()
		defer func() {
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			_ = srv.Shutdown(sctx)
		}()
	}
	gate.Stage("binding SNMP endpoints")
	endpoints := o.endpoints
	if len(endpoints) == 0 {
		endpoints = listflag.Strings{"127.0.0.1:1161"}
	}
	conns := make([]*net.UDPConn, 0, len(endpoints))
	for _, e := range endpoints {
		addr, _ := net.ResolveUDPAddr("udp4", e)
		conn, err := listenUDP("udp4", addr)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return fmt.Errorf("listen on %s: %w", e, err)
		}
		conns = append(conns, conn)
	}
	done := make(chan struct{}, len(conns))
	for _, conn := range conns {
		logger.Info("serving SNMP", "endpoint", conn.LocalAddr().String(), "devices", s.store.Len(), "engine_id", hex.EncodeToString(s.agent.EngineID()))
		go func() {
			if err := s.agent.Serve(ctx, conn); err != nil {
				cancel(err)
			}
			done <- struct{}{}
		}()
	}
	gate.Ready(control.Handler(s.store, s.reg))
	logger.Info("ready", "devices", s.store.Len(), "endpoints", len(conns))
	<-ctx.Done()
	for range conns {
		<-done
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// userFlag edits the user list: --v3-user starts a user, the key and
// protocol flags after it set its fields (flags are parsed in order).
type userFlag struct {
	users *[]agent.User
	set   func(*agent.User, string) error
	start bool
}

func (u userFlag) String() string { return "" }

func (u userFlag) Set(v string) error {
	if u.start {
		*u.users = append(*u.users, agent.User{})
	} else if len(*u.users) == 0 {
		return errors.New("give --v3-user first")
	}
	return u.set(&(*u.users)[len(*u.users)-1], v)
}
