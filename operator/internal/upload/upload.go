// Package upload serves the MIB upload page: drop MIB files, see each file's parse errors by line
// before saving, save them as a ConfigMap labelled wattson.dev/mib=true. Every API call needs a
// bearer token: either the token in a Secret (--upload.token-secret) or any Kubernetes token whose
// user may create ConfigMaps in the operator's namespace (TokenReview + SubjectAccessReview).
// There is no default password.
package upload

import (
	"bytes"
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/wattson-dev/wattson/operator/internal/mib"
	"github.com/wattson-dev/wattson/operator/internal/mibconfigmaps"
)

//go:embed page.html
var page []byte

// Limits on uploads.
const (
	maxRequest = 64 << 20
	// TokenKey is the key of the token in the --upload.token-secret Secret.
	TokenKey = "token"
	// uploadPrefix sorts uploaded files before the library's, so they win for the same module.
	uploadPrefix = "+upload/"
)

// Options configure the server.
type Options struct {
	// Addr is the listen address, e.g. 127.0.0.1:8082 or :8082.
	Addr string
	// Namespace holds the MIB ConfigMaps.
	Namespace string
	// TokenSecret, "name" or "namespace/name", holds the accepted token under key "token".
	// Empty means Kubernetes tokens checked with TokenReview and SubjectAccessReview.
	TokenSecret string
	// Client reads and writes ConfigMaps and Secrets and creates the reviews.
	Client client.Client
	// Config is unused today; kept so callers pass the operator's REST config for future reviews.
	Config *rest.Config
}

// Server is the upload page; it runs on every replica (no leader election needed).
type Server struct {
	o Options
}

// New checks the options and returns a server.
func New(o Options) (*Server, error) {
	if o.Client == nil || o.Namespace == "" || o.Addr == "" {
		return nil, errors.New("upload: Addr, Namespace and Client are required")
	}
	return &Server{o: o}, nil
}

// NeedLeaderElection is false: every replica may serve the page.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.o.Addr)
	if err != nil {
		return fmt.Errorf("upload: listening on %s: %w", s.o.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.FromContext(ctx).Info("serving MIB upload page", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Handler returns the page and its API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
		_, _ = w.Write(page)
	})
	mux.Handle("POST /api/check", s.authenticated(s.check))
	mux.Handle("POST /api/save", s.authenticated(s.save))
	mux.Handle("GET /api/library", s.authenticated(s.library))
	return mux
}

type userKey struct{}

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// authenticated wraps h with the bearer token check.
func (s *Server) authenticated(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			httpError(w, http.StatusUnauthorized, "missing bearer token")
			return
		}
		user, err := s.authenticate(r.Context(), token)
		if err != nil {
			log.FromContext(r.Context()).Info("upload: request refused", "reason", err.Error())
			httpError(w, http.StatusForbidden, err.Error())
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
	})
}

func (s *Server) authenticate(ctx context.Context, token string) (string, error) {
	if s.o.TokenSecret != "" {
		ns, name := s.o.Namespace, s.o.TokenSecret
		if before, after, ok := strings.Cut(name, "/"); ok {
			ns, name = before, after
		}
		var secret corev1.Secret
		if err := s.o.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &secret); err != nil {
			return "", fmt.Errorf("token Secret %s/%s unavailable: %w", ns, name, err)
		}
		want := secret.Data[TokenKey]
		if len(want) == 0 {
			return "", fmt.Errorf("token Secret %s/%s has no key %q", ns, name, TokenKey)
		}
		if subtle.ConstantTimeCompare(bytes.TrimSpace(want), []byte(token)) != 1 {
			return "", errors.New("invalid token")
		}
		return "token-secret:" + ns + "/" + name, nil
	}
	tr := &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}
	if err := s.o.Client.Create(ctx, tr); err != nil {
		return "", fmt.Errorf("token review: %w", err)
	}
	if !tr.Status.Authenticated {
		return "", errors.New("invalid token")
	}
	u := tr.Status.User
	extra := map[string]authzv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = authzv1.ExtraValue(v)
	}
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: u.Username, Groups: u.Groups, UID: u.UID, Extra: extra,
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: s.o.Namespace, Verb: "create", Resource: "configmaps"},
	}}
	if err := s.o.Client.Create(ctx, sar); err != nil {
		return "", fmt.Errorf("subject access review: %w", err)
	}
	if !sar.Status.Allowed {
		return "", fmt.Errorf("user %s may not create configmaps in namespace %s", u.Username, s.o.Namespace)
	}
	return u.Username, nil
}

// FileReport is the check result of one uploaded file.
type FileReport struct {
	Name string `json:"name"`
	// Module is the MIB module the file defines; empty if it is not a MIB.
	Module      string           `json:"module"`
	Size        int              `json:"size"`
	Errors      int              `json:"errors"`
	Diagnostics []mib.Diagnostic `json:"diagnostics"`
}

