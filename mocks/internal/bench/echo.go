package main

import (
	"errors"
	"net"
	"time"
)

// echo answers every v1/v2c message on addr with itself, its PDU turned
// into a response: the least any agent can do, measured the same way as
// the agents to show the floor this machine and Go's runtime set.
func echo(addr string) error {
	a, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return err
	}
	c, err := net.ListenUDP("udp4", a)
	if err != nil {
		return err
	}
	return serveEcho(c, 0)
}

// serveEcho echoes on c, each answer held back by delay, until c is
// closed. Like the simulator, one goroutine reads the socket and answers
// each message before reading the next.
func serveEcho(c *net.UDPConn, delay time.Duration) error {
	_ = c.SetReadBuffer(8 << 20)
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if at := pduOffset(buf[:n]); at > 0 {
			buf[at] = 0xa2
			if delay > 0 {
				time.Sleep(delay)
			}
			_, _ = c.WriteToUDPAddrPort(buf[:n], from)
		}
	}
}

// pduOffset returns where the PDU's tag is in a v1/v2c message, or 0.
func pduOffset(msg []byte) int {
	_, m, _, err := read(msg)
	if err != nil {
		return 0
	}
	for range 2 { // version, community
		if _, _, m, err = read(m); err != nil || len(m) == 0 {
			return 0
		}
	}
	return len(msg) - len(m)
}
