package upload_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/operator/api/v1alpha1"
	"github.com/wattson-dev/wattson/operator/internal/manager"
	"github.com/wattson-dev/wattson/operator/internal/mibconfigmaps"
	"github.com/wattson-dev/wattson/operator/internal/upload"
)

const ns = "wattson-system"

func post(t *testing.T, url, token string, files map[string][]byte, fields map[string]string) (int, upload.Report, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for name, content := range files {
		w, err := mw.CreateFormFile("files", name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(content); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, url, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var rep upload.Report
	_ = json.Unmarshal(raw, &rep)
	return resp.StatusCode, rep, string(raw)
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUploadPage(t *testing.T) {
	cfg, _ := testenv.Kube(t, testenv.KubeOptions{})
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g := NewWithT(t)
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	g.Expect(c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upload-token"},
		StringData: map[string]string{upload.TokenKey: "let-me-in\n"}})).To(Succeed())

	srv, err := upload.New(upload.Options{Addr: "127.0.0.1:0", Namespace: ns, TokenSecret: "upload-token", Client: c})
	g.Expect(err).NotTo(HaveOccurred())
	web := httptest.NewServer(srv.Handler())
	defer web.Close()

	resp, err := http.Get(web.URL + "/")
	g.Expect(err).NotTo(HaveOccurred())
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	g.Expect(string(page)).To(ContainSubstring("Drop MIB files here"))

	good, broken := read(t, "WATTSON-RACKPDU-MIB"), read(t, "WATTSON-BROKEN-MIB")
	t.Run("authentication", func(t *testing.T) {
		g := NewWithT(t)
		code, _, _ := post(t, web.URL+"/api/check", "", map[string][]byte{"A": good}, nil)
		g.Expect(code).To(Equal(http.StatusUnauthorized))
		code, _, body := post(t, web.URL+"/api/check", "guess", map[string][]byte{"A": good}, nil)
		g.Expect(code).To(Equal(http.StatusForbidden), body)
		code, _, _ = post(t, web.URL+"/api/save", "guess", map[string][]byte{"A": good}, map[string]string{"name": "x"})
		g.Expect(code).To(Equal(http.StatusForbidden))
	})

	t.Run("check reports problems by line", func(t *testing.T) {
		g := NewWithT(t)
		code, rep, body := post(t, web.URL+"/api/check", "let-me-in", map[string][]byte{
			"WATTSON-BROKEN-MIB": broken, "WATTSON-RACKPDU-MIB": good, "README": []byte("not a MIB"),
		}, nil)
		g.Expect(code).To(Equal(http.StatusOK), body)
		g.Expect(rep.Files).To(HaveLen(3))
		byName := map[string]upload.FileReport{}
		for _, f := range rep.Files {
			byName[f.Name] = f
		}
		g.Expect(byName["WATTSON-RACKPDU-MIB"].Errors).To(BeZero(), body)
		g.Expect(byName["WATTSON-RACKPDU-MIB"].Module).To(Equal("WATTSON-RACKPDU-MIB"))
		g.Expect(byName["README"].Module).To(BeEmpty())
		br := byName["WATTSON-BROKEN-MIB"]
		g.Expect(br.Errors).To(Equal(2), body)
		lines := map[int]string{}
		for _, d := range br.Diagnostics {
			lines[d.Line] = d.Code
			g.Expect(d.File).To(Equal("WATTSON-BROKEN-MIB"))
		}
		g.Expect(lines).To(HaveKeyWithValue(5, "import-module-not-found"))
		g.Expect(lines).To(HaveKeyWithValue(21, "parse-error"))
	})

	t.Run("save", func(t *testing.T) {
		g := NewWithT(t)
		code, _, body := post(t, web.URL+"/api/save", "let-me-in", map[string][]byte{"WATTSON-BROKEN-MIB": broken}, map[string]string{"name": "vendor-mibs"})
		g.Expect(code).To(Equal(http.StatusUnprocessableEntity), body)
		code, _, body = post(t, web.URL+"/api/save", "let-me-in", map[string][]byte{"WATTSON-RACKPDU-MIB": good}, map[string]string{"name": "Bad Name"})
		g.Expect(code).To(Equal(http.StatusBadRequest), body)
		g.Expect(body).To(ContainSubstring("name:"))

		// A MIB over 512 KiB (PowerNet-MIB is 2.9 MB) is stored gzipped, under a ConfigMap's 1 MiB.
		big := append([]byte(strings.Repeat("-- padding comment line to make the file large\n", 40000)), good...)
		big = bytes.Replace(big, []byte("WATTSON-RACKPDU-MIB"), []byte("WATTSON-BIG-MIB"), -1)
		code, rep, body := post(t, web.URL+"/api/save", "let-me-in", map[string][]byte{"WATTSON-RACKPDU-MIB": good, "WATTSON-BIG-MIB": big}, map[string]string{"name": "vendor-mibs"})
		g.Expect(code).To(Equal(http.StatusOK), body)
		g.Expect(rep.Saved).To(Equal(ns + "/vendor-mibs"))
		var cm corev1.ConfigMap
		g.Expect(c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "vendor-mibs"}, &cm)).To(Succeed())
		g.Expect(cm.Labels).To(HaveKeyWithValue(v1alpha1.MIBLabel, "true"))
		g.Expect(cm.Data).To(HaveKeyWithValue("WATTSON-RACKPDU-MIB", string(good)))
		g.Expect(cm.BinaryData).To(HaveKey("WATTSON-BIG-MIB.gz"))
		g.Expect(len(cm.BinaryData["WATTSON-BIG-MIB.gz"])).To(BeNumerically("<", 100<<10))
		lib, err := mibconfigmaps.LoadMIBs(ctx, c, ns)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(lib.Modules).To(HaveKeyWithValue("WATTSON-BIG-MIB", "vendor-mibs/WATTSON-BIG-MIB"))
		g.Expect(lib.Files["vendor-mibs/WATTSON-BIG-MIB"]).To(Equal(big))

		// Forced, a file with errors is saved too.
		code, _, body = post(t, web.URL+"/api/save", "let-me-in", map[string][]byte{"WATTSON-BROKEN-MIB": broken}, map[string]string{"name": "vendor-mibs", "force": "true"})
		g.Expect(code).To(Equal(http.StatusOK), body)
	})
}

