package sim_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/wattson-dev/wattson/internal/procs"
	"github.com/wattson-dev/wattson/internal/testenv"
	"github.com/wattson-dev/wattson/specs/sim"
)

// simulator is the real wattson-snmpsim, built once by TestMain and started per test.
var simulatorBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		root, err := procs.RepoRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		dir, err := os.MkdirTemp("", "wattson-specs-sim-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		simulatorBin = filepath.Join(dir, "wattson-snmpsim")
		build := exec.Command("go", "build", "-o", simulatorBin, "./mocks")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build the simulator: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}())
}

type simulator struct {
	*sim.Client
	snmp string // host:port of the SNMP agent
}

func freeUDP(t *testing.T) string {
	t.Helper()
	addr, err := procs.FreeUDPAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func startSimulator(t *testing.T) simulator {
	t.Helper()
	root, err := procs.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	web, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	udp := freeUDP(t)
	p, err := procs.Start(procs.Spec{Name: "wattson-snmpsim", Path: simulatorBin, Args: []string{
		"--data-dir=" + filepath.Join(root, "mocks", "data"),
		"--agent-udpv4-endpoint=" + udp,
		"--web.listen-address=" + web,
		"--device-template=apc-rpdu2:3",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("simulator output:\n%s", p.Output())
		}
		if err := p.Stop(10 * time.Second); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), testenv.StartTimeout)
	defer cancel()
	if err := p.WaitHTTP(ctx, "http://"+web+"/healthz"); err != nil {
		t.Fatal(err)
	}
	return simulator{Client: sim.New("http://" + web), snmp: udp}
}

// snmpGet reads one OID over SNMP v2c from the simulator's agent.
func (s simulator) snmpGet(t *testing.T, device, oid string) float64 {
	t.Helper()
	host, port, _ := net.SplitHostPort(s.snmp)
	p, _ := strconv.Atoi(port)
	g := &gosnmp.GoSNMP{Target: host, Port: uint16(p), Community: device, Version: gosnmp.Version2c, Timeout: 2 * time.Second, Retries: 1}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	defer g.Conn.Close()
	r, err := g.Get([]string{oid})
	if err != nil {
		t.Fatalf("snmp get %s %s: %v", device, oid, err)
	}
	return float64(gosnmp.ToBigInt(r.Variables[0].Value).Int64())
}

const apcPower = "1.3.6.1.4.1.318.1.1.26.4.3.1.5.1"

func TestClientAgainstRealSimulator(t *testing.T) {
	s := startSimulator(t)
	ctx := t.Context()
	if err := s.Healthy(ctx); err != nil {
		t.Fatal(err)
	}

	devices, err := s.Devices(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]sim.Device{}
	for _, d := range devices {
		names[d.Name] = d
	}
	for _, want := range []string{"apc-rpdu2", "apc-rpdu2-2", "raritan-px3", "cyberpower-epdu"} {
		if _, ok := names[want]; !ok {
			t.Errorf("device %s not listed; got %v", want, devices)
		}
	}
	if d := names["apc-rpdu2-2"]; d.Template != "apc-rpdu2" || d.Variables == 0 {
		t.Errorf("templated device = %+v, want template apc-rpdu2 with variables", d)
	}

	// Freeze the clock so that truth, SNMP and the scaled value can be compared exactly.
	dev := "apc-rpdu2-2"
	f, err := s.SetFault(ctx, dev, sim.Fault{Type: sim.FaultFreeze})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.Active, ",") != "freeze" {
		t.Fatalf("faults after freeze = %+v", f)
	}
	vs, err := s.Values(ctx, dev, "1.3.6.1.4.1.318.1.1.26.4.3")
	if err != nil {
		t.Fatal(err)
	}
	power, err := vs.Float(apcPower)
	if err != nil {
		t.Fatal(err)
	}
	if power < 0 || power > 1600 {
		t.Fatalf("power %v outside the data file's range 0..1600", power)
	}
	if v, _ := vs.Get(apcPower); !v.Live || v.Type == "" {
		t.Errorf("power value %+v should be live and typed", v)
	}
	if _, ok := vs.Get("1.3.6.1.2.1.1.5.0"); ok {
		t.Error("prefix filter let sysName through")
	}
	if got := s.snmpGet(t, dev, apcPower); got != power {
		t.Errorf("SNMP serves %v, truth API says %v", got, power)
	}

	// Scale: the truth API and the agent both show the value times the factor.
	if _, err := s.SetFault(ctx, dev, sim.Fault{Type: sim.FaultScale, Factor: 10, Prefixes: []string{"1.3.6.1.4.1.318.1.1.26.4.3.1.5"}}); err != nil {
		t.Fatal(err)
	}
	vs, _ = s.Values(ctx, dev, apcPower)
	if scaled, _ := vs.Float(apcPower); scaled != 10*power {
		t.Errorf("scaled power = %v, want 10 x %v", scaled, power)
	}
	if got := s.snmpGet(t, dev, apcPower); got != 10*power {
		t.Errorf("SNMP serves %v after scale, want %v", got, 10*power)
	}
	// The truth is what the PDU really measures: the wrong scale falsifies only what it says.
	truth, err := s.Truth(ctx, dev, apcPower)
	if err != nil {
		t.Fatal(err)
	}
	if tp, _ := truth.Float(apcPower); tp != power {
		t.Errorf("truth under a scale fault = %v, want the unscaled %v", tp, power)
	}
	// Other devices are not affected.
	if d, _ := s.Device(ctx, "apc-rpdu2"); len(d.Faults.Active) != 0 {
		t.Errorf("apc-rpdu2 has faults %v", d.Faults.Active)
	}
	faulty, err := s.Devices(ctx, true)
	if err != nil || len(faulty) != 1 || faulty[0].Name != dev {
		t.Errorf("faulty devices = %+v, %v; want only %s", faulty, err, dev)
	}

	// Drop: the subtree disappears from the truth.
	if _, err := s.SetFault(ctx, dev, sim.Fault{Type: sim.FaultDrop, Prefixes: []string{"1.3.6.1.4.1.318"}}); err != nil {
		t.Fatal(err)
	}
	vs, _ = s.Values(ctx, dev, "")
	if _, err := vs.Float(apcPower); err == nil || !strings.Contains(err.Error(), "serves no "+apcPower) {
		t.Errorf("dropped power: err = %v", err)
	}
	if _, ok := vs.Get("1.3.6.1.2.1.1.5.0"); !ok {
		t.Error("drop of the vendor subtree also removed sysName")
	}

	// Clear one, then all.
	f, err = s.ClearFault(ctx, dev, sim.FaultScale)
	if err != nil || strings.Contains(strings.Join(f.Active, ","), "scale") {
		t.Errorf("after clearing scale: %+v, %v", f, err)
	}
	if f, err = s.ClearFaults(ctx, dev); err != nil || len(f.Active) != 0 {
		t.Errorf("after clearing all: %+v, %v", f, err)
	}
	vs, _ = s.Values(ctx, dev, apcPower)
	if _, err := vs.Float(apcPower); err != nil {
		t.Errorf("power after clearing drop: %v", err)
	}

	// Delay: the agent answers late, the truth API names the delay.
	if f, err := s.SetFault(ctx, dev, sim.Fault{Type: sim.FaultDelay, Delay: 300 * time.Millisecond}); err != nil || f.Delay != "300ms" {
		t.Fatalf("delay fault: %+v, %v", f, err)
	}
	start := time.Now()
	s.snmpGet(t, dev, apcPower)
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("SNMP answered in %s despite a 300ms delay", took)
	}
	if _, err := s.ClearFaults(ctx, dev); err != nil {
		t.Fatal(err)
	}
}

