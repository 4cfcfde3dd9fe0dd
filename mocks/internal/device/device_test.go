package device

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/wattson-dev/wattson/mocks/internal/snmprec"
)

// fakeClock is a settable clock for deterministic live values.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = time.Unix(1_700_000_000, 0).Add(d)
}

const (
	apcPower  = "1.3.6.1.4.1.318.1.1.26.4.3.1.5.1"
	apcEnergy = "1.3.6.1.4.1.318.1.1.26.4.3.1.9.1"
	apcName   = "1.3.6.1.4.1.318.1.1.26.4.3.1.3.1"
	uptime    = "1.3.6.1.2.1.1.3.0"
)

func newTestStore(t *testing.T, seed uint64) (*Store, *fakeClock) {
	t.Helper()
	c := &fakeClock{}
	c.set(0)
	s := NewStore(Options{Seed: seed, Clock: c.now})
	if err := s.LoadDir("../../data"); err != nil {
		t.Fatal(err)
	}
	if err := s.Expand("apc-rpdu2", 3); err != nil {
		t.Fatal(err)
	}
	return s, c
}

func value(t *testing.T, d *Device, oid string) float64 {
	t.Helper()
	i, ok := d.Find(d.Faults(), mustOID(t, oid))
	if !ok {
		t.Fatalf("%s: %s not served", d.Name, oid)
	}
	return staticNumber(d.Value(d.Faults(), i))
}

func mustOID(t *testing.T, s string) snmprec.OID {
	t.Helper()
	o, err := snmprec.ParseOID(s)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestStoreNames(t *testing.T) {
	s, _ := newTestStore(t, 1)
	want := "apc-rpdu2 apc-rpdu2-1 apc-rpdu2-2 apc-rpdu2-3 cyberpower-epdu raritan-px3"
	if got := strings.Join(s.Names(), " "); got != want {
		t.Errorf("names = %s, want %s", got, want)
	}
	a, _ := s.Get("apc-rpdu2-1")
	b, _ := s.Get("apc-rpdu2-2")
	if a.T != b.T {
		t.Error("expanded devices do not share their template")
	}
	if err := s.Expand("nope", 2); err == nil {
		t.Error("Expand of an unknown template succeeded")
	}
	if err := s.Expand("apc-rpdu2", 1); err == nil {
		t.Error("Expand twice did not report the duplicate device")
	}
}

func TestLiveValuesDeterministic(t *testing.T) {
	s1, c1 := newTestStore(t, 42)
	s2, c2 := newTestStore(t, 42)
	s3, c3 := newTestStore(t, 43)
	for _, c := range []*fakeClock{c1, c2, c3} {
		c.set(137 * time.Second)
	}
	d1, _ := s1.Get("apc-rpdu2-1")
	d2, _ := s2.Get("apc-rpdu2-1")
	d3, _ := s3.Get("apc-rpdu2-1")
	other, _ := s1.Get("apc-rpdu2-2")
	if value(t, d1, apcPower) != value(t, d2, apcPower) {
		t.Error("same seed, device and time gave different power")
	}
	// Distinct seeds and devices should (for these seeds, checked) differ.
	if value(t, d1, apcPower) == value(t, d3, apcPower) && value(t, d1, apcPower) == value(t, other, apcPower) {
		t.Error("power does not depend on seed or device")
	}
}

func TestGaugeStaysInBoundsAndMoves(t *testing.T) {
	s, c := newTestStore(t, 7)
	d, _ := s.Get("apc-rpdu2")
	seen := map[float64]bool{}
	for sec := 0; sec < 3600; sec += 7 {
		c.set(time.Duration(sec) * time.Second)
		p := value(t, d, apcPower)
		if p < 117-15 || p > 117+15 {
			t.Fatalf("power %v at %ds outside 117±15", p, sec)
		}
		seen[p] = true
	}
	if len(seen) < 10 {
		t.Errorf("power took only %d distinct values in an hour", len(seen))
	}
}

// TestEnergyConsistentWithPower integrates the served power numerically and
// checks the energy counter grew by that amount (in its own units).
func TestEnergyConsistentWithPower(t *testing.T) {
	s, c := newTestStore(t, 3)
	d, _ := s.Get("apc-rpdu2")
	const hours = 48
	c.set(0)
	e0 := value(t, d, apcEnergy)
	var kWh float64
	prev := e0
	for sec := 0; sec < hours*3600; sec++ {
		c.set(time.Duration(sec) * time.Second)
		kWh += value(t, d, apcPower) / 100 / 3600 // hundredths of kW for 1 s
		if sec%600 == 0 {
			e := value(t, d, apcEnergy)
			if e < prev {
				t.Fatalf("energy went back from %v to %v at %ds", prev, e, sec)
			}
			prev = e
		}
	}
	c.set(hours * time.Hour)
	grown := (value(t, d, apcEnergy) - e0) / 10 // tenths of kWh
	// Rounding of the served power (±0.005 kW) and the counter floor (0.1 kWh).
	if math.Abs(grown-kWh) > 0.1+0.005*hours {
		t.Errorf("energy grew %.3f kWh, integrated power is %.3f kWh", grown, kWh)
	}
	if kWh < 1.17*hours*0.8 {
		t.Errorf("integrated power %.2f kWh is implausibly small", kWh)
	}
}

func TestCounterWrapsAndUptimeTicks(t *testing.T) {
	s, c := newTestStore(t, 1)
	d, _ := s.Get("raritan-px3")
	c.set(10 * time.Second)
	if got := value(t, d, uptime); got != 4320000+1000 {
		t.Errorf("sysUpTime at 10s = %v, want %v", got, 4320000+1000)
	}
	tmpl, err := NewTemplate("w", "w.snmprec", mustParse(t, "1.3.6.1.1|65:numeric|initial=4294967290,rate=3\n"))
	if err != nil {
		t.Fatal(err)
	}
	w := newDevice(s, "w", tmpl)
	c.set(3 * time.Second) // 4294967290 + 9 wraps to 3
	if got := w.Value(w.Faults(), 0); got != uint32(3) {
		t.Errorf("wrapped Counter32 = %v, want 3", got)
	}
}

func mustParse(t *testing.T, in string) []snmprec.Record {
	t.Helper()
	recs, err := snmprec.Parse(strings.NewReader(in), "t.snmprec")
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestTemplateErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"1.3.6.1.1|2:numeric|source=1.3.6.1.9\n", "t.snmprec:1: numeric source .1.3.6.1.9 is not in the file"},
		{"1.3.6.1.1|4|x\n1.3.6.1.2|2:numeric|source=1.3.6.1.1\n", "t.snmprec:2: numeric source .1.3.6.1.1 is not numeric"},
		{"1.3.6.1.1|65:numeric|rate=1\n1.3.6.1.2|65:numeric|source=1.3.6.1.1\n", "t.snmprec:2: numeric source .1.3.6.1.1 is a counter"},
	} {
		_, err := NewTemplate("t", "t.snmprec", mustParse(t, tt.in))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("error = %v, want %q", err, tt.want)
		}
	}
}

