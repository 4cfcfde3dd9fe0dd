// Package web serves the runtime's HTTP side on one port: /metrics, the history page (embedded,
// no external assets), the JSON API behind it, POST /rerun and health endpoints.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/store"
	"github.com/wattson-dev/wattson/runtime/internal/verdict"
)

//go:embed static
var static embed.FS

// Options configure the handler.
type Options struct {
	Store store.Store
	// Trigger asks for a run (scheduler.Scheduler.Trigger); nil disables POST /rerun (CI mode).
	Trigger func(reason string) <-chan *report.Run
	// Metrics serves /metrics.
	Metrics http.Handler
	// Ready reports whether a run has completed, for /api/status.
	Ready  func() bool
	Logger *slog.Logger
	// Auth guards the history API and POST /rerun (not the page's static files, /metrics or the
	// health endpoints); nil lets everything through.
	Auth func(http.Handler) http.Handler
	// MaxWaiters bounds the POST /rerun?wait=true requests waiting at once (DefaultMaxWaiters
	// when <= 0); beyond it they get 429.
	MaxWaiters int
	// WaitTimeout bounds how long one ?wait=true request waits (DefaultWaitTimeout when <= 0).
	WaitTimeout time.Duration
}

// Defaults of Options.
const (
	DefaultMaxWaiters  = 64
	DefaultWaitTimeout = 25 * time.Minute
	// MaxTriggerLen bounds the trigger text of POST /rerun?trigger=.
	MaxTriggerLen = 200
)

// Server timeouts of every HTTP server of the runtime. A POST /rerun?wait=true extends its own
// write deadline to its wait timeout.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 2 * time.Minute
	IdleTimeout       = 2 * time.Minute
)

// Server returns an http.Server for h with the runtime's timeouts.
func Server(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: 64 << 10}
}

// Handler returns the runtime's HTTP handler.
func Handler(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Auth == nil {
		o.Auth = func(h http.Handler) http.Handler { return h }
	}
	if o.MaxWaiters <= 0 {
		o.MaxWaiters = DefaultMaxWaiters
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	h := &handler{o: o, waiters: make(chan struct{}, o.MaxWaiters)}
	sub, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", o.Metrics)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(sub)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	})
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	// Ready means "serving": the pod must stay scrapeable before the first run, when the metrics
	// say wattson_runtime_ready 0.
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	guard := func(f http.HandlerFunc) http.Handler { return o.Auth(f) }
	mux.Handle("GET /api/status", guard(h.status))
	mux.Handle("GET /api/runs", guard(h.runs))
	mux.Handle("GET /api/runs/{id}", guard(h.run))
	mux.Handle("GET /api/specs/history", guard(h.specHistory))
	mux.Handle("GET /api/flaky", guard(h.flaky))
	mux.Handle("GET /api/verdict", guard(h.verdict))
	mux.Handle("POST /rerun", guard(h.rerun))
	return mux
}

type handler struct {
	o       Options
	waiters chan struct{}
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	runs, err := h.o.Store.Runs(r.Context(), 1)
	if err != nil {
		h.fail(w, err)
		return
	}
	st := struct {
		Ready   bool        `json:"ready"`
		LastRun *report.Run `json:"last_run"`
	}{Ready: h.o.Ready != nil && h.o.Ready()}
	if len(runs) > 0 {
		st.LastRun = &runs[0]
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *handler) runs(w http.ResponseWriter, r *http.Request) {
	limit, ok := intParam(w, r, "limit", 50, 1000)
	if !ok {
		return
	}
	runs, err := h.o.Store.Runs(r.Context(), limit)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, runs)
}

func (h *handler) run(w http.ResponseWriter, r *http.Request) {
	run, err := h.o.Store.Run(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, apiError{"run " + r.PathValue("id") + " not found"})
		return
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

func (h *handler) specHistory(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		writeJSON(w, http.StatusBadRequest, apiError{"query parameter name (the spec's full text) is required"})
		return
	}
	limit, ok := intParam(w, r, "limit", 100, 1000)
	if !ok {
		return
	}
	specs, err := h.o.Store.SpecHistory(r.Context(), name, limit)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, specs)
}

func (h *handler) flaky(w http.ResponseWriter, r *http.Request) {
	runs, ok := intParam(w, r, "runs", 50, 1000)
	if !ok {
		return
	}
	f, err := h.o.Store.Flaky(r.Context(), runs)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// verdict answers a promotion gate: 200 with green, red or unknown and the reason.
func (h *handler) verdict(w http.ResponseWriter, r *http.Request) {
	q, err := verdict.ParseQuery(r.URL.Query())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	v, err := verdict.Compute(r.Context(), h.o.Store, q)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// rerun starts a run now; with ?wait=true it answers with the finished run.
func (h *handler) rerun(w http.ResponseWriter, r *http.Request) {
	if h.o.Trigger == nil {
		writeJSON(w, http.StatusConflict, apiError{"reruns are not available in CI mode"})
		return
	}
	wait, err := boolParam(r, "wait")
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	trigger, err := triggerParam(r.URL.Query().Get("trigger"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	if !wait {
		h.o.Trigger(trigger)
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued", "trigger": trigger})
		return
	}
	select {
	case h.waiters <- struct{}{}:
		defer func() { <-h.waiters }()
	default:
		w.Header().Set("Retry-After", "10")
		writeJSON(w, http.StatusTooManyRequests, apiError{"too many requests waiting for a run; retry later or POST without wait"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.o.WaitTimeout)
	defer cancel()
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(h.o.WaitTimeout + 10*time.Second))
	c := h.o.Trigger(trigger)
	select {
	case run := <-c:
		if run == nil {
			writeJSON(w, http.StatusServiceUnavailable, apiError{"the run could not be queued (is the database reachable?); see the runtime's log"})
			return
		}
		writeJSON(w, http.StatusOK, run)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			writeJSON(w, http.StatusGatewayTimeout, apiError{"run did not finish within " + h.o.WaitTimeout.String()})
		}
	}
}

// triggerParam checks the free text of ?trigger= ("rerun" when empty): printable, one line,
// bounded, since it is stored in the history and shown on the page.
func triggerParam(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "rerun", nil
	}
	if len(s) > MaxTriggerLen {
		return "", errors.New("query parameter trigger: longer than " + strconv.Itoa(MaxTriggerLen) + " bytes")
	}
	for _, c := range s {
		if c == unicode.ReplacementChar || !unicode.IsPrint(c) {
			return "", errors.New("query parameter trigger: only printable characters on one line")
		}
	}
	return s, nil
}

func boolParam(r *http.Request, name string) (bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, errors.New("query parameter " + name + " must be true or false")
	}
	return b, nil
}

type apiError struct {
	Error string `json:"error"`
}

func (h *handler) fail(w http.ResponseWriter, err error) {
	h.o.Logger.Error("api request failed", "err", err)
	writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
}

func intParam(w http.ResponseWriter, r *http.Request, name string, def, max int) (int, bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		writeJSON(w, http.StatusBadRequest, apiError{"query parameter " + name + " must be an integer from 1 to " + strconv.Itoa(max)})
		return 0, false
	}
	return n, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
