package manager

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	ok := Options{Namespace: "wattson-system", ScrapeMode: ScrapeModeAuto, ExporterReplicas: 2, QPS: 100, Burst: 200, PollInterval: 30 * time.Second,
		SuitePollInterval: 30 * time.Second, SuiteTriggerDebounce: time.Second}
	cases := []struct {
		name  string
		edit  func(*Options)
		field string
	}{
		{"valid", func(*Options) {}, ""},
		{"no namespace", func(o *Options) { o.Namespace = "" }, "--namespace"},
		{"bad mode", func(o *Options) { o.ScrapeMode = "magic" }, "--scrape-mode"},
		{"no replicas", func(o *Options) { o.ExporterReplicas = 0 }, "--exporter.replicas"},
		{"fast poll", func(o *Options) { o.PrometheusURL, o.PollInterval = "http://p:9090", time.Millisecond }, "--prometheus.poll-interval"},
		{"no qps", func(o *Options) { o.QPS = 0 }, "--kube-api-qps"},
		{"fast suite poll", func(o *Options) { o.SuitePollInterval = 10 * time.Millisecond }, "--suite.poll-interval"},
		{"negative debounce", func(o *Options) { o.SuiteTriggerDebounce = -time.Second }, "--suite.trigger-debounce"},
		{"metrics certificate missing", func(o *Options) {
			o.MetricsSecure, o.MetricsCertDir, o.MetricsCertName, o.MetricsKeyName = true, "/nonexistent", "tls.crt", "tls.key"
		}, "--metrics-cert-path: stat /nonexistent/tls.crt"},
		{"metrics certificate without HTTPS", func(o *Options) { o.MetricsCertDir = "/nonexistent" }, "--metrics-cert-path: needs --metrics-secure"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.edit(&o)
			err := o.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.field)
			}
		})
	}
}
