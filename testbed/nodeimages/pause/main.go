// Command pause is the node's sandbox ("pause") image: no upstream image can be pulled here, so
// the kubelet's pod sandbox runs this static binary FROM scratch. Like upstream's pause.c it
// sleeps until SIGINT/SIGTERM and reaps zombies, since it is PID 1 of pods sharing a PID namespace.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
