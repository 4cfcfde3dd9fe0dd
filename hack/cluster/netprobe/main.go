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
	"syscall"
	"time"
)

func main() {
	method := flag.String("X", http.MethodGet, "HTTP method")
	timeout := flag.Duration("timeout", 4*time.Second, "for the whole request")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: netprobe [-X METHOD] [-timeout D] URL")
		os.Exit(1)
	}
	os.Exit(probe(*method, flag.Arg(0), *timeout))
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
