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

	"github.com/wattson-dev/wattson/runtime/internal/report"
	"github.com/wattson-dev/wattson/runtime/internal/store"
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
}

// Handler returns the runtime's HTTP handler.
func Handler(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &handler{o: o}
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
	mux.HandleFunc("GET /api/status", h.status)
	mux.HandleFunc("GET /api/runs", h.runs)
	mux.HandleFunc("GET /api/runs/{id}", h.run)
	mux.HandleFunc("GET /api/specs/history", h.specHistory)
	mux.HandleFunc("GET /api/flaky", h.flaky)
	mux.HandleFunc("POST /rerun", h.rerun)
	return mux
}

type handler struct{ o Options }

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

// rerun starts a run now; with ?wait=true it answers with the finished run.
func (h *handler) rerun(w http.ResponseWriter, r *http.Request) {
	if h.o.Trigger == nil {
		writeJSON(w, http.StatusConflict, apiError{"reruns are not available in CI mode"})
		return
	}
	wait, _ := strconv.ParseBool(r.URL.Query().Get("wait"))
	c := h.o.Trigger("rerun")
	if !wait {
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued"})
		return
	}
	select {
	case run := <-c:
		writeJSON(w, http.StatusOK, run)
	case <-r.Context().Done():
		if errors.Is(r.Context().Err(), context.DeadlineExceeded) {
			writeJSON(w, http.StatusGatewayTimeout, apiError{"run did not finish in time"})
		}
	}
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
