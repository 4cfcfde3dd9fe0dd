// Command pause is the sandbox ("pause") container of the loopback cluster (hack/cluster): it
// holds a pod's namespaces, reaps the zombies of processes it adopts as PID 1, and exits on
// SIGTERM or SIGINT. Built static, it is the only file of an image built FROM scratch.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