// TestUploadTokenReview authenticates Kubernetes tokens: a ServiceAccount's token is accepted
// only once RBAC lets it create ConfigMaps in the operator's namespace.
func TestUploadTokenReview(t *testing.T) {
	cfg, _ := testenv.Kube(t, testenv.KubeOptions{})
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g := NewWithT(t)
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "uploader"}}
	g.Expect(c.Create(ctx, sa)).To(Succeed())
	// A token for the apiserver (the default audience) is refused: only one issued for the page.
	apiTR := &authnv1.TokenRequest{}
	g.Expect(c.SubResource("token").Create(ctx, sa, apiTR)).To(Succeed())
	tr := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{upload.DefaultAudience}}}
	g.Expect(c.SubResource("token").Create(ctx, sa, tr)).To(Succeed())
	token := tr.Status.Token
	g.Expect(token).NotTo(BeEmpty())

	srv, err := upload.New(upload.Options{Addr: "127.0.0.1:0", Namespace: ns, Client: c})
	g.Expect(err).NotTo(HaveOccurred())
	web := httptest.NewServer(srv.Handler())
	defer web.Close()
	files := map[string][]byte{"WATTSON-RACKPDU-MIB": read(t, "WATTSON-RACKPDU-MIB")}

	code, _, body := post(t, web.URL+"/api/check", "not-a-token", files, nil)
	g.Expect(code).To(Equal(http.StatusForbidden), body)
	code, _, body = post(t, web.URL+"/api/check", apiTR.Status.Token, files, nil)
	g.Expect(code).To(Equal(http.StatusForbidden), body)
	g.Expect(body).To(ContainSubstring("audience wattson-upload"))
	code, _, body = post(t, web.URL+"/api/check", token, files, nil)
	g.Expect(code).To(Equal(http.StatusForbidden), body)
	g.Expect(body).To(ContainSubstring("may not create configmaps"))

	g.Expect(c.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mib-uploader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}}}})).To(Succeed())
	g.Expect(c.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mib-uploader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "mib-uploader"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "uploader"}}})).To(Succeed())
	g.Eventually(func() int {
		code, _, _ := post(t, web.URL+"/api/check", token, files, nil)
		return code
	}).Should(Equal(http.StatusOK))
}

