package agent

import (
	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wattson-dev/wattson/mocks/internal/device"
)

const namespace = "wattson_snmpsim"

// Metrics are the simulator's own metrics, on the registry given to
// NewMetrics (a private one in main).
type Metrics struct {
	requests      *prometheus.CounterVec
	varbinds      *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	reports       *prometheus.CounterVec
	errorStatuses *prometheus.CounterVec
	perDevice     bool
	store         *storeCollector

	// fixed caches the label-resolved request counters (version × PDU
	// type) so the request path does not hash labels when perDevice is off.
	fixed map[[2]string]prometheus.Counter
}

// NewMetrics registers the metrics on reg. With perDevice, requests carry a
// device label; leave it off for thousands of devices, where the series
// count would grow with the fleet.
func NewMetrics(reg prometheus.Registerer, store *device.Store, perDevice bool) *Metrics {
	labels := []string{"version", "pdu_type"}
	if perDevice {
		labels = append(labels, "device")
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_total",
			Help: "SNMP requests answered or dropped by a fault, by version and PDU type.",
		}, labels),
		varbinds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "response_varbinds_total",
			Help: "Variable bindings sent in responses, by request PDU type.",
		}, []string{"pdu_type"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "dropped_packets_total",
			Help: "Packets dropped without an answer, by reason.",
		}, []string{"reason"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "reports_total",
			Help: "SNMPv3 Report PDUs sent, by the usmStats or snmpTarget counter reported.",
		}, []string{"reason"}),
		errorStatuses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "error_responses_total",
			Help: "Responses with a non-zero error-status, by status.",
		}, []string{"status"}),
		perDevice: perDevice,
		fixed:     map[[2]string]prometheus.Counter{},
	}
	m.store = &storeCollector{store: store}
	reg.MustRegister(m.collectors()...)
	if !perDevice {
		for _, v := range []string{"1", "2c", "3"} {
			for _, p := range []gosnmp.PDUType{gosnmp.GetRequest, gosnmp.GetNextRequest, gosnmp.GetBulkRequest, gosnmp.SetRequest} {
				m.fixed[[2]string{v, pduName(p)}] = m.requests.WithLabelValues(v, pduName(p))
			}
		}
	}
	return m
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.varbinds, m.dropped, m.reports, m.errorStatuses, m.store}
}

func (m *Metrics) request(version gosnmp.SnmpVersion, pdu gosnmp.PDUType, dev string) {
	if m == nil {
		return
	}
	v, p := versionName(version), pduName(pdu)
	if m.perDevice {
		m.requests.WithLabelValues(v, p, dev).Inc()
		return
	}
	if c, ok := m.fixed[[2]string{v, p}]; ok {
		c.Inc()
	}
}

func (m *Metrics) sent(pdu gosnmp.PDUType, varbinds int, status gosnmp.SNMPError) {
	if m == nil {
		return
	}
	m.varbinds.WithLabelValues(pduName(pdu)).Add(float64(varbinds))
	if status != gosnmp.NoError {
		m.errorStatuses.WithLabelValues(device.ErrorStatusName(status)).Inc()
	}
}

func (m *Metrics) drop(reason string) {
	if m != nil {
		m.dropped.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) report(reason string) {
	if m != nil {
		m.reports.WithLabelValues(reason).Inc()
	}
}

func versionName(v gosnmp.SnmpVersion) string {
	switch v {
	case gosnmp.Version1:
		return "1"
	case gosnmp.Version2c:
		return "2c"
	}
	return "3"
}

func pduName(p gosnmp.PDUType) string {
	switch p {
	case gosnmp.GetRequest:
		return "get"
	case gosnmp.GetNextRequest:
		return "getnext"
	case gosnmp.GetBulkRequest:
		return "getbulk"
	case gosnmp.SetRequest:
		return "set"
	}
	return "other"
}

// storeCollector reports the device count and active faults at scrape time,
// so fault changes need no bookkeeping on the request path.
type storeCollector struct{ store *device.Store }

var (
	devicesDesc = prometheus.NewDesc(namespace+"_devices", "Simulated devices served.", nil, nil)
	faultsDesc  = prometheus.NewDesc(namespace+"_active_faults", "Devices with the fault in force, by fault type.", []string{"fault"}, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- devicesDesc
	ch <- faultsDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(devicesDesc, prometheus.GaugeValue, float64(c.store.Len()))
	counts := map[string]int{}
	for _, name := range c.store.Names() {
		d, _ := c.store.Get(name)
		for _, f := range d.Faults().Active() {
			counts[f]++
		}
	}
	for _, f := range device.FaultNames {
		if f == device.FaultReset {
			continue // an event, not a state
		}
		ch <- prometheus.MustNewConstMetric(faultsDesc, prometheus.GaugeValue, float64(counts[f]), f)
	}
}
