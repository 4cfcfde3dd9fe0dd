package main

import (
	"net"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// pace calls send(i) for i in 1..n at begin+due(i), catching up at once
// when behind. It sleeps on its own thread with a 1 ns timer slack: Go's
// timers wake about a millisecond late at this scale, which would send the
// requests in bursts that queue at the agent.
func pace(n int, due func(int) time.Duration, begin time.Time, send func(int) error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, 29 /* PR_SET_TIMERSLACK */, 1, 0)
	for i := 1; i <= n; i++ {
		if wait := due(i) - time.Since(begin); wait > 0 {
			ts := syscall.NsecToTimespec(int64(wait))
			_ = syscall.Nanosleep(&ts, nil)
		}
		if err := send(i); err != nil {
			return err
		}
	}
	return nil
}

// enableRxTimestamps asks the kernel to stamp each datagram c receives.
func enableRxTimestamps(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// rxTimestamp returns the kernel's receive time (Unix ns) from a datagram's
// control messages, or now when there is none. It walks the cmsg headers by
// hand: syscall.ParseSocketControlMessage allocates on every datagram.
func rxTimestamp(oob []byte) int64 {
	align := func(n int) int {
		return (n + int(unsafe.Sizeof(uintptr(0))) - 1) &^ (int(unsafe.Sizeof(uintptr(0))) - 1)
	}
	for len(oob) >= syscall.SizeofCmsghdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < syscall.SizeofCmsghdr || l > len(oob) {
			break
		}
		data := oob[align(syscall.SizeofCmsghdr):l]
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SO_TIMESTAMPNS && len(data) >= int(unsafe.Sizeof(syscall.Timespec{})) {
			return (*syscall.Timespec)(unsafe.Pointer(&data[0])).Nano()
		}
		oob = oob[min(len(oob), align(l)):]
	}
	return time.Now().UnixNano()
}
