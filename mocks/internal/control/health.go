package control

import (
	"fmt"
	"net/http"
	"sync"
)

// Gate is the simulator's web root, up before the SNMP endpoints are bound: /-/healthy answers at
// once (the process serves HTTP), /-/ready only once the simulator calls Ready (every device
// loaded, every SNMP endpoint bound), as Prometheus's own endpoints do. Until then the API and
// /metrics answer 503.
// /healthz, which predates these, answers as /-/ready.
type Gate struct {
	mu    sync.Mutex
	stage string       // what the simulator is doing while not ready
	next  http.Handler // the API, once ready
}

// NewGate returns a gate that is not ready, saying it is starting.
func NewGate() *Gate { return &Gate{stage: "starting"} }

// Stage says what the simulator is doing before it is ready, for /-/ready's 503.
func (g *Gate) Stage(s string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stage = s
}

// Ready serves h (the control API) from now on and makes /-/ready answer 200.
func (g *Gate) Ready(h http.Handler) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.next = h
}

func (g *Gate) state() (http.Handler, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.next, g.stage
}

func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	next, stage := g.state()
	switch r.URL.Path {
	case "/-/healthy":
		if healthMethod(w, r) {
			fmt.Fprintln(w, "wattson-snmpsim is Healthy.")
		}
		return
	case "/-/ready", "/healthz":
		if !healthMethod(w, r) {
			return
		}
		if next == nil {
			http.Error(w, "wattson-snmpsim is not ready: "+stage+".", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "wattson-snmpsim is Ready.")
		return
	}
	if next == nil {
		http.Error(w, "wattson-snmpsim is not ready: "+stage+" (GET /-/ready tells when it is).", http.StatusServiceUnavailable)
		return
	}
	next.ServeHTTP(w, r)
}

// healthMethod allows GET and HEAD, as Prometheus's health endpoints.
func healthMethod(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}
