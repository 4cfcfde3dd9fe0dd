// Command wattson-runtime runs a precompiled Ginkgo suite for ever (or, in CI mode, until it is
// green N times in a row), exports fail-closed Prometheus metrics about it, keeps the history of
// runs and spec results, and serves a page and a JSON API over that history.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/wattson-dev/wattson/internal/buildinfo"
	"github.com/wattson-dev/wattson/internal/listflag"
	"github.com/wattson-dev/wattson/internal/logging"
	"github.com/wattson-dev/wattson/runtime/internal/auth"
	"github.com/wattson-dev/wattson/runtime/internal/devwatch"
	"github.com/wattson-dev/wattson/runtime/internal/fleet"
	"github.com/wattson-dev/wattson/runtime/internal/metrics"
	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/runner"
	"github.com/wattson-dev/wattson/runtime/internal/scheduler"
	"github.com/wattson-dev/wattson/runtime/internal/store"
	"github.com/wattson-dev/wattson/runtime/internal/web"
)

// options are the command-line flags.
type options struct {
	binary, suite, labelFilter string
	interval, timeout, grace   time.Duration
	args                       listflag.Strings

	listen     string
	auth       string
	kubeconfig string
	maxWaiters int
	debounce   time.Duration
	revision   string
	maxSpecs   int

	postgresURL          string
	retention            time.Duration
	memoryRuns, bufferSz int
	journal              string
	journalBytes         int64

	replica  string
	lease    time.Duration
	replicas int

	untilGreen int
	ciTimeout  time.Duration
	junit      string

	devDir, devPackage string
	devBinary          string
	devPoll            time.Duration

	log             *logging.Config
	dryRun, version bool

	listenSet, intervalSet, pollSet, debounceSet bool
}

// ciInterval is the pause between runs in CI mode unless --specs.interval is given: a gate wants
// its N green runs now, not one a minute.
const ciInterval = 5 * time.Second

