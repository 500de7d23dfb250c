package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prefsd/prefsd/config"
)

// healthcheckUsage describes the healthcheck subcommand.
const healthcheckUsage = `usage:
  prefsd healthcheck [--addr URL] [--path PATH] [--timeout D] [--insecure]

healthcheck asks a node whether it is ready (GET /readyz; --path /healthz
asks whether it is alive) and exits with status 0 if it answers 200 within
--timeout, 1 otherwise. It lets images without a shell or an HTTP client
run health checks.

--addr is a URL or HOST:PORT. It defaults to PREFSD_HTTP_ADDR (the node's
own --http-addr from the environment), a wildcard host such as 0.0.0.0
meaning the loopback address, and to 127.0.0.1:8080 without it. Without a
scheme the check uses HTTPS when PREFSD_TLS_CERT_FILE is set, as the node
then serves HTTPS only. --insecure skips verifying the node's certificate,
which names the node rather than the loopback address.`

// errNotHealthy is returned when a node answers, but not 200.
var errNotHealthy = errors.New("not healthy")

// runHealthcheck runs `prefsd healthcheck ...` and returns nil when the
// node answered 200.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prefsd healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, healthcheckUsage) }
	addr := fs.String("addr", "", "URL or HOST:PORT of the node (default: from PREFSD_HTTP_ADDR)")
	path := fs.String("path", "/readyz", "path to GET: /readyz or /healthz")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	insecure := fs.Bool("insecure", false, "do not verify the node's TLS certificate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q", fs.Arg(0))
	}
	if *timeout <= 0 {
		return errors.New("healthcheck: --timeout must be positive")
	}
	if !strings.HasPrefix(*path, "/") {
		return fmt.Errorf("healthcheck: --path %q must start with /", *path)
	}
	base, err := healthcheckBase(*addr, getenv)
	if err != nil {
		return err
	}
	url := base + *path

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{
		Proxy:             nil, // a health check talks to the node, never through a proxy
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: *insecure}, // opt-in, for loopback checks
	}}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %w: %s %s", url, errNotHealthy, res.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "GET %s: %s\n", url, res.Status)
	return nil
}

// healthcheckBase returns the scheme and host of the node to check, from
// --addr or, without it, from the node's own environment.
func healthcheckBase(addr string, getenv func(string) string) (string, error) {
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		return strings.TrimSuffix(addr, "/"), nil
	}
	if strings.Contains(addr, "://") {
		return "", fmt.Errorf("healthcheck: --addr %q: only http and https are supported", addr)
	}
	if addr == "" {
		addr = envOr(getenv, config.EnvName("http-addr"), config.Default().HTTPAddr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("healthcheck: --addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	scheme := "http"
	if getenv(config.EnvName("tls-cert-file")) != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}
