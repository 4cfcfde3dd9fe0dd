//go:build !linux

package main

import (
	"errors"
	"net"
	"time"
)

var errLinuxOnly = errors.New("the latency benchmark pins threads to a CPU and reads kernel receive timestamps: it needs Linux")

func execOnCPU(int, []string) error { return errLinuxOnly }

func openLoop(*net.UDPConn, int, [][]byte, time.Duration, time.Duration) (time.Time, []int64, []int64, error) {
	return time.Time{}, nil, nil, errLinuxOnly
}