// devBinaryPoll is --dev.poll with --dev.watch-binary unless given: a stat of two files is cheap,
// and a save's result is wanted in seconds.
const devBinaryPoll = 100 * time.Millisecond

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("wattson-runtime", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.binary, "specs.binary", "specs.test", "Compiled Ginkgo suite (ginkgo build or go test -c). In dev mode, where the build is written.")
	fs.StringVar(&o.suite, "specs.suite", "", "Suite name in metrics and history (default: the suite's description from its report).")
	fs.DurationVar(&o.interval, "specs.interval", time.Minute, "Time between the end of one run and the start of the next (watch and CI mode).")
	fs.DurationVar(&o.timeout, "specs.timeout", 10*time.Minute, "Timeout of one run, passed to Ginkgo as --ginkgo.timeout; the suite is killed if it runs past it plus the grace period.")
	fs.DurationVar(&o.grace, "specs.grace-period", 10*time.Second, "Time an interrupted spec gets to clean up (--ginkgo.grace-period).")
	fs.StringVar(&o.labelFilter, "specs.label-filter", "", "Ginkgo label filter (--ginkgo.label-filter), e.g. 'pdu && !slow'.")
	fs.Var(&o.args, "specs.arg", "Extra argument for the suite; repeat for several.")
	fs.StringVar(&o.listen, "web.listen-address", "127.0.0.1:9464", "Address for /metrics, the history page, its API and /rerun. Use :9464 in a pod (port name assert). In CI mode the server only starts when this flag is given.")
	fs.StringVar(&o.auth, "web.auth", "", "Who may use the history API and POST /rerun: kubernetes (a bearer token checked with TokenReview, authorised by SubjectAccessReview on the path and verb, e.g. get /api/runs, post /rerun) or none (loopback or dev mode only). Default: none on a loopback --web.listen-address, kubernetes otherwise. /metrics, the page's static files and /-/healthy stay open.")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Kubeconfig for --web.auth=kubernetes (default: $KUBECONFIG, else in-cluster).")
	fs.IntVar(&o.maxWaiters, "web.max-waiters", web.DefaultMaxWaiters, "Most POST /rerun?wait=true requests waiting at once; beyond it they get 429.")
	fs.DurationVar(&o.debounce, "rerun.debounce", 2*time.Second, "A trigger (POST /rerun, a source change) waits this long for more before its run starts; all are served by that run.")
	fs.StringVar(&o.revision, "specs.revision", os.Getenv("WATTSON_REVISION"), "Revision of the system under test recorded with every run, for GET /api/verdict?revision= (default $WATTSON_REVISION).")
	fs.IntVar(&o.maxSpecs, "metrics.max-specs", metrics.DefaultMaxSpecs, "Most specs exported with per-spec series; failing specs are exported first, the rest counted in wattson_spec_series_dropped.")
	fs.StringVar(&o.postgresURL, "store.postgres-url", "", "PostgreSQL URL for the history (postgres://user@host/db). In memory only when empty.")
	fs.DurationVar(&o.retention, "store.retention", 30*24*time.Hour, "Delete runs older than this from PostgreSQL (0 keeps everything).")
	fs.IntVar(&o.memoryRuns, "store.memory-runs", store.DefaultMemoryRuns, "Runs kept in memory (the whole history without PostgreSQL, the fallback with it).")
	fs.IntVar(&o.bufferSz, "store.buffer", store.DefaultBuffer, "Runs buffered in memory while PostgreSQL is unreachable; beyond it the oldest are dropped from the database history.")
	fs.StringVar(&o.journal, "store.journal", "", "Folder (a volume) for the on-disk journal of runs not yet written to PostgreSQL, replayed at start, so a restart during an outage loses none. In memory only when empty.")
	fs.Int64Var(&o.journalBytes, "store.journal-max-bytes", store.DefaultJournalBytes, "Bound on the journal's size; beyond it (or --store.buffer runs) the oldest queued runs are dropped and counted in wattson_runtime_store_dropped_runs_total.")
	host, _ := os.Hostname()
	fs.StringVar(&o.replica, "fleet.replica", host, "This replica's name in the fleet's claims and the run history (default: the host name, the pod's name).")
	fs.DurationVar(&o.lease, "fleet.lease", 30*time.Second, "Fleet mode: a claimed run's lease, renewed every third of it while the suite runs; a killed replica's run is rerun by another at most this long after.")
	fs.IntVar(&o.replicas, "fleet.replicas", 1, "How many replicas run (the Deployment's replicas), so that a runtime without --store.postgres-url can say it cannot share the work.")
	fs.IntVar(&o.untilGreen, "until-green", 0, "CI mode: exit 0 after this many consecutive passed runs, non-zero at --timeout.")
	fs.DurationVar(&o.ciTimeout, "timeout", 10*time.Minute, "CI mode: give up and exit 1 after this long.")
	fs.StringVar(&o.junit, "junit.output", "", "CI mode: write the last run as JUnit XML to this file.")
	fs.StringVar(&o.devDir, "dev.watch-dir", "", "Dev mode: poll this folder's Go sources, rebuild the suite into --specs.binary and rerun on change.")
	fs.StringVar(&o.devPackage, "dev.package", "", "Dev mode: the suite's package, relative to --dev.watch-dir (e.g. . or ./specs).")
	fs.StringVar(&o.devBinary, "dev.watch-binary", os.Getenv("WATTSON_DEV_WATCH_BINARY"), "Dev mode without a Go toolchain: watch this file for a suite compiled elsewhere and copied in (skaffold sync of a binary built on your machine); each new complete one (a whole ELF file, matching FILE.sha256 when that exists, unchanged for one poll) is run at once and from then on. Until the first arrives, --specs.binary runs. Default $WATTSON_DEV_WATCH_BINARY (a Suite's env reaches the runtime's flags so). With it, --dev.poll defaults to 100ms and --rerun.debounce to 0: the binary has settled when it is installed.")
	fs.DurationVar(&o.devPoll, "dev.poll", 500*time.Millisecond, "Dev mode: how often to look for changes.")
	o.log = logging.AddFlags(fs)
	fs.BoolVar(&o.dryRun, "dry-run", false, "Validate the flags (and that the suite binary exists outside dev mode), then exit.")
	fs.BoolVar(&o.version, "version", false, "Print the version and build information, then exit.")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wattson-runtime [flags]\n\nRuns a compiled Ginkgo suite for ever and exports its results as metrics on /metrics.\nWith --until-green it is a CI gate instead.\n\nFlags:\n")
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(stderr, "  --%s", f.Name)
			if name != "" {
				fmt.Fprintf(stderr, "=%s", strings.ToUpper(name))
			}
			fmt.Fprintf(stderr, "\n      %s", usage)
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "[]" {
				fmt.Fprintf(stderr, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(stderr)
		})
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.version {
		return o, nil
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (suite arguments go in --specs.arg)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		o.listenSet = o.listenSet || f.Name == "web.listen-address"
		o.intervalSet = o.intervalSet || f.Name == "specs.interval"
		o.pollSet = o.pollSet || f.Name == "dev.poll"
		o.debounceSet = o.debounceSet || f.Name == "rerun.debounce"
	})
	if o.devBinary != "" {
		if !o.pollSet {
			o.devPoll = devBinaryPoll
		}
		if !o.debounceSet {
			o.debounce = 0
		}
	}
	if o.untilGreen > 0 && !o.intervalSet {
		o.interval = ciInterval
	}
	return o, o.validate()
}