// TestUploadSaveVerb saves through a ServiceAccount allowed to create ConfigMaps but not to update
// them: a new name is saved, saving to it again (an update) is refused until update is granted on
// that name, and a ConfigMap that is not a MIB ConfigMap is never overwritten, whoever asks.
func TestUploadSaveVerb(t *testing.T) {
	cfg, _ := testenv.Kube(t, testenv.KubeOptions{})
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g := NewWithT(t)
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "uploader"}}
	g.Expect(c.Create(ctx, sa)).To(Succeed())
	tr := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{upload.DefaultAudience}}}
	g.Expect(c.SubResource("token").Create(ctx, sa, tr)).To(Succeed())
	grant := func(name string, rule rbacv1.PolicyRule) {
		g.Expect(c.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: []rbacv1.PolicyRule{rule}})).To(Succeed())
		g.Expect(c.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "uploader"}}})).To(Succeed())
	}
	grant("create", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}})
	dashboard := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wattson-grafana-dashboard"}, Data: map[string]string{"wattson.json": "{}"}}
	g.Expect(c.Create(ctx, dashboard)).To(Succeed())
	g.Expect(c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upload-token"},
		StringData: map[string]string{upload.TokenKey: "let-me-in"}})).To(Succeed())

	srv, err := upload.New(upload.Options{Addr: "127.0.0.1:0", Namespace: ns, Client: c})
	g.Expect(err).NotTo(HaveOccurred())
	web := httptest.NewServer(srv.Handler())
	defer web.Close()
	secretSrv, err := upload.New(upload.Options{Addr: "127.0.0.1:0", Namespace: ns, Client: c, TokenSecret: "upload-token"})
	g.Expect(err).NotTo(HaveOccurred())
	secretWeb := httptest.NewServer(secretSrv.Handler())
	defer secretWeb.Close()
	files := map[string][]byte{"WATTSON-RACKPDU-MIB": read(t, "WATTSON-RACKPDU-MIB")}
	save := func(url, token, name string) (int, string) {
		var code int
		var body string
		g.Eventually(func() int { // RBAC takes effect within a moment
			code, _, body = post(t, url+"/api/save", token, files, map[string]string{"name": name})
			return code
		}).ShouldNot(Equal(http.StatusForbidden))
		return code, body
	}

	code, body := save(web.URL, tr.Status.Token, "vendor-mibs")
	g.Expect(code).To(Equal(http.StatusOK), body)
	code, _, body = post(t, web.URL+"/api/save", tr.Status.Token, files, map[string]string{"name": "vendor-mibs"})
	g.Expect(code).To(Equal(http.StatusForbidden), body)
	g.Expect(body).To(ContainSubstring("may not update configmap vendor-mibs"))
	grant("update-vendor-mibs", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "update"}, ResourceNames: []string{"vendor-mibs"}})
	code, body = save(web.URL, tr.Status.Token, "vendor-mibs")
	g.Expect(code).To(Equal(http.StatusOK), body)

	for _, url := range []string{web.URL, secretWeb.URL} {
		token := tr.Status.Token
		if url == secretWeb.URL {
			token = "let-me-in"
		}
		code, _, body = post(t, url+"/api/save", token, files, map[string]string{"name": "wattson-grafana-dashboard"})
		g.Expect(code).To(Equal(http.StatusConflict), body)
		g.Expect(body).To(ContainSubstring("is not a MIB ConfigMap"))
	}
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(dashboard), dashboard)).To(Succeed())
	g.Expect(dashboard.Data).To(Equal(map[string]string{"wattson.json": "{}"}))
	g.Expect(dashboard.Labels).NotTo(HaveKey(v1alpha1.MIBLabel))
}

// TestUploadLimits sends what a hostile client would, to a real HTTP server: a body over the
// request cap, too many files, and gzip members that inflate past the total cap. Each is a 400
// naming the limit, read no further than the cap.
func TestUploadLimits(t *testing.T) {
	cfg, _ := testenv.Kube(t, testenv.KubeOptions{})
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g := NewWithT(t)
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	g.Expect(c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upload-token"},
		StringData: map[string]string{upload.TokenKey: "let-me-in"}})).To(Succeed())
	srv, err := upload.New(upload.Options{Addr: "127.0.0.1:0", Namespace: ns, TokenSecret: "upload-token", Client: c})
	g.Expect(err).NotTo(HaveOccurred())
	web := httptest.NewServer(srv.Handler())
	defer web.Close()

	many := map[string][]byte{}
	for i := range 65 {
		many[fmt.Sprintf("M%d", i)] = []byte("x")
	}
	// 7 MiB of zeros gzip to 7 kB; ten of them are 70 MiB gunzipped, over the 64 MiB total.
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	if _, err := zw.Write(make([]byte, 7<<20)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	inflating := map[string][]byte{}
	for i := range 10 {
		inflating[fmt.Sprintf("Z%d.gz", i)] = zipped.Bytes()
	}
	tests := []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"request over 32 MiB", map[string][]byte{"BIG": make([]byte, 33<<20)}, "the request is larger than 33554432 bytes"},
		{"65 files", many, "65 files, more than 64"},
		{"gzip members over the total", inflating, "more than 67108864 bytes in all (gunzipped)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			code, _, body := post(t, web.URL+"/api/check", "let-me-in", tt.files, nil)
			g.Expect(code).To(Equal(http.StatusBadRequest), body)
			g.Expect(body).To(ContainSubstring(tt.want))
		})
	}
}
