package main

import (
	"fmt"
	"net"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// pinThread binds the calling OS thread to one CPU. Call it with the
// goroutine locked to its thread.
func pinThread(cpu int) error {
	var mask cpuMask
	if cpu < 0 || cpu >= len(mask)*64 {
		return fmt.Errorf("cpu %d out of range", cpu)
	}
	mask[cpu/64] = 1 << (cpu % 64)
	if e := setAffinity(&mask); e != 0 {
		return fmt.Errorf("sched_setaffinity cpu %d: %w", cpu, e)
	}
	return nil
}

// cpuMask is an affinity mask of 1,024 CPUs.
type cpuMask [16]uint64

// setAffinity sets the calling thread's CPUs.
func setAffinity(mask *cpuMask) syscall.Errno {
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(*mask), uintptr(unsafe.Pointer(mask)))
	return e
}

// execOnCPU replaces this process with argv[0] running on one CPU: the new
// program starts with a single thread, which inherits this thread's
// affinity, and so do all the threads it makes.
func execOnCPU(cpu int, argv []string) error {
	runtime.LockOSThread()
	if err := pinThread(cpu); err != nil {
		return err
	}
	return syscall.Exec(argv[0], argv, syscall.Environ())
}

// openLoop sends msgs[1..n] from one thread pinned to cpu, message i at
// begin + i*interval, and returns when each was sent and the kernel's
// receive timestamp of its answer (0 if none came within grace after the
// last send). The thread never sleeps: it polls the socket and yields the
// CPU between sends, so the agent sharing that CPU runs as soon as a
// request wakes it and no request waits for a halted virtual CPU to be
// woken (milliseconds on a busy hypervisor). The message's request-id is
// its index.
func openLoop(c *net.UDPConn, cpu int, msgs [][]byte, interval, grace time.Duration) (begin time.Time, sent, got []int64, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := pinThread(cpu); err != nil {
		return begin, nil, nil, err
	}
	defer unpinThread()
	rc, err := c.SyscallConn()
	if err != nil {
		return begin, nil, nil, err
	}
	var fd uintptr
	if err := rc.Control(func(f uintptr) { fd = f }); err != nil {
		return begin, nil, nil, err
	}
	if err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1); err != nil {
		return begin, nil, nil, fmt.Errorf("SO_TIMESTAMPNS: %w", err)
	}
	n := len(msgs) - 1
	sent = make([]int64, n+1)
	got = make([]int64, n+1)
	r := newReceiver(fd)
	drain := func() error {
		for {
			id, at, ok, err := r.next()
			if err != nil || !ok {
				return err
			}
			if id >= 1 && int(id) <= n {
				got[id] = at
			}
		}
	}
	begin = time.Now().Add(10 * time.Millisecond)
	for i := 1; i <= n; i++ {
		due := begin.Add(time.Duration(i) * interval)
		for time.Now().Before(due) {
			if err := drain(); err != nil {
				return begin, nil, nil, err
			}
			yield()
		}
		sent[i] = time.Now().UnixNano()
		for {
			_, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&msgs[i][0])), uintptr(len(msgs[i])))
			if e == 0 {
				break
			}
			if e != syscall.EAGAIN && e != syscall.EINTR {
				return begin, nil, nil, fmt.Errorf("send request %d: %w", i, e)
			}
			yield()
		}
	}
	for end := time.Now().Add(grace); time.Now().Before(end); yield() {
		if err := drain(); err != nil {
			return begin, nil, nil, err
		}
	}
	return begin, sent, got, nil
}

// unpinThread lets the thread run anywhere again before the runtime
// reuses it.
func unpinThread() {
	var mask cpuMask
	for i := range mask {
		mask[i] = ^uint64(0)
	}
	_ = setAffinity(&mask)
}

func yield() { _, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }

// receiver reads datagrams without blocking or allocating, with their
// kernel receive timestamps.
type receiver struct {
	fd  uintptr
	buf []byte
	oob []byte
	iov syscall.Iovec
	msg syscall.Msghdr
}

func newReceiver(fd uintptr) *receiver {
	r := &receiver{fd: fd, buf: make([]byte, 65536), oob: make([]byte, 128)}
	r.iov.Base = &r.buf[0]
	r.iov.SetLen(len(r.buf))
	r.msg.Iov = &r.iov
	r.msg.Iovlen = 1
	return r
}

// next returns the request-id and receive time of one waiting answer; ok
// is false when none is waiting. Answers it cannot parse are skipped.
func (r *receiver) next() (id uint32, at int64, ok bool, err error) {
	for {
		r.msg.Control = &r.oob[0]
		r.msg.SetControllen(len(r.oob))
		m, _, e := syscall.RawSyscall(syscall.SYS_RECVMSG, r.fd, uintptr(unsafe.Pointer(&r.msg)), syscall.MSG_DONTWAIT)
		switch e {
		case 0:
		case syscall.EAGAIN, syscall.EINTR:
			return 0, 0, false, nil
		default:
			return 0, 0, false, fmt.Errorf("receive: %w", e)
		}
		at := rxTimestamp(r.oob[:r.msg.Controllen])
		if id, ok := responseID(r.buf[:m]); ok {
			return id, at, true, nil
		}
	}
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
