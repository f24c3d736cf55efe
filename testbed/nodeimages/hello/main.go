// Command hello is the test image that the real node runs: a static HTTP server FROM scratch.
// GET / answers "hello from <hostname> <MESSAGE>"; GET /healthz is the readiness probe.
// Flags: -listen (default :8080). It exits 1 at once when FAIL=1, for tests of broken rollouts.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	listen := flag.String("listen", ":8080", "address to listen on")
	flag.Parse()
	if os.Getenv("FAIL") == "1" {
		log.Fatal("FAIL=1: exiting as asked")
	}
	host, _ := os.Hostname()
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hello from %s %s\n", host, os.Getenv("MESSAGE"))
	})
	log.Printf("listening on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
