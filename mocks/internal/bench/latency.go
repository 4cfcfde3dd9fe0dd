package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

type latencyResult struct {
	sent, lost          int
	p50, p99, p999, max time.Duration
	// lateP99 is the 99th percentile of how late the client itself sent a
	// request, and fromSendP99 that of the latency counted from the actual
	// send: together they tell the client's share of the tail from the
	// agent's.
	lateP99, fromSendP99 time.Duration
	load                 string
	// steal is the share of the run the hypervisor gave the CPU to
	// others (/proc/stat), -1 when unknown.
	steal float64
}

func (l latencyResult) String() string {
	steal := "?"
	if l.steal >= 0 {
		steal = fmt.Sprintf("%.1f%%", 100*l.steal)
	}
	return fmt.Sprintf("p50 %6s  p99 %7s  p99.9 %7s  max %7s  (%d sent, %d unanswered; client late p99 %s, from send p99 %s; steal %s, load %s)",
		us(l.p50), us(l.p99), us(l.p999), us(l.max), l.sent, l.lost, us(l.lateP99), us(l.fromSendP99), steal, l.load)
}

func us(d time.Duration) string { return d.Round(time.Microsecond).String() }

// latency sends GETs for sysDescr and sysUpTime open loop at a fixed rate
// from one socket, on the same CPU as the agent (see openLoop). Request i is
// due at begin + i/rate, and its latency runs from that moment to the
// kernel's receive timestamp of its answer: a slow answer never holds back
// the requests after it (no coordinated omission), a request the client
// sent late counts as late, and the client's own scheduling after the
// answer arrives does not count at all.
func latency(addr *net.UDPAddr, community string, cpu, rate int, dur time.Duration) (latencyResult, error) {
	c, err := net.DialUDP("udp4", nil, addr)
	if err != nil {
		return latencyResult{}, err
	}
	defer c.Close()
	_ = c.SetReadBuffer(4 << 20)
	n := int(dur.Seconds() * float64(rate))
	// Encode everything first: the client allocates nothing while it
	// measures, so its own garbage collector stays out of the figures.
	oids := [][]byte{{0x2b, 6, 1, 2, 1, 1, 1, 0}, {0x2b, 6, 1, 2, 1, 1, 3, 0}}
	msgs := make([][]byte, n+1)
	for i := 1; i <= n; i++ {
		msgs[i] = encodeGet(community, uint32(i), oids)
	}
	interval := time.Second / time.Duration(rate)
	stolen, total := cpuSteal(cpu)
	// Answers later than a second count as lost.
	begin, sent, got, err := openLoop(c, cpu, msgs, interval, time.Second)
	if err != nil {
		return latencyResult{}, err
	}
	steal := -1.0
	if s2, t2 := cpuSteal(cpu); t2 > total {
		steal = float64(s2-stolen) / float64(t2-total)
	}
	lats := make([]time.Duration, 0, n)
	late := make([]time.Duration, 0, n)
	fromSend := make([]time.Duration, 0, n)
	lost := 0
	for i := 1; i <= n; i++ {
		due := begin.UnixNano() + int64(time.Duration(i)*interval)
		late = append(late, time.Duration(sent[i]-due))
		if got[i] == 0 {
			lost++
			continue
		}
		lats = append(lats, time.Duration(got[i]-due))
		fromSend = append(fromSend, time.Duration(got[i]-sent[i]))
	}
	if len(lats) == 0 {
		return latencyResult{}, errors.New("no GET answered")
	}
	slices.Sort(lats)
	slices.Sort(late)
	slices.Sort(fromSend)
	return latencyResult{
		sent: n, lost: lost,
		p50: pct(lats, 0.50), p99: pct(lats, 0.99), p999: pct(lats, 0.999), max: lats[len(lats)-1],
		lateP99: pct(late, 0.99), fromSendP99: pct(fromSend, 0.99), load: loadAvg(), steal: steal,
	}, nil
}

// pct returns the p-quantile of sorted durations.
func pct(d []time.Duration, p float64) time.Duration {
	return d[min(len(d)-1, int(p*float64(len(d))))]
}

// median returns the median of the runs' value f.
func median(runs []latencyResult, f func(latencyResult) time.Duration) time.Duration {
	v := make([]time.Duration, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// loadAvg returns the 1-minute load average, which the figures depend on:
// the agents share two cores with this client and whatever else runs.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// cpuSteal returns the steal and total ticks of one CPU from /proc/stat,
// zeros when unknown.
func cpuSteal(cpu int) (steal, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	name := fmt.Sprintf("cpu%d", cpu)
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != name {
			continue
		}
		for i, v := range f[1:] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, 0
			}
			if i == 7 {
				steal = n
			}
			if i < 8 { // guest time is already in user
				total += n
			}
		}
		return steal, total
	}
	return 0, 0
}
