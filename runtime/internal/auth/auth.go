package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
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

// Cache lifetimes, as the apiserver's delegating authenticator and authorizer use them.
const (
	tokenTTL   = time.Minute
	allowTTL   = 5 * time.Minute
	denyTTL    = 30 * time.Second
	maxEntries = 4096
	reviewWait = 10 * time.Second
)

// Middleware wraps the handlers that need a caller's identity.
type Middleware func(http.Handler) http.Handler

// Open is the middleware of --web.auth=none.
func Open(h http.Handler) http.Handler { return h }

// NewKubernetes returns the middleware that authenticates bearer tokens with a TokenReview and
// authorises each request with a SubjectAccessReview (its HTTP verb on PathPrefix + its path)
// against the apiserver of cfg: the approach of kube-rbac-proxy and of controller-runtime's
// metrics/filters, with the same cache lifetimes (tokens 1m, allowed 5m, denied 30s), written as two
// JSON requests on client-go's rest transport rather than on k8s.io/apiserver (which made the
// binary 77 MB instead of 20) or client-go's typed clients (46 MB). Its ServiceAccount needs create on tokenreviews and
// subjectaccessreviews. No or a bad token: 401; denied: 403; the apiserver unreachable: 503.
func NewKubernetes(cfg *rest.Config, logger *slog.Logger) (Middleware, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes auth: %w", err)
	}
	g := &guard{hc: hc, host: strings.TrimSuffix(cfg.Host, "/"), log: logger,
		tokens: newCache[user](), decisions: newCache[bool]()}
	return g.wrap, nil
}

type user struct {
	ok     bool
	name   string
	uid    string
	groups []string
	extra  map[string]authzv1.ExtraValue
}

type guard struct {
	hc        *http.Client
	host      string
	log       *slog.Logger
	tokens    *cache[user]
	decisions *cache[bool]
}

func (g *guard) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wattson-runtime"`)
			http.Error(w, "Unauthorized: send a Kubernetes bearer token", http.StatusUnauthorized)
			return
		}
		u, err := g.authenticate(r.Context(), strings.TrimSpace(token))
		if err != nil {
			g.log.Warn("token review failed", "err", err)
			http.Error(w, "authentication unavailable", http.StatusServiceUnavailable)
			return
		}
		if !u.ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wattson-runtime"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		verb, path := strings.ToLower(r.Method), PathPrefix+r.URL.Path
		allowed, err := g.authorize(r.Context(), u, verb, path)
		if err != nil {
			g.log.Warn("subject access review failed", "user", u.name, "err", err)
			http.Error(w, "authorization unavailable", http.StatusServiceUnavailable)
			return
		}
		if !allowed {
			g.log.Debug("request denied", "user", u.name, "verb", verb, "path", path)
			http.Error(w, fmt.Sprintf("Forbidden: %s may not %s %s", u.name, verb, path), http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (g *guard) authenticate(ctx context.Context, token string) (user, error) {
	sum := sha256.Sum256([]byte(token))
	key := string(sum[:])
	if u, ok := g.tokens.get(key); ok {
		return u, nil
	}
	ctx, cancel := context.WithTimeout(ctx, reviewWait)
	defer cancel()
	tr := &authnv1.TokenReview{}
	tr.APIVersion, tr.Kind = "authentication.k8s.io/v1", "TokenReview"
	tr.Spec.Token = token
	if err := g.post(ctx, "/apis/authentication.k8s.io/v1/tokenreviews", tr, tr); err != nil {
		return user{}, err
	}
	u := user{ok: tr.Status.Authenticated && tr.Status.Error == "", name: tr.Status.User.Username,
		uid: tr.Status.User.UID, groups: tr.Status.User.Groups}
	if len(tr.Status.User.Extra) > 0 {
		u.extra = map[string]authzv1.ExtraValue{}
		for k, v := range tr.Status.User.Extra {
			u.extra[k] = authzv1.ExtraValue(v)
		}
	}
	g.tokens.put(key, u, tokenTTL)
	return u, nil
}

func (g *guard) authorize(ctx context.Context, u user, verb, path string) (bool, error) {
	key := u.name + "\x00" + u.uid + "\x00" + strings.Join(u.groups, ",") + "\x00" + verb + "\x00" + path
	if d, ok := g.decisions.get(key); ok {
		return d, nil
	}
	ctx, cancel := context.WithTimeout(ctx, reviewWait)
	defer cancel()
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: u.name, UID: u.uid, Groups: u.groups, Extra: u.extra,
		NonResourceAttributes: &authzv1.NonResourceAttributes{Path: path, Verb: verb},
	}}
	sar.APIVersion, sar.Kind = "authorization.k8s.io/v1", "SubjectAccessReview"
	if err := g.post(ctx, "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar, sar); err != nil {
		return false, err
	}
	allowed := sar.Status.Allowed && !sar.Status.Denied
	ttl := denyTTL
	if allowed {
		ttl = allowTTL
	}
	g.decisions.put(key, allowed, ttl)
	return allowed, nil
}

// post creates a review object and decodes the apiserver's answer into out.
func (g *guard) post(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.host+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := g.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, out)
}

// cache is a small TTL map, emptied when it reaches maxEntries (a burst of distinct tokens
// cannot grow it without bound).
type cache[V any] struct {
	mu sync.Mutex
	m  map[string]entry[V]
}

type entry[V any] struct {
	v       V
	expires time.Time
}

func newCache[V any]() *cache[V] { return &cache[V]{m: map[string]entry[V]{}} }

func (c *cache[V]) get(k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || time.Now().After(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *cache[V]) put(k string, v V, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxEntries {
		c.m = map[string]entry[V]{}
	}
	c.m[k] = entry[V]{v: v, expires: time.Now().Add(ttl)}
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
