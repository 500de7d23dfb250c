// Package testbin is for tests that run the prefsd binary as a process: it
// builds the binary once per test binary and holds the small helpers such
// tests share (free ports, an environment without PREFSD_ variables,
// polling with a deadline).
package testbin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Module is the module path whose go.mod ModuleRoot looks for.
const Module = "github.com/prefsd/prefsd"

// builder builds the binary once; the package's only state, which the
// build cache would make cheap to redo but not free.
var builder struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Prefsd skips the test under -short, and otherwise returns the path of a
// prefsd binary built from this module with the metrics tag, building it
// on first use. Call Cleanup from TestMain to remove it.
func Prefsd(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the prefsd binary: skipped with -short")
	}
	builder.once.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			builder.err = err
			return
		}
		if builder.dir, err = os.MkdirTemp("", "prefsd-test-bin-"); err != nil {
			builder.err = err
			return
		}
		builder.path = filepath.Join(builder.dir, "prefsd")
		cmd := exec.Command("go", "build", "-tags", "hashicorpmetrics", "-o", builder.path, Module+"/cmd/prefsd")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			builder.err = fmt.Errorf("go build in %s: %v\n%s", root, err, out)
		}
	})
	if builder.err != nil {
		t.Fatalf("building prefsd: %v", builder.err)
	}
	return builder.path
}

// Cleanup removes the binary Prefsd built, if it built one.
func Cleanup() {
	if builder.dir != "" {
		os.RemoveAll(builder.dir)
	}
}

// ModuleRoot finds the directory of the prefsd go.mod, walking up from the
// working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module "+Module+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod for " + Module + " above the working directory")
		}
		dir = parent
	}
}

// BaseEnv is the test process's environment without any PREFSD_ variable,
// so that nothing from the developer's shell configures a node.
func BaseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PREFSD_") {
			env = append(env, kv)
		}
	}
	return env
}

// FreeAddrs returns n loopback addresses whose ports were free a moment
// ago. All listeners are held until every port is chosen, so the addresses
// are distinct.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	return FreeAddrsOn(t, "127.0.0.1", n)
}

// FreeAddrsOn is FreeAddrs on the local address ip.
func FreeAddrsOn(t testing.TB, ip string, n int) []string {
	t.Helper()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("free port on %s: %v", ip, err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// SyncBuffer is a bytes.Buffer safe for a process's copying goroutine and
// the test to use at once.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last max bytes of s, saying how much was cut.
func Tail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("[... %d bytes cut ...]\n%s", len(s)-max, s[len(s)-max:])
}

// permanentError stops Eventually at once.
type permanentError struct{ error }

// Permanent wraps err so that Eventually fails at once instead of polling
// on: the condition can no longer come true.
func Permanent(err error) error { return permanentError{err} }

// PollInterval is how often Eventually checks its condition again.
const PollInterval = 50 * time.Millisecond

// Eventually polls cond until it returns nil, and fails the test with what
// was awaited and cond's last error once timeout has passed, or at once if
// cond returns an error made by Permanent.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		var perm permanentError
		if errors.As(err, &perm) {
			t.Fatalf("while waiting for %s: %v", what, perm.error)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last error: %v", timeout, what, err)
		}
		<-tick.C
	}
}

// Response is an HTTP answer read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// String gives the status and the start of the body, for messages.
func (r Response) String() string {
	return fmt.Sprintf("%d %s", r.Status, Tail(string(bytes.TrimSpace(r.Body)), 300))
}

// Do sends one request and reads the whole answer. auth is the whole
// Authorization header value ("" for none); a body that is not nil is sent
// as JSON, or as it is if it is a string. Every request has a connection of
// its own, so that a killed node or a cut link leaves no pooled connection
// behind.
func Do(method, url, auth, contentType string, body any) (Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return Response{}, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: data}, nil
}
