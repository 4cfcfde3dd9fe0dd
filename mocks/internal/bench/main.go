// Command bench measures the simulator against net-snmp's snmpd with one
// lean client: bulk-walk varbinds per second (same client, same concurrency),
// GET latency at a fixed request rate, and resident memory with 10,000
// devices. mocks/bench/bench.sh builds the simulator and runs this.
//
// The latency runs put the client and each agent on one CPU and add a
// bare UDP echo server as the floor: what any agent on this machine and Go
// runtime can reach at best.
//
// The client encodes requests and reads responses with a few lines of BER
// of its own, so that it costs far less than either agent and the numbers
// measure the agents rather than the client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wattson-dev/wattson/internal/procs"
)

func main() { os.Exit(run()) }

func run() int {
	// Helper modes, for this program's own child processes.
	if len(os.Args) > 2 && os.Args[1] == "exec-on-cpu" {
		cpu, err := strconv.Atoi(os.Args[2])
		if err == nil {
			err = execOnCPU(cpu, os.Args[3:])
		}
		fmt.Fprintln(os.Stderr, "bench exec-on-cpu:", err)
		return 2
	}
	if len(os.Args) == 3 && os.Args[1] == "echo" {
		if err := echo(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "bench echo:", err)
			return 1
		}
		return 0
	}
	var o options
	flag.StringVar(&o.sim, "sim", "", "path of the built wattson-snmpsim binary (required)")
	flag.StringVar(&o.fixture, "fixture", "../shared/fixtures/snmprec/raritan-pdu_px3.snmprec", "recording the simulator serves for the walk")
	flag.StringVar(&o.snmpd, "snmpd", "/usr/sbin/snmpd", "net-snmp snmpd to compare with; empty skips it")
	flag.IntVar(&o.concurrency, "concurrency", 4, "concurrent walkers, the same for both agents")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "how long each throughput and latency run lasts")
	flag.IntVar(&o.rate, "rate", 10000, "GET requests per second for the latency run")
	flag.IntVar(&o.latencyRuns, "latency-runs", 6, "latency runs per agent; the load on a shared machine varies")
	flag.IntVar(&o.devices, "devices", 10000, "devices for the memory run")
	flag.IntVar(&o.cpu, "cpu", runtime.NumCPU()-1, "CPU the latency client and agents share")
	phases := flag.String("phases", "walk,latency,memory", "which measurements to run, comma-separated")
	flag.Parse()
	if err := o.validate(*phases); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	if err := bench(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

// options are the flags: what to measure and how hard.
type options struct {
	sim, fixture, snmpd string
	concurrency         int
	duration            time.Duration
	rate, latencyRuns   int
	devices, cpu        int
	// phases holds walk, latency and memory: the measurements to run.
	phases map[string]bool
}

// validate checks the options and parses the comma-separated phases.
func (o *options) validate(phases string) error {
	o.phases = map[string]bool{}
	for p := range strings.SplitSeq(phases, ",") {
		switch p {
		case "walk", "latency", "memory":
			o.phases[p] = true
		default:
			return fmt.Errorf("flag --phases: unknown phase %q (want walk, latency or memory)", p)
		}
	}
	if o.sim == "" {
		return errors.New("flag --sim is required")
	}
	if _, err := os.Stat(o.fixture); err != nil {
		return fmt.Errorf("flag --fixture: %w", err)
	}
	o.latencyRuns = max(1, o.latencyRuns)
	return nil
}

func bench(o options) error {
	tmp, err := os.MkdirTemp("", "wattson-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dataDir := filepath.Join(tmp, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	abs, err := filepath.Abs(o.fixture)
	if err != nil {
		return err
	}
	if err := os.Symlink(abs, filepath.Join(dataDir, "px3.snmprec")); err != nil {
		return err
	}

	agents := []agentSpec{{"wattson-snmpsim", "px3", "PX3 7,996", func(cpu int) (*procs.Proc, *net.UDPAddr, error) {
		return startAgent(cpu, "px3", o.sim, nil, "--data-dir="+dataDir, "--agent-udpv4-endpoint=127.0.0.1:%d", "--web.listen-address=", "--log-level=warn")
	}}}
	if o.snmpd != "" {
		// Not named snmpd.conf, nor in its persistent directory: snmpd
		// rewrites that file there when it stops.
		conf := filepath.Join(tmp, "bench-snmpd.conf")
		state := filepath.Join(tmp, "snmpd")
		agents = append(agents, agentSpec{"net-snmp snmpd", "public", "own tree", func(cpu int) (*procs.Proc, *net.UDPAddr, error) {
			return startAgent(cpu, "public", o.snmpd, []string{"SNMP_PERSISTENT_DIR=" + state, "MIBS="}, "-f", "-Lo", "-I", "-smux", "-C", "-c", conf, "udp:127.0.0.1:%d")
		}})
		// Connection logging off: it would make snmpd write a line per
		// request and measure the log pipe rather than the agent.
		body := "rocommunity public 127.0.0.1\ndontLogTCPWrappersConnects yes\n"
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	agents = append(agents, agentSpec{"udp echo (floor)", "px3", "", func(cpu int) (*procs.Proc, *net.UDPAddr, error) {
		return startAgent(cpu, "px3", self, nil, "echo", "127.0.0.1:%d")
	}})

	if o.phases["walk"] {
		if err := walkPhase(agents[:len(agents)-1], o.concurrency, o.duration); err != nil { // echo does not walk
			return err
		}
	}
	if o.phases["latency"] {
		if err := latencyPhase(agents, o.cpu, o.rate, o.latencyRuns, o.duration); err != nil {
			return err
		}
	}
	if !o.phases["memory"] {
		return nil
	}
	fmt.Printf("\nmemory with %d devices (template: the PX3 recording)\n", o.devices)
	mp, maddr, err := startAgent(-1, "px3-1", o.sim, nil, "--data-dir="+dataDir, "--agent-udpv4-endpoint=127.0.0.1:%d",
		"--web.listen-address=", "--log-level=warn", fmt.Sprintf("--device-template=px3:%d", o.devices))
	if err != nil {
		return fmt.Errorf("simulator with %d devices: %w", o.devices, err)
	}
	defer stop(mp)
	// Touch every device once so per-device state exists.
	if err := touchAll(maddr, o.devices); err != nil {
		return err
	}
	rss, hwm, err := memory(mp.Pid())
	if err != nil {
		return err
	}
	fmt.Printf("  RSS %.1f MiB, peak %.1f MiB (target <= 1024 MiB)\n", rss/1024, hwm/1024)
	return nil
}

// agentSpec names an agent and starts it: one process on a port of its
// own, on any CPU (cpu < 0) or pinned to one.
type agentSpec struct {
	name, community, tree string
	start                 func(cpu int) (*procs.Proc, *net.UDPAddr, error)
}

// walkPhase bulk-walks each agent in turn and prints the ratio of the
// first two.
func walkPhase(agents []agentSpec, conc int, dur time.Duration) error {
	fmt.Printf("bulk walk, GETBULK max-repetitions 50, %d concurrent walkers, %s each\n", conc, dur)
	var walks []walkResult
	for _, ag := range agents {
		p, addr, err := ag.start(-1)
		if err != nil {
			return fmt.Errorf("%s: %w", ag.name, err)
		}
		res, err := walkLoad(addr, ag.community, conc, dur)
		stop(p)
		if err != nil {
			return fmt.Errorf("%s walk: %w", ag.name, err)
		}
		walks = append(walks, res)
		fmt.Printf("  %-28s %10.0f varbinds/s  (%d varbinds per walk, %d walks)\n", ag.name+" ("+ag.tree+")", res.rate(), res.perWalk, res.walks)
	}
	if len(walks) == 2 {
		fmt.Printf("  ratio simulator / snmpd: %.1fx (target >= 3x)\n", walks[0].rate()/walks[1].rate())
	}
	return nil
}

// latencyPhase measures the GET latency of each agent, pinned with the
// client to one CPU, the agents taking turns.
func latencyPhase(agents []agentSpec, cpu, rate, runs int, dur time.Duration) error {
	fmt.Printf("\nGET latency, open loop at %d requests/s, %d runs of %s each, agents taking turns\n", rate, runs, dur)
	fmt.Printf("  (from each request's due time to the kernel's receive timestamp of its answer;\n")
	fmt.Printf("  client and agent share CPU %d, the client polling and yielding instead of sleeping)\n", cpu)
	addrs := make([]*net.UDPAddr, len(agents))
	for i, ag := range agents {
		p, addr, err := ag.start(cpu)
		if err != nil {
			return fmt.Errorf("%s: %w", ag.name, err)
		}
		defer stop(p)
		addrs[i] = addr
	}
	results := make([][]latencyResult, len(agents))
	for r := range runs {
		for i, ag := range agents {
			lat, err := latency(addrs[i], ag.community, cpu, rate, dur)
			if err != nil {
				return fmt.Errorf("%s latency: %w", ag.name, err)
			}
			results[i] = append(results[i], lat)
			fmt.Printf("  %-17s run %d  %s\n", ag.name, r+1, lat)
		}
	}
	fmt.Printf("  medians: of all runs, and of the quiet ones (the hypervisor stole under %.0f%% of CPU %d)\n", 100*quietSteal, cpu)
	for i, ag := range agents {
		target := ""
		if i == 0 {
			target = "  (target p99 < 1ms)"
		}
		fmt.Printf("  %-17s %s%s\n", ag.name, summarize(results[i]), target)
	}
	return nil
}

// quietSteal is the most steal time a run may have to count as quiet. On a
// VM the tail follows steal: at 0.7% this client's own sends were late by
// ~0.3 ms at p99, at 2% by ~1 ms, at 6% by ~4 ms, whatever the agent.
const quietSteal = 0.01

// summarize gives the median p50 and p99 of all runs, then of the quiet
// ones.
func summarize(rs []latencyResult) string {
	p50 := func(l latencyResult) time.Duration { return l.p50 }
	p99 := func(l latencyResult) time.Duration { return l.p99 }
	out := fmt.Sprintf("all %d runs: p50 %s, p99 %s", len(rs), us(median(rs, p50)), us(median(rs, p99)))
	var quiet []latencyResult
	for _, r := range rs {
		if r.steal >= 0 && r.steal < quietSteal {
			quiet = append(quiet, r)
		}
	}
	if len(quiet) == 0 {
		return out + "; no quiet run"
	}
	return out + fmt.Sprintf("; %d quiet: p50 %s, p99 %s", len(quiet), us(median(quiet, p50)), us(median(quiet, p99)))
}

// stop ends an agent; it gets a few seconds to exit on SIGTERM.
func stop(p *procs.Proc) { _ = p.Stop(5 * time.Second) }

// startAgent starts an SNMP agent on a free UDP port of 127.0.0.1, on any
// CPU (cpu < 0) or pinned to one, and waits until it answers community.
// The one argument with a %d gets the port.
func startAgent(cpu int, community, path string, env []string, args ...string) (*procs.Proc, *net.UDPAddr, error) {
	port, err := procs.FreeUDPPort()
	if err != nil {
		return nil, nil, err
	}
	for i, a := range args {
		if strings.Contains(a, "%d") {
			args[i] = fmt.Sprintf(a, port)
		}
	}
	if cpu >= 0 {
		self, err := os.Executable()
		if err != nil {
			return nil, nil, err
		}
		args = append([]string{"exec-on-cpu", strconv.Itoa(cpu), path}, args...)
		path = self
	}
	p, err := procs.Start(procs.Spec{Name: filepath.Base(path), Path: path, Args: args, Env: env})
	if err != nil {
		return nil, nil, err
	}
	addr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	if err := waitReady(p, addr, community); err != nil {
		stop(p)
		return nil, nil, fmt.Errorf("%w; last output:\n%s", err, p.Tail(20))
	}
	return p, addr, nil
}

// waitReady polls with a GETNEXT until the agent answers with a response
// PDU. Until the agent binds its port the kernel may hand that very port to
// the polling socket as its own, which then talks to itself; so a poll from
// the agent's port is discarded, and only a response PDU counts.
func waitReady(p *procs.Proc, addr *net.UDPAddr, community string) error {
	deadline := time.Now().Add(60 * time.Second)
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		select {
		case <-p.Done():
			return fmt.Errorf("%s exited before it answered on %s", p.Name, addr)
		default:
		}
		c, err := net.DialUDP("udp4", nil, addr)
		if err != nil {
			return err
		}
		if c.LocalAddr().(*net.UDPAddr).Port == addr.Port {
			c.Close()
			continue
		}
		_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		_, _ = c.Write(encodeRequest(0xa1, community, 1, []byte{0x2b}, 0))
		n, err := c.Read(buf)
		c.Close()
		if err == nil && isResponse(buf[:n]) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no answer on %s within 60s", addr)
}

type walkResult struct {
	varbinds, walks int64
	perWalk         int
	elapsed         time.Duration
}

func (w walkResult) rate() float64 { return float64(w.varbinds) / w.elapsed.Seconds() }

// walkLoad runs conc walkers, each walking the whole tree from 1.3 with
// GETBULK again and again until dur is over.
func walkLoad(addr *net.UDPAddr, community string, conc int, dur time.Duration) (walkResult, error) {
	var total, walks atomic.Int64
	var perWalk atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	errs := make(chan error, conc)
	begin := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			c, err := net.DialUDP("udp4", nil, addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			buf := make([]byte, 65536)
			reqID := uint32(w << 24)
			for ctx.Err() == nil {
				from := []byte{0x2b} // 1.3
				n := 0
				for ctx.Err() == nil {
					reqID++
					_ = c.SetDeadline(time.Now().Add(2 * time.Second))
					if _, err := c.Write(encodeRequest(0xa5, community, reqID, from, 50)); err != nil {
						errs <- err
						return
					}
					m, err := c.Read(buf)
					if err != nil {
						errs <- fmt.Errorf("read: %w", err)
						return
					}
					count, last, end, err := parseResponse(buf[:m])
					if err != nil {
						errs <- err
						return
					}
					n += count
					total.Add(int64(count))
					if end || count == 0 {
						walks.Add(1)
						perWalk.Store(int64(n))
						break
					}
					from = last
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	close(errs)
	if err := <-errs; err != nil {
		return walkResult{}, err
	}
	return walkResult{varbinds: total.Load(), walks: walks.Load(), perWalk: int(perWalk.Load()), elapsed: elapsed}, nil
}

// touchAll sends one GET to each device and waits for the answers.
func touchAll(addr *net.UDPAddr, devices int) error {
	c, err := net.DialUDP("udp4", nil, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 65536)
	oid := [][]byte{{0x2b, 6, 1, 2, 1, 1, 1, 0}}
	for i := 1; i <= devices; i++ {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write(encodeGet("px3-"+strconv.Itoa(i), uint32(i), oid)); err != nil {
			return err
		}
		if _, err := c.Read(buf); err != nil {
			return fmt.Errorf("device px3-%d: %w", i, err)
		}
	}
	return nil
}

// memory reads VmRSS and VmHWM (KiB) of a process.
func memory(pid int) (rss, hwm float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm, nil
}

// --- minimal BER -----------------------------------------------------------

func appendLen(b []byte, n int) []byte {
	switch {
	case n < 128:
		return append(b, byte(n))
	case n < 256:
		return append(b, 0x81, byte(n))
	}
	return append(b, 0x82, byte(n>>8), byte(n))
}

func tlv(tag byte, content []byte) []byte {
	return append(appendLen([]byte{tag}, len(content)), content...)
}

func intTLV(v uint32) []byte {
	b := []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	for len(b) > 1 && b[0] == 0 && b[1]&0x80 == 0 {
		b = b[1:]
	}
	if b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return tlv(0x02, b)
}

// encodeRequest builds a v2c GETNEXT (0xa1) or GETBULK (0xa5) for one OID
// given as BER content bytes.
func encodeRequest(pdu byte, community string, reqID uint32, oid []byte, maxRep uint32) []byte {
	vb := tlv(0x30, append(tlv(0x06, oid), 0x05, 0x00))
	var body []byte
	body = append(body, intTLV(reqID)...)
	body = append(body, intTLV(0)...)
	if pdu == 0xa5 {
		body = append(body, intTLV(maxRep)...)
	} else {
		body = append(body, intTLV(0)...)
	}
	body = append(body, tlv(0x30, vb)...)
	msg := append(intTLV(1), tlv(0x04, []byte(community))...)
	msg = append(msg, tlv(pdu, body)...)
	return tlv(0x30, msg)
}

func encodeGet(community string, reqID uint32, oids [][]byte) []byte {
	var vbs []byte
	for _, o := range oids {
		vbs = append(vbs, tlv(0x30, append(tlv(0x06, o), 0x05, 0x00))...)
	}
	body := append(intTLV(reqID), intTLV(0)...)
	body = append(body, intTLV(0)...)
	body = append(body, tlv(0x30, vbs)...)
	msg := append(intTLV(1), tlv(0x04, []byte(community))...)
	msg = append(msg, tlv(0xa0, body)...)
	return tlv(0x30, msg)
}

var errBER = errors.New("bad BER in response")

// read returns the tag, content and the rest after one TLV.
func read(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errBER
	}
	tag, l, off := b[0], int(b[1]), 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 3 || len(b) < 2+n {
			return 0, nil, nil, errBER
		}
		l = 0
		for _, c := range b[2 : 2+n] {
			l = l<<8 | int(c)
		}
		off += n
	}
	if len(b) < off+l {
		return 0, nil, nil, errBER
	}
	return tag, b[off : off+l], b[off+l:], nil
}

// pduBody returns the contents of the response PDU after error-index.
func pduBody(msg []byte) (reqID uint32, vbl []byte, err error) {
	_, m, _, err := read(msg)
	if err != nil {
		return 0, nil, err
	}
	_, _, m, err = read(m) // version
	if err != nil {
		return 0, nil, err
	}
	_, _, m, err = read(m) // community
	if err != nil {
		return 0, nil, err
	}
	_, p, _, err := read(m)
	if err != nil {
		return 0, nil, err
	}
	_, id, p, err := read(p)
	if err != nil {
		return 0, nil, err
	}
	for _, c := range id {
		reqID = reqID<<8 | uint32(c)
	}
	var st []byte
	if _, st, p, err = read(p); err != nil { // error-status
		return 0, nil, err
	}
	if len(st) > 0 && st[len(st)-1] != 0 {
		return 0, nil, fmt.Errorf("agent answered error-status %d", st[len(st)-1])
	}
	if _, _, p, err = read(p); err != nil { // error-index
		return 0, nil, err
	}
	_, vbl, _, err = read(p)
	return reqID, vbl, err
}

// isResponse reports whether msg is a well-formed v1/v2c response PDU.
func isResponse(msg []byte) bool {
	at := pduOffset(msg)
	if at == 0 || msg[at] != 0xa2 {
		return false
	}
	_, _, _, err := read(msg[at:])
	return err == nil
}

func responseID(msg []byte) (uint32, bool) {
	id, _, err := pduBody(msg)
	return id, err == nil
}

// parseResponse counts the varbinds of a GETBULK answer (endOfMibView ones
// excluded), returning the last OID and whether the walk ended.
func parseResponse(msg []byte) (count int, last []byte, end bool, err error) {
	_, vbl, err := pduBody(msg)
	if err != nil {
		return 0, nil, false, err
	}
	for len(vbl) > 0 {
		var vb []byte
		if _, vb, vbl, err = read(vbl); err != nil {
			return 0, nil, false, err
		}
		_, oid, rest, err := read(vb)
		if err != nil {
			return 0, nil, false, err
		}
		if len(rest) > 0 && rest[0] == 0x82 { // endOfMibView
			return count, last, true, nil
		}
		count++
		last = oid
	}
	return count, last, false, nil
}
