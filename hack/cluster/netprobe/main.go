package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: netprobe URL")
		os.Exit(1)
	}
	c := &http.Client{Timeout: 4 * time.Second}
	resp, err := c.Get(os.Args[1])
	if err == nil {
		resp.Body.Close()
		fmt.Println("answered:", resp.Status)
		return
	}
	var ne net.Error
	if errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &ne) && ne.Timeout()) {
		fmt.Println("refused:", err)
		os.Exit(2)
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}
