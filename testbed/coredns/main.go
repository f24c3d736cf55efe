// Command coredns is the test bed's cluster DNS: CoreDNS (from the Go module proxy) with only the
// plugins the real node's Corefile uses, so the build stays small. It serves cluster.local from
// the API server (kubernetes plugin) and forwards nothing upstream: the test bed has no internet.
package main

import (
	_ "github.com/coredns/coredns/core/dnsserver" // the DNS server type (registers "dns")
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
