//go:build deps

// Package deps pins the project's prescribed libraries while their users are written.
package deps

import (
	_ "github.com/golangsnmp/gomib"
	_ "github.com/gosnmp/gosnmp"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/onsi/ginkgo/v2"
	_ "github.com/onsi/gomega"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/client/versioned"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/snmp_exporter/config"
	_ "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	_ "sigs.k8s.io/controller-runtime"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
)
