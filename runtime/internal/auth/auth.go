package auth

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
)

// Modes of --web.auth.
const (
	// Kubernetes checks every protected request with TokenReview and SubjectAccessReview.
	Kubernetes = "kubernetes"
	// None lets every request through: for loopback and dev mode only.
	None = "none"
)

// Middleware wraps the handlers that need a caller's identity.
type Middleware func(http.Handler) http.Handler

// Open is the middleware of --web.auth=none.
func Open(h http.Handler) http.Handler { return h }

// NewKubernetes returns the middleware that authenticates and authorises against the apiserver
// of cfg. Its ServiceAccount needs create on tokenreviews and subjectaccessreviews.
func NewKubernetes(cfg *rest.Config, logger *slog.Logger) (Middleware, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes auth: http client: %w", err)
	}
	filter, err := filters.WithAuthenticationAndAuthorization(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes auth: %w", err)
	}
	log := logr.FromSlogHandler(logger.Handler())
	return func(h http.Handler) http.Handler {
		wrapped, err := filter(log, h)
		if err != nil {
			// The filter never fails today; refuse everything rather than serve unprotected.
			logger.Error("kubernetes auth filter", "err", err)
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "authentication unavailable", http.StatusInternalServerError)
			})
		}
		return wrapped
	}, nil
}

// Loopback reports whether addr (host:port) only listens on a loopback address. An empty host
// (":9464") listens everywhere.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
