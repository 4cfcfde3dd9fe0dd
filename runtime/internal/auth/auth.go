package auth

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	authenticationv1 "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
)

// Modes of --web.auth.
const (
	// Kubernetes checks every protected request with TokenReview and SubjectAccessReview.
	Kubernetes = "kubernetes"
	// None lets every request through: for loopback and dev mode only.
	None = "none"
)

// PathPrefix is put before a request's path in its SubjectAccessReview: GET /api/runs is
// authorised as verb get on the non-resource URL /wattson-runtime/api/runs. Without it the
// runtime's /api/* would be the apiserver's own discovery path, which the built-in
// system:discovery role grants every authenticated user (every ServiceAccount of the cluster).
const PathPrefix = "/wattson-runtime"

// Middleware wraps the handlers that need a caller's identity.
type Middleware func(http.Handler) http.Handler

// Open is the middleware of --web.auth=none.
func Open(h http.Handler) http.Handler { return h }

// backoff of the TokenReview and SubjectAccessReview webhooks, as the apiserver's defaults
// (and controller-runtime's metrics filter) use.
var backoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}

// NewKubernetes returns the middleware that authenticates bearer tokens with TokenReview and
// authorises requests with SubjectAccessReview against the apiserver of cfg, with the apiserver
// library's delegating authenticator and authorizer (as controller-runtime's
// metrics/filters.WithAuthenticationAndAuthorization and kube-rbac-proxy do), cached: tokens
// 1m, allowed 5m, denied 30s. Its ServiceAccount needs create on tokenreviews and
// subjectaccessreviews. A request without a valid token gets 401, a denied one 403.
func NewKubernetes(cfg *rest.Config, logger *slog.Logger) (Middleware, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes auth: http client: %w", err)
	}
	authn, err := authenticationv1.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes auth: %w", err)
	}
	authz, err := authorizationv1.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes auth: %w", err)
	}
	authenticator, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                &apiserver.AnonymousAuthConfig{Enabled: false},
		CacheTTL:                 time.Minute,
		TokenAccessReviewClient:  authn,
		TokenAccessReviewTimeout: 10 * time.Second,
		WebhookRetryBackoff:      &backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("kubernetes auth: authenticator: %w", err)
	}
	authorizer_, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: authz,
		AllowCacheTTL:             5 * time.Minute,
		DenyCacheTTL:              30 * time.Second,
		WebhookRetryBackoff:       &backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("kubernetes auth: authorizer: %w", err)
	}
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
				w.Header().Set("WWW-Authenticate", `Bearer realm="wattson-runtime"`)
				http.Error(w, "Unauthorized: send a Kubernetes bearer token", http.StatusUnauthorized)
				return
			}
			res, ok, err := authenticator.AuthenticateRequest(r)
			if err != nil || !ok {
				// An invalid or expired token is an error for the authenticator; for the caller it
				// is 401. The apiserver being unreachable is logged.
				if err != nil && !strings.Contains(err.Error(), "invalid bearer token") {
					logger.Warn("token review failed", "err", err)
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="wattson-runtime"`)
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			attrs := authorizer.AttributesRecord{User: res.User, Verb: strings.ToLower(r.Method), Path: PathPrefix + r.URL.Path}
			decision, reason, err := authorizer_.Authorize(r.Context(), attrs)
			if err != nil {
				logger.Warn("subject access review failed", "user", res.User.GetName(), "err", err)
				http.Error(w, "authorization failed", http.StatusInternalServerError)
				return
			}
			if decision != authorizer.DecisionAllow {
				logger.Debug("request denied", "user", res.User.GetName(), "verb", attrs.Verb, "path", attrs.Path, "reason", reason)
				http.Error(w, fmt.Sprintf("Forbidden: %s may not %s %s", res.User.GetName(), attrs.Verb, attrs.Path), http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, r)
		})
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