func (o *options) validate() error {
	switch {
	case o.interval <= 0:
		return errors.New("--specs.interval must be positive")
	case o.timeout < 0:
		return errors.New("--specs.timeout must not be negative")
	case o.untilGreen < 0:
		return errors.New("--until-green must not be negative")
	case o.untilGreen > 0 && o.ciTimeout <= 0:
		return errors.New("--timeout must be positive with --until-green")
	case o.junit != "" && o.untilGreen == 0:
		return errors.New("--junit.output needs CI mode (--until-green N)")
	case (o.devDir == "") != (o.devPackage == ""):
		return errors.New("--dev.watch-dir and --dev.package go together")
	case o.devDir != "" && o.untilGreen > 0:
		return errors.New("dev mode (--dev.watch-dir) and CI mode (--until-green) exclude each other")
	case o.devBinary != "" && o.devDir != "":
		return errors.New("--dev.watch-binary (a suite compiled elsewhere) and --dev.watch-dir (compiled here) exclude each other")
	case o.devBinary != "" && o.untilGreen > 0:
		return errors.New("dev mode (--dev.watch-binary) and CI mode (--until-green) exclude each other")
	case o.devPoll <= 0:
		return errors.New("--dev.poll must be positive")
	case o.untilGreen > 1 && time.Duration(o.untilGreen-1)*o.interval >= o.ciTimeout:
		return fmt.Errorf("--until-green %d cannot succeed within --timeout %s: %d pauses of --specs.interval %s alone take %s (lower the interval or raise the timeout)",
			o.untilGreen, o.ciTimeout, o.untilGreen-1, o.interval, time.Duration(o.untilGreen-1)*o.interval)
	case o.auth != "" && o.auth != auth.Kubernetes && o.auth != auth.None:
		return fmt.Errorf("--web.auth %q: want kubernetes or none", o.auth)
	case o.auth == auth.None && !auth.Loopback(o.listen) && !o.dev():
		return fmt.Errorf("--web.auth=none with --web.listen-address %q would open the API to the network: only on a loopback address or in dev mode", o.listen)
	case o.lease < time.Second:
		return errors.New("--fleet.lease must be at least 1s")
	case o.replica == "":
		return errors.New("--fleet.replica must not be empty")
	case o.maxWaiters < 1:
		return errors.New("--web.max-waiters must be at least 1")
	case o.debounce < 0:
		return errors.New("--rerun.debounce must not be negative")
	case o.journalBytes < 1<<20:
		return errors.New("--store.journal-max-bytes must be at least 1 MiB")
	}
	if o.listen != "" {
		if _, _, err := net.SplitHostPort(o.listen); err != nil {
			return fmt.Errorf("--web.listen-address %q: %w", o.listen, err)
		}
	}
	if o.postgresURL != "" {
		if _, err := pgxpool.ParseConfig(o.postgresURL); err != nil {
			return fmt.Errorf("--store.postgres-url: %w", err)
		}
	}
	if o.devDir != "" {
		if fi, err := os.Stat(o.devDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("--dev.watch-dir %q is not a folder", o.devDir)
		}
	} else if o.dryRun && o.devBinary == "" {
		// Outside dry-run a missing binary is a harness error reported every run, not a crash:
		// the image may be fine and the file arrive later (a volume, skaffold sync).
		if _, err := os.Stat(o.binary); err != nil {
			return fmt.Errorf("--specs.binary: %w", err)
		}
	}
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run is the runtime; it returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "gate" {
		return gate(ctx, args[1:], stderr)
	}
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "wattson-runtime:", err)
		return 2
	}
	if o.version {
		buildinfo.Fprint(os.Stdout, "wattson-runtime")
		return 0
	}
	if o.dryRun {
		fmt.Fprintln(stderr, "wattson-runtime: configuration OK")
		return 0
	}
	logger := o.log.New(stderr)
	reg := newRegistry()
	m := metrics.NewMetrics(reg, o.maxSpecs, o.exportedInterval())
	hist, durable, closeHistory, err := openHistory(ctx, o, logger, reg)
	if err != nil {
		logger.Error("open history", "err", err)
		return 2
	}
	defer closeHistory()
	builder := o.devBuilder()
	watched, cleanupWatched, err := o.devBinaryWatcher()
	if err != nil {
		logger.Error("dev mode", "err", err)
		return 2
	}
	defer cleanupWatched()
	sched := newScheduler(o, builder, watched, m, hist, logger)
	fl := newFleet(ctx, o, durable, builder, watched, m, logger)
	if o.serves() {
		srv, err := serveWeb(o, sched, fl, m, hist, reg, logger)
		if err != nil {
			logger.Error("web", "addr", o.listen, "err", err)
			return 2
		}
		defer srv.Close()
	}
	if o.ci() {
		return ciGate(ctx, sched, o, stderr)
	}
	if builder != nil {
		go watchSources(ctx, builder, sched, o, logger)
	}
	if watched != nil {
		watchBinary(ctx, watched, sched, o, logger)
	}
	if fl != nil {
		logger.Info("fleet mode: sharing the suite's runs with the other replicas through PostgreSQL",
			"suite", fl.Suite, "replica", o.replica, "interval", o.interval, "lease", o.lease, "web", o.listen)
		fl.Run(ctx)
		logger.Info("stopped")
		return 0
	}
	logger.Info("watching", "binary", o.binary, "interval", o.interval, "timeout", o.timeout, "web", o.listen)
	sched.Watch(ctx)
	logger.Info("stopped")
	return 0
}