func TestFaults(t *testing.T) {
	s, c := newTestStore(t, 1)
	d, _ := s.Get("apc-rpdu2")
	c.set(100 * time.Second)

	// freeze: values stop while the clock runs on.
	must(t, d.SetFault(FaultSpec{Type: FaultFreeze}))
	up := value(t, d, uptime)
	c.set(200 * time.Second)
	if got := value(t, d, uptime); got != up {
		t.Errorf("frozen sysUpTime moved from %v to %v", up, got)
	}
	must(t, d.ClearFault(FaultFreeze))
	if got := value(t, d, uptime); got != 8640000+20000 {
		t.Errorf("sysUpTime after unfreeze = %v", got)
	}

	// reset: counters restart from zero and keep counting after clear.
	must(t, d.SetFault(FaultSpec{Type: FaultReset}))
	if got := value(t, d, uptime); got != 0 {
		t.Errorf("sysUpTime right after reset = %v, want 0", got)
	}
	c.set(250 * time.Second)
	must(t, d.ClearFault(""))
	if got := value(t, d, uptime); got != 5000 {
		t.Errorf("sysUpTime 50s after reset = %v, want 5000", got)
	}

	// scale: live values ×10, static ones untouched unless prefixed.
	p := value(t, d, apcPower)
	must(t, d.SetFault(FaultSpec{Type: FaultScale}))
	if got := value(t, d, apcPower); got != 10*p {
		t.Errorf("scaled power = %v, want %v", got, 10*p)
	}
	if got := value(t, d, "1.3.6.1.4.1.318.1.1.26.4.3.1.17.1"); got != 93 {
		t.Errorf("static power factor scaled to %v", got)
	}
	must(t, d.SetFault(FaultSpec{Type: FaultScale, Factor: 0.1, Prefixes: []string{"1.3.6.1.4.1.318.1.1.26.4.3.1.17"}}))
	if got := value(t, d, "1.3.6.1.4.1.318.1.1.26.4.3.1.17.1"); got != 9 {
		t.Errorf("prefix-scaled power factor = %v, want 9", got)
	}

	// drop: the subtree disappears from GET and GETNEXT.
	must(t, d.SetFault(FaultSpec{Type: FaultDrop, Prefixes: []string{"1.3.6.1.4.1.318.1.1.26.4"}}))
	f := d.Faults()
	if _, ok := d.Find(f, mustOID(t, apcName)); ok {
		t.Error("dropped OID still found")
	}
	i, ok := d.Next(f, mustOID(t, "1.3.6.1.4.1.318.1.1.26.2.1.9.1"), nil)
	if !ok || !d.Var(i).OID.HasPrefix(mustOID(t, "1.3.6.1.4.1.318.1.1.26.6")) {
		t.Errorf("GETNEXT over a dropped subtree gave %v", d.Var(i).OID)
	}

	must(t, d.SetFault(FaultSpec{Type: FaultError, Status: "genErr"}))
	must(t, d.SetFault(FaultSpec{Type: FaultDelay, Delay: "20ms"}))
	must(t, d.SetFault(FaultSpec{Type: FaultTimeout}))
	f = d.Faults()
	if f.ErrorStatus != gosnmp.GenErr || f.Delay != 20*time.Millisecond || !f.Timeout {
		t.Errorf("faults = %+v", f)
	}
	if got := strings.Join(f.Active(), ","); got != "timeout,delay,drop,scale,error" {
		t.Errorf("active = %s", got)
	}
	must(t, d.ClearFault(""))
	if len(d.Faults().Active()) != 0 {
		t.Errorf("after clear: %v", d.Faults().Active())
	}

	for _, bad := range []FaultSpec{
		{Type: "melt"},
		{Type: FaultDelay, Delay: "soon"},
		{Type: FaultDrop},
		{Type: FaultDrop, Prefixes: []string{"1.x"}},
		{Type: FaultError, Status: "oops"},
		{Type: FaultScale, Factor: -1},
	} {
		if err := d.SetFault(bad); err == nil {
			t.Errorf("SetFault(%+v) accepted", bad)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestGrowthIsTheExactIntegral checks Growth against the counter the device serves (which floors
// the same value, so within one unit) and against a fine numerical integral of the power it serves.
func TestGrowthIsTheExactIntegral(t *testing.T) {
	s, c := newTestStore(t, 7)
	d, _ := s.Get("apc-rpdu2")
	ei, _ := d.Find(d.Faults(), mustOID(t, apcEnergy))
	pi, _ := d.Find(d.Faults(), mustOID(t, apcPower))
	from, to := time.Unix(1_700_000_000, 0).Add(100*time.Second), time.Unix(1_700_000_000, 0).Add(7300*time.Second)
	g, err := d.Growth(ei, from, to)
	if err != nil {
		t.Fatal(err)
	}
	c.set(100 * time.Second)
	e0 := value(t, d, apcEnergy)
	c.set(7300 * time.Second)
	e1 := value(t, d, apcEnergy)
	if math.Abs((e1-e0)-g) >= 1 {
		t.Errorf("served counter grew %v, Growth %v: more than one unit apart", e1-e0, g)
	}
	// Midpoint rule over the unrounded power gauge, times the counter's factor.
	var sum float64
	const step = 0.5
	for x := 100.0; x < 7300; x += step {
		sum += d.gauge(pi, x+step/2) * step
	}
	if want := sum * d.T.Vars[ei].Live.Factor; math.Abs(g-want) > 1e-6*want {
		t.Errorf("Growth = %v, numerical integral %v", g, want)
	}
	if _, err := d.Growth(pi, from, to); err == nil || !strings.Contains(err.Error(), "not a live counter") {
		t.Errorf("Growth of a gauge: %v, want 'not a live counter'", err)
	}
	if _, err := d.Growth(ei, to, from); err == nil || !strings.Contains(err.Error(), "before") {
		t.Errorf("Growth backwards: %v", err)
	}
}
