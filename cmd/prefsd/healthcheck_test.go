package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prefsd/prefsd/internal/testnode"
)

// TestHealthcheck runs the subcommand against a real node, against a
// server that is up but not ready, and against a closed port.
func TestHealthcheck(t *testing.T) {
	n := testnode.Start(t, testnode.Options{})
	testnode.WaitLeader(t, []*testnode.Node{n})

	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.Error(w, `{"status":"not ready","reason":"no leader"}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(notReady.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // "" means healthy
		notOK   bool   // the error must be errNotHealthy
		wantOut string
	}{
		{name: "ready node by host:port", args: []string{"--addr", n.Addr}, wantOut: "/readyz: 200 OK"},
		{name: "ready node by URL", args: []string{"--addr", n.URL + "/"}, wantOut: n.URL + "/readyz: 200 OK"},
		{name: "live node", args: []string{"--addr", n.Addr, "--path", "/healthz"}, wantOut: "/healthz: 200 OK"},
		{name: "address from the node's environment", env: map[string]string{"PREFSD_HTTP_ADDR": n.Addr}, wantOut: n.URL + "/readyz"},
		{name: "wildcard host means loopback", env: map[string]string{"PREFSD_HTTP_ADDR": "0.0.0.0:" + port(t, n.Addr)}, wantOut: n.URL + "/readyz"},
		{name: "flag wins over the environment", args: []string{"--addr", n.Addr}, env: map[string]string{"PREFSD_HTTP_ADDR": closed}, wantOut: "200 OK"},
		{name: "up but not ready", args: []string{"--addr", notReady.URL}, wantErr: "503 Service Unavailable", notOK: true},
		{name: "up and alive", args: []string{"--addr", notReady.URL, "--path", "/healthz"}, wantOut: "200 OK"},
		{name: "nothing listening", args: []string{"--addr", closed}, wantErr: "connection refused"},
		{name: "TLS from the environment", env: map[string]string{"PREFSD_HTTP_ADDR": n.Addr, "PREFSD_TLS_CERT_FILE": "/x.pem"}, wantErr: "https://" + n.Addr},
		{name: "unknown scheme", args: []string{"--addr", "ftp://" + n.Addr}, wantErr: "only http and https"},
		{name: "bad address", args: []string{"--addr", "localhost"}, wantErr: "missing port"},
		{name: "relative path", args: []string{"--addr", n.Addr, "--path", "readyz"}, wantErr: "must start with /"},
		{name: "zero timeout", args: []string{"--addr", n.Addr, "--timeout", "0s"}, wantErr: "--timeout must be positive"},
		{name: "stray argument", args: []string{"now"}, wantErr: `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			err := runHealthcheck(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &out, &errs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if got := errors.Is(err, errNotHealthy); got != tt.notOK {
					t.Fatalf("errors.Is(%v, errNotHealthy) = %v, want %v", err, got, tt.notOK)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v (stderr %s)", err, errs.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("output %q, want it to contain %q", out.String(), tt.wantOut)
			}
		})
	}
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