// ci is CI mode: run until green --until-green times in a row, or fail at --timeout.
func (o *options) ci() bool { return o.untilGreen > 0 }

// serves says whether the web server runs: always outside CI mode, in CI mode only when
// --web.listen-address is given.
func (o *options) serves() bool { return !o.ci() || o.listenSet }

// exportedInterval is the interval the metrics report for staleness alerts: 0 in CI mode.
func (o *options) exportedInterval() time.Duration {
	if o.ci() {
		return 0
	}
	return o.interval
}

// devBuilder is dev mode's builder of the suite, nil outside dev mode.
func (o *options) devBuilder() *devwatch.Builder {
	if o.devDir == "" {
		return nil
	}
	return &devwatch.Builder{Dir: o.devDir, Package: o.devPackage, Output: o.binary}
}

// dev is dev mode, either kind: the suite rebuilt here or compiled elsewhere and copied in.
func (o *options) dev() bool { return o.devDir != "" || o.devBinary != "" }

// devBinaryWatcher is dev mode's watcher of a suite compiled elsewhere (--dev.watch-binary), nil
// without it, with the function that removes its private folder of installed copies.
func (o *options) devBinaryWatcher() (*devwatch.Binary, func(), error) {
	if o.devBinary == "" {
		return nil, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "wattson-dev-suite-")
	if err != nil {
		return nil, nil, fmt.Errorf("folder for the installed suite binaries: %w", err)
	}
	return &devwatch.Binary{Path: o.devBinary, Dir: dir}, func() { os.RemoveAll(dir) }, nil
}

// newRegistry is the runtime's private registry, with the Go and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildinfo.NewCollector())
	return reg
}

