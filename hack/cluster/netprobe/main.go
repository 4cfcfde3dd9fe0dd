package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gosnmp/gosnmp"
)

func main() {
	method := flag.String("X", http.MethodGet, "HTTP method")
	timeout := flag.Duration("timeout", 4*time.Second, "for the whole request")
	community := flag.String("snmp", "", "an SNMPv2c GET of sysDescr.0 with this community to HOST:PORT (UDP) instead of HTTP")
	tcp := flag.Bool("tcp", false, "only connect to HOST:PORT (TCP), for a server that speaks no HTTP")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: netprobe [-X METHOD] [-timeout D] URL | netprobe -snmp COMMUNITY HOST:PORT | netprobe -tcp HOST:PORT")
		os.Exit(1)
	}
	if *tcp {
		os.Exit(probeTCP(flag.Arg(0), *timeout))
	}
	if *community != "" {
		os.Exit(probeSNMP(*community, flag.Arg(0), *timeout))
	}
	os.Exit(probe(*method, flag.Arg(0), *timeout))
}

func probeTCP(hostport string, timeout time.Duration) int {
	c, err := net.DialTimeout("tcp", hostport, timeout)
	if err == nil {
		fmt.Printf("answered: connected to %s\n", c.RemoteAddr())
		c.Close()
		return 0
	}
	var ne net.Error
	if errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &ne) && ne.Timeout()) {
		fmt.Println("refused:", err)
		return 2
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	return 1
}

// probeSNMP: over UDP a refusal is the ICMP port unreachable a REJECT sends (ECONNREFUSED on
// the connected socket) or silence.
func probeSNMP(community, hostport string, timeout time.Duration) int {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	addrs, err := net.LookupHost(host)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error: port:", err)
		return 1
	}
	g := &gosnmp.GoSNMP{Target: addrs[0], Port: uint16(p), Community: community, Version: gosnmp.Version2c,
		Timeout: timeout / 2, Retries: 1}
	if err := g.Connect(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	defer g.Conn.Close()
	r, err := g.Get([]string{"1.3.6.1.2.1.1.1.0"})
	if err == nil {
		fmt.Printf("answered: SNMP %v from %s:%d\n", r.Error, addrs[0], p)
		return 0
	}
	var ne net.Error
	if errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &ne) && ne.Timeout()) || strings.Contains(err.Error(), "timeout") {
		fmt.Println("refused:", err)
		return 2
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	return 1
}

func probe(method, url string, timeout time.Duration) int {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var remote string
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { remote = i.Conn.RemoteAddr().String() },
	})
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		fmt.Printf("answered: %s from %s\n", resp.Status, remote)
		return 0
	}
	if remote != "" { // connected: whatever failed after that, no policy refused it
		fmt.Fprintf(os.Stderr, "error: connected to %s, then: %v\n", remote, err)
		return 1
	}
	var ne net.Error
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		fmt.Println("refused:", err)
		return 2
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	return 1
}
