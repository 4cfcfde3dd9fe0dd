//go:build !linux

package main

import (
	"net"
	"time"
)

// pace calls send(i) for i in 1..n at begin+due(i). Go's timers are coarse,
// so requests may leave in small bursts; Linux has a precise pacer.
func pace(n int, due func(int) time.Duration, begin time.Time, send func(int) error) error {
	for i := 1; i <= n; i++ {
		if wait := due(i) - time.Since(begin); wait > 0 {
			time.Sleep(wait)
		}
		if err := send(i); err != nil {
			return err
		}
	}
	return nil
}

func enableRxTimestamps(*net.UDPConn) error { return nil }

func rxTimestamp([]byte) int64 { return time.Now().UnixNano() }