// Report is the answer of /api/check and /api/save.
type Report struct {
	Files []FileReport `json:"files"`
	// Saved is the ConfigMap written, on save.
	Saved string `json:"saved,omitempty"`
}

// readFiles reads the multipart field "files".
func readFiles(r *http.Request) (map[string][]byte, error) {
	if err := r.ParseMultipartForm(maxRequest); err != nil {
		return nil, fmt.Errorf("reading upload: %w", err)
	}
	out := map[string][]byte{}
	for _, fh := range r.MultipartForm.File["files"] {
		f, err := fh.Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(f, mibconfigmaps.MaxMIBSize+1))
		f.Close()
		if err != nil {
			return nil, err
		}
		name := fh.Filename
		if strings.HasSuffix(name, ".gz") {
			if b, err = mibconfigmaps.Gunzip(b); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			name = strings.TrimSuffix(name, ".gz")
		}
		if len(b) > mibconfigmaps.MaxMIBSize {
			return nil, fmt.Errorf("%s: larger than %d bytes", name, mibconfigmaps.MaxMIBSize)
		}
		if !validKey.MatchString(name) {
			return nil, fmt.Errorf("%q: file names may hold only letters, digits, '-', '_' and '.'", name)
		}
		out[name] = b
	}
	if len(out) == 0 {
		return nil, errors.New("no files in field \"files\"")
	}
	return out, nil
}

var validKey = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// checkFiles parses the uploads together with the library, so imports resolve, and reports the
// diagnostics of the uploaded files only.
func (s *Server) checkFiles(ctx context.Context, files map[string][]byte) (*Report, error) {
	lib, err := mibconfigmaps.LoadMIBs(ctx, s.o.Client, s.o.Namespace)
	if err != nil {
		return nil, err
	}
	all := make(map[string][]byte, len(lib.Files)+len(files))
	for k, v := range lib.Files {
		all[k] = v
	}
	for k, v := range files {
		all[uploadPrefix+k] = v
	}
	_, diags, err := mib.Load(ctx, mib.Files(all))
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	byFile := map[string]*FileReport{}
	names := make([]string, 0, len(files))
	for k := range files {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fr := FileReport{Name: k, Size: len(files[k]), Diagnostics: []mib.Diagnostic{}}
		if m := mibconfigmaps.ModuleHeader.FindSubmatch(files[k]); m != nil {
			fr.Module = string(m[1])
		} else {
			fr.Errors++
			fr.Diagnostics = append(fr.Diagnostics, mib.Diagnostic{Severity: mib.SeverityError, File: k, Line: 1, Code: "not-a-mib",
				Message: "no \"NAME DEFINITIONS ::= BEGIN\" line: this is not a MIB module"})
		}
		rep.Files = append(rep.Files, fr)
	}
	for i := range rep.Files {
		byFile[uploadPrefix+rep.Files[i].Name] = &rep.Files[i]
	}
	for _, d := range diags {
		fr, ok := byFile[d.File]
		if !ok || d.Severity == mib.SeverityInfo {
			continue
		}
		d.File = fr.Name
		if d.Severity == mib.SeverityError {
			fr.Errors++
		}
		fr.Diagnostics = append(fr.Diagnostics, d)
	}
	return rep, nil
}

func (s *Server) check(w http.ResponseWriter, r *http.Request) {
	files, err := readFiles(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	rep, err := s.checkFiles(r.Context(), files)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// save writes the files as one ConfigMap; files with errors are refused unless force=true.
func (s *Server) save(w http.ResponseWriter, r *http.Request) {
	files, err := readFiles(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	name := r.FormValue("name")
	if !dns1123.MatchString(name) || len(name) > 253 {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("name: %q is not a valid ConfigMap name (lower-case letters, digits and '-')", name))
		return
	}
	rep, err := s.checkFiles(r.Context(), files)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	force := r.FormValue("force") == "true"
	for _, f := range rep.Files {
		if f.Module == "" || (f.Errors > 0 && !force) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			_ = json.NewEncoder(w).Encode(rep)
			return
		}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.o.Namespace}}
	user, _ := r.Context().Value(userKey{}).(string)
	_, err = controllerutil.CreateOrUpdate(r.Context(), s.o.Client, cm, func() error {
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Annotations["wattson.dev/uploaded-by"] = user
		mibconfigmaps.Put(cm, files)
		return nil
	})
	if err != nil {
		httpError(w, http.StatusInternalServerError, "saving ConfigMap: "+err.Error())
		return
	}
	rep.Saved = s.o.Namespace + "/" + name
	log.FromContext(r.Context()).Info("MIB files saved", "configmap", rep.Saved, "user", user, "files", len(files))
	writeJSON(w, http.StatusOK, rep)
}

// library lists the MIB modules already stored.
func (s *Server) library(w http.ResponseWriter, r *http.Request) {
	lib, err := mibconfigmaps.LoadMIBs(r.Context(), s.o.Client, s.o.Namespace)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, lib.Modules)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