// openHistory opens the run history: memory always, PostgreSQL behind a buffer (and the journal)
// when configured. The returned function stops the buffer's writer and closes the pool.
func openHistory(ctx context.Context, o *options, logger *slog.Logger, reg prometheus.Registerer) (store.Store, *store.Durable, func(), error) {
	mem := store.NewMemory(o.memoryRuns)
	if o.postgresURL == "" {
		if o.journal != "" {
			logger.Info("--store.journal has no effect without --store.postgres-url")
		}
		return mem, nil, func() {}, nil
	}
	pool, err := pgxpool.New(ctx, o.postgresURL) // connects lazily: an outage at start is fine
	if err != nil {
		return nil, nil, nil, fmt.Errorf("postgres: %w", err)
	}
	do := store.DurableOptions{Buffer: o.bufferSz, Retention: o.retention, Logger: logger, Registerer: reg,
		JournalBytes: o.journalBytes}
	if o.journal != "" {
		j, replay, err := store.OpenJournal(o.journal)
		if j == nil {
			pool.Close()
			return nil, nil, nil, err
		}
		if err != nil {
			logger.Warn("journal files moved to failed/", "dir", o.journal, "err", err)
		}
		do.Journal, do.Replay = j, replay
	} else {
		logger.Warn("no --store.journal: runs queued while PostgreSQL is down are lost if the runtime stops")
	}
	durable := store.NewDurable(store.NewPostgres(pool), mem, do)
	storeCtx, stopStore := context.WithCancel(context.Background())
	storeDone := make(chan struct{})
	go func() {
		defer close(storeDone)
		durable.Start(storeCtx, 10*time.Second)
	}()
	return durable, durable, func() { stopStore(); <-storeDone; pool.Close() }, nil
}

// suiteRunner runs the compiled suite once.
func (o *options) suiteRunner() *runner.Runner {
	return &runner.Runner{Binary: o.binary, Suite: o.suite, LabelFilter: o.labelFilter,
		Timeout: o.timeout, Grace: o.grace, Args: o.args}
}

// newScheduler runs the suite (built first in dev mode) and records each run in the metrics,
// the history and the log.
func newScheduler(o *options, builder *devwatch.Builder, watched *devwatch.Binary, m *metrics.Metrics, hist store.Store, logger *slog.Logger) *scheduler.Scheduler {
	r := o.suiteRunner()
	s := &scheduler.Scheduler{
		Interval: o.interval,
		Debounce: o.debounce,
		Exec:     execFunc(r, builder, watched),
		Record: func(run *report.Run) {
			run.Revision = o.revision
			m.Observe(run)
			if err := hist.Save(context.Background(), run); err != nil {
				logger.Error("save run", "run", run.ID, "err", err)
			}
			scheduler.Log(logger, run)
		},
	}
	if watched != nil {
		// Dev mode with a suite copied in: the saved files' specs answer first. Their run goes to
		// the metrics' per-spec series and the log, never to the history or the verdicts: a few
		// specs are not the suite.
		s.ExecFocused = func(ctx context.Context, files []string) *report.Run {
			rr := *r
			rr.FocusFiles = files
			return execFunc(&rr, builder, watched)(ctx)
		}
		s.RecordFocused = func(run *report.Run) {
			if run.Result == report.Error && run.Ran() == 0 {
				logger.Info("dev mode: no specs in the saved files; the whole suite follows", "focus", strings.Join(run.Focus, ","))
				return
			}
			m.ObserveFocused(run)
			scheduler.Log(logger, run)
		}
		s.Superseded = func(reason string) {
			logger.Info("dev mode: run superseded by a new suite binary, not recorded", "trigger", reason)
		}
	}
	return s
}

// serveWeb serves /metrics, the history page and its API, and (outside CI mode) /rerun, through
// the fleet when there is one.
func serveWeb(o *options, sched *scheduler.Scheduler, fl *fleet.Fleet, m *metrics.Metrics, hist store.Store, reg *prometheus.Registry, logger *slog.Logger) (*http.Server, error) {
	var trigger func(string) <-chan *report.Run
	if !o.ci() {
		trigger = sched.Trigger
		if fl != nil {
			trigger = fl.Trigger
		}
	}
	guard, err := webAuth(o, logger)
	if err != nil {
		return nil, err
	}
	h := web.Handler(web.Options{Store: hist, Trigger: trigger, Ready: m.Ready, Logger: logger,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), Auth: guard,
		MaxWaiters: o.maxWaiters, WaitTimeout: waitTimeout(o)})
	return serve(o.listen, h, logger)
}

