// Command pause is the sandbox ("pause") container of the test node's Pods: it holds the
// Pod's namespaces and does nothing else. Built here because no container registry is
// reachable (registry.k8s.io/pause cannot be pulled). It does what upstream's pause.c
// (kubernetes/build/pause/linux/pause.c) does: exit 0 on SIGINT/SIGTERM, reap children
// on SIGCHLD, otherwise wait forever.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getpid() != 1 {
		os.Stderr.WriteString("Warning: pause should be the first process\n")
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