func TestSimulatorErrors(t *testing.T) {
	s := startSimulator(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		do   func() error
		want string
	}{
		{"unknown device", func() error { _, err := s.Values(ctx, "nope", ""); return err }, `simulator values of nope: 404 Not Found: no device "nope"`},
		{"unknown fault", func() error { _, err := s.SetFault(ctx, "apc-rpdu2", sim.Fault{Type: "melt"}); return err }, "set fault melt on apc-rpdu2: 400 Bad Request"},
		{"drop without prefixes", func() error { _, err := s.SetFault(ctx, "apc-rpdu2", sim.Fault{Type: sim.FaultDrop}); return err }, "field prefixes"},
		{"bad prefix", func() error { _, err := s.Values(ctx, "apc-rpdu2", "1.x"); return err }, "query parameter prefix"},
		{"not a number", func() error {
			vs, err := s.Values(ctx, "apc-rpdu2", "1.3.6.1.2.1.1.5.0")
			if err != nil {
				return err
			}
			_, err = vs.Float("1.3.6.1.2.1.1.5.0")
			return err
		}, "is not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	addr, _ := procs.FreeAddr()
	if err := sim.New("http://" + addr).Healthy(ctx); err == nil || !strings.Contains(err.Error(), "simulator health") {
		t.Errorf("unreachable simulator: %v", err)
	}
}

// TestTruthTableMatchesSimulator checks every reading of sim.Models against the data the real
// simulator serves: the OIDs exist and the SI values are physically plausible, so a wrong scale
// in the table itself (W for kW) shows here rather than as a false alarm in the suite.
func TestTruthTableMatchesSimulator(t *testing.T) {
	s := startSimulator(t)
	plausible := map[string][2]float64{
		"wattson_pdu_power_watts":         {10, 50000},
		"wattson_pdu_energy_joules_total": {1e6, 1e13},
		"wattson_pdu_current_amperes":     {0.1, 100},
		"wattson_pdu_voltage_volts":       {90, 260},
	}
	for model, m := range sim.Models {
		t.Run(model, func(t *testing.T) {
			vs, err := s.Values(t.Context(), m.DataFile, "")
			if err != nil {
				t.Fatal(err)
			}
			var hasPower bool
			for _, r := range m.Readings {
				v, err := r.SI(vs)
				if err != nil {
					t.Errorf("%v", err)
					continue
				}
				lim, ok := plausible[r.Metric]
				if !ok {
					t.Errorf("%s: no plausible range for %s", model, r.Metric)
					continue
				}
				if v < lim[0] || v > lim[1] {
					t.Errorf("%s %s%v = %g, outside the plausible %g..%g", model, r.Metric, r.Labels, v, lim[0], lim[1])
				}
				if r.Metric == "wattson_pdu_power_watts" {
					hasPower = true
					var under bool
					for _, p := range m.PowerOIDs {
						under = under || r.OID == p || strings.HasPrefix(r.OID, p+".")
					}
					if !under {
						t.Errorf("%s: power OID %s is under none of PowerOIDs %v", model, r.OID, m.PowerOIDs)
					}
				}
				if !strings.HasPrefix(r.OID, m.VendorPrefix+".") {
					t.Errorf("%s: %s is outside the vendor prefix %s", model, r.OID, m.VendorPrefix)
				}
			}
			if !hasPower {
				t.Errorf("%s has no power reading", model)
			}
		})
	}
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		got, want, tol float64
		ok             bool
	}{
		{1170, 1170, 0.15, true},
		{1300, 1170, 0.15, true},
		{11700, 1170, 0.15, false}, // a factor of 10: the bug the suite must catch
		{117, 1170, 0.15, false},
		{0, 0, 0.1, true},
	} {
		if got := sim.Within(tc.got, tc.want, tc.tol); got != tc.ok {
			t.Errorf("Within(%v, %v, %v) = %v", tc.got, tc.want, tc.tol, got)
		}
	}
}

// TestGrowthAgainstRealSimulator: the counter the simulator serves moves by its exact growth,
// within one raw unit.
func TestGrowthAgainstRealSimulator(t *testing.T) {
	s := startSimulator(t)
	ctx := t.Context()
	const dev, energy = "raritan-px3", "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.8"
	read := func() (float64, time.Time) {
		vs, err := s.Truth(ctx, dev, energy)
		if err != nil {
			t.Fatal(err)
		}
		v, err := vs.Float(energy)
		if err != nil {
			t.Fatal(err)
		}
		return v, time.Now()
	}
	before := time.Now()
	e0, _ := read()
	time.Sleep(3 * time.Second)
	e1, after := read()
	// The reads happened somewhere inside [before, after]: the growth over that span bounds them.
	g, err := s.Growth(ctx, dev, energy, before, after)
	if err != nil {
		t.Fatal(err)
	}
	if g <= 0 || e1-e0 > g+1 {
		t.Errorf("counter grew %v while the exact growth over a longer span is %v", e1-e0, g)
	}
	if _, err := s.Growth(ctx, dev, "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.5", before, after); err == nil || !strings.Contains(err.Error(), "not a live counter") {
		t.Errorf("growth of a gauge: %v, want 'not a live counter'", err)
	}
}