// watchSources is dev mode: rebuild and rerun whenever a spec source changes.
func watchSources(ctx context.Context, builder *devwatch.Builder, sched *scheduler.Scheduler, o *options, logger *slog.Logger) {
	logger.Info("dev mode: watching sources", "dir", o.devDir, "package", o.devPackage)
	if err := builder.Watch(ctx, o.devPoll, func() { sched.Trigger(scheduler.TriggerChange) }); err != nil {
		logger.Error("dev mode: watch stopped", "err", err)
	}
}

// watchBinary is dev mode with a suite compiled elsewhere: install the watched binary if it is
// there and complete (before the first run), then rerun whenever a new complete one arrives.
func watchBinary(ctx context.Context, w *devwatch.Binary, sched *scheduler.Scheduler, o *options, logger *slog.Logger) {
	switch ok, err := w.Install(); {
	case ok:
		logger.Info("dev mode: suite binary installed", "path", o.devBinary, "sha256", w.Digest())
	case errors.Is(err, os.ErrNotExist):
		logger.Info("dev mode: no suite binary copied in yet; running --specs.binary until one arrives", "path", o.devBinary, "specs.binary", o.binary)
	default:
		logger.Warn("dev mode: suite binary not installed; running --specs.binary until a complete one arrives", "path", o.devBinary, "specs.binary", o.binary, "err", err)
	}
	logger.Info("dev mode: watching the suite binary", "path", o.devBinary, "poll", o.devPoll)
	go w.Watch(ctx, o.devPoll,
		func(digest string) {
			if files := w.TakeFocus(); len(files) > 0 {
				logger.Info("dev mode: new suite binary, running the saved files' specs, then the whole suite", "path", o.devBinary, "sha256", digest, "focus", strings.Join(files, ","))
				sched.Focus(scheduler.TriggerChange, files)
				return
			}
			logger.Info("dev mode: new suite binary, rerunning", "path", o.devBinary, "sha256", digest)
			sched.Trigger(scheduler.TriggerChange)
		},
		// Info, not a warning: a copy caught halfway is normal; one that never completes shows here.
		func(err error) { logger.Info("dev mode: suite binary not run yet", "err", err) })
}

// newFleet wires fleet mode (watch mode with PostgreSQL): the runs come from the shared queue,
// are recorded in the queue's transaction, and the metrics export the fleet's view. It returns
// nil outside fleet mode, saying so when told there are several replicas.
func newFleet(ctx context.Context, o *options, durable *store.Durable, b *devwatch.Builder, watched *devwatch.Binary, m *metrics.Metrics, logger *slog.Logger) *fleet.Fleet {
	if durable == nil || o.ci() || o.dev() {
		if o.replicas > 1 {
			logger.Warn("NOT SHARING THE WORK: fleet mode needs --store.postgres-url (and watch mode); this replica runs the suite on its own, so each of the replicas does every run",
				"fleet.replicas", o.replicas)
		}
		return nil
	}
	r := o.suiteRunner()
	if r.Suite == "" {
		r.Suite = strings.TrimSuffix(filepath.Base(o.binary), ".test")
	}
	pool := durable.Pool()
	exec := execFunc(r, b, watched)
	f := &fleet.Fleet{Pool: pool, Suite: r.Suite, Replica: o.replica, Interval: o.interval, Lease: o.lease,
		Debounce: o.debounce, Logger: logger,
		Exec: func(ctx context.Context) *report.Run {
			run := exec(ctx)
			run.Revision = o.revision
			return run
		},
		Record: func(run *report.Run) {
			m.Observe(run)
			durable.Remember(run)
			scheduler.Log(logger, run)
		},
		Alone: durable.Enqueue,
	}
	e := &fleet.Exporter{Pool: pool, Suite: r.Suite, Every: o.lease / 3}
	m.SetShared(e.View)
	go e.Run(ctx)
	return f
}

// execFunc runs the suite, building it first in dev mode, or running the binary last copied in
// (--dev.watch-binary); a failed build is a harness error.
func execFunc(r *runner.Runner, b *devwatch.Builder, watched *devwatch.Binary) func(context.Context) *report.Run {
	return func(ctx context.Context) *report.Run {
		if watched != nil {
			rr := *r
			rr.Binary = watched.Current(r.Binary)
			if rr.Dir == "" {
				rr.Dir = filepath.Dir(r.Binary) // where it ran before the first copy came in
			}
			return rr.Run(ctx)
		}
		if b != nil {
			start := time.Now()
			if err := b.Build(ctx); err != nil {
				now := time.Now()
				return &report.Run{ID: report.NewID(), Suite: r.Suite, StartedAt: start, FinishedAt: now,
					Duration: now.Sub(start), Result: report.Error, Error: report.Tail(err.Error(), report.MaxMessage)}
			}
		}
		return r.Run(ctx)
	}
}

