// Command hello is the test image that the real node runs: a static HTTP server FROM scratch.
// GET / answers "hello from <hostname> <MESSAGE>"; GET /healthz is the readiness probe.
// Flags: -listen (default :8080). It exits 1 at once when FAIL=1, for tests of broken rollouts.
// With -get URL it is a client instead: it GETs URL (resolving the name with the pod's DNS),
// prints the body (also to /dev/termination-log) and exits 0 on a 200, 1 otherwise; the cluster
// DNS tests run it in a pod.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "address to listen on")
	get := flag.String("get", "", "GET this URL, print the body and exit (0 on a 200)")
	// A new Service's rules reach kube-proxy a moment after it exists: -get retries that long.
	retryFor := flag.Duration("for", 0, "with -get: retry failures for this long")
	flag.Parse()
	if *get != "" {
		deadline := time.Now().Add(*retryFor)
		for {
			code := fetch(*get)
			if code == 0 || time.Now().After(deadline) {
				os.Exit(code)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
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

func fetch(url string) int {
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		log.Printf("GET %s: %v", url, err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	fmt.Print(string(body))
	// Also the pod's termination message, so a test reads it from the Pod's status (the test
	// bed's API server has no client cert for the kubelet, so it cannot fetch logs).
	_ = os.WriteFile("/dev/termination-log", body, 0o644)
	if resp.StatusCode != http.StatusOK {
		log.Printf("GET %s: %s", url, resp.Status)
		return 1
	}
	return 0
}