// ciGate is CI mode: runs until green or timeout, writes JUnit, prints a summary.
func ciGate(ctx context.Context, sched *scheduler.Scheduler, o *options, w io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, o.ciTimeout)
	defer cancel()
	out := sched.UntilGreen(ctx, o.untilGreen)
	if o.junit != "" && len(out.Runs) > 0 {
		last := out.Runs[len(out.Runs)-1]
		if !out.Green && out.LastComplete != nil {
			last = out.LastComplete // the failures say more than a final cancelled or broken run
		}
		if err := report.WriteJUnit(last, o.junit); err != nil {
			fmt.Fprintln(w, "wattson-runtime:", err)
		}
	}
	fmt.Fprint(w, summary(out, o))
	if out.Green {
		return 0
	}
	return 1
}

// summary is the readable end of a CI run.
func summary(out scheduler.Outcome, o *options) string {
	var b strings.Builder
	counts := map[report.Result]int{}
	for _, r := range out.Runs {
		counts[r.Result]++
	}
	if out.Green {
		fmt.Fprintf(&b, "GREEN: %d consecutive passed runs (%d runs in all)\n", o.untilGreen, len(out.Runs))
		return b.String()
	}
	fmt.Fprintf(&b, "NOT GREEN after %s: %d runs (%d passed, %d failed, %d errors); needed %d passed in a row\n",
		o.ciTimeout, len(out.Runs), counts[report.Passed], counts[report.Failed], counts[report.Error], o.untilGreen)
	if len(out.Runs) > 0 {
		if last := out.Runs[len(out.Runs)-1]; last.Result == report.Error {
			fmt.Fprintf(&b, "last run: harness error: %s\n", firstLines(last.Error, 10))
		}
	}
	if lc := out.LastComplete; lc != nil && lc.Result == report.Failed {
		fmt.Fprintf(&b, "last complete run: %d passed, %d failed:\n", lc.Passed, lc.Failed)
		for _, s := range lc.FailedSpecs() {
			fmt.Fprintf(&b, "  [%s] %s\n    at %s\n    %s\n", strings.ToUpper(s.State), s.Name, s.Location,
				strings.ReplaceAll(firstLines(s.Message, 6), "\n", "\n    "))
		}
	}
	return b.String()
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}

func serve(addr string, h http.Handler, logger *slog.Logger) (*http.Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := web.Server(h)
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("web server stopped", "err", err)
		}
	}()
	logger.Info("listening", "addr", l.Addr().String())
	return srv, nil
}

// webAuth is the middleware --web.auth chose. Without authentication it says so loudly.
func webAuth(o *options, logger *slog.Logger) (auth.Middleware, error) {
	mode := o.auth
	if mode == "" {
		mode = auth.Kubernetes
		if auth.Loopback(o.listen) {
			mode = auth.None
		}
	}
	if mode == auth.None {
		logger.Warn("AUTHENTICATION DISABLED: anyone who reaches --web.listen-address may read the history and POST /rerun; use --web.auth=kubernetes in a pod",
			"addr", o.listen, "web.auth", o.auth)
		return auth.Open, nil
	}
	cfg, err := kubeConfig(o.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--web.auth=kubernetes: %w", err)
	}
	logger.Info("web auth: bearer tokens checked with TokenReview and SubjectAccessReview", "apiserver", cfg.Host)
	return auth.NewKubernetes(cfg, logger)
}

// kubeConfig reads path, else $KUBECONFIG, else the in-cluster config.
func kubeConfig(path string) (*rest.Config, error) {
	if path == "" {
		path = os.Getenv("KUBECONFIG")
	}
	if path == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no --kubeconfig and not in a pod: %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// waitTimeout bounds a POST /rerun?wait=true: a run in progress, then the debounce and its own
// run, each at most the suite's timeout plus grace and the kill margin.
func waitTimeout(o *options) time.Duration {
	return 2*(o.timeout+2*o.grace+10*time.Second) + o.debounce
}
