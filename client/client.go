// Package client calls the operator API of a prefsd cluster: status and
// membership, leadership transfer, backups and restores, users, tokens,
// quotas and the settings catalogue. Every method takes a context first and
// fails with an *Error carrying the server's status and message when the
// server refuses, so callers can match errors.Is(err, ErrNotFound) and
// friends.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Sentinels that an *Error matches by its status.
var (
	// ErrBadRequest: the server refused the request as malformed (400).
	ErrBadRequest = errors.New("client: bad request")
	// ErrUnauthorized: no credentials, or wrong ones (401).
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrForbidden: the credentials do not allow the operation (403).
	ErrForbidden = errors.New("client: forbidden")
	// ErrNotFound: the user, token or node named does not exist (404).
	ErrNotFound = errors.New("client: not found")
	// ErrUnavailable: no leader, or the node is stopping; try again (503).
	ErrUnavailable = errors.New("client: unavailable")
	// ErrUnreachable: no address given answered at all.
	ErrUnreachable = errors.New("client: no node reachable")
)

// Error is a call the server answered with a status other than 2xx.
type Error struct {
	Method string
	Path   string
	// Status is the HTTP status; Code the cluster error code, if the
	// server gave one.
	Status int
	Code   string
	// Message is the server's explanation, as it gave it.
	Message string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Is matches the sentinel for e's status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable
	}
	return false
}

// Options configure a Client.
type Options struct {
	// Token is a superuser's API token, sent as "Authorization: Token".
	Token string
	// TLS configures HTTPS; nil means the system's roots.
	TLS *tls.Config
	// HTTPClient, if set, is used as it is and TLS is ignored.
	HTTPClient *http.Client
}

// Client calls one cluster through any of its nodes.
type Client struct {
	bases []string
	token string
	http  *http.Client
}

// New returns a client for the nodes at addrs, tried in order: a node that
// cannot be dialled is skipped, one that answers is believed. An address is
// a URL (http:// or https://) or HOST:PORT, which means http.
func New(addrs []string, opts Options) (*Client, error) {
	c := &Client{token: opts.Token, http: opts.HTTPClient}
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		base, err := baseURL(a)
		if err != nil {
			return nil, err
		}
		c.bases = append(c.bases, base)
	}
	if len(c.bases) == 0 {
		return nil, errors.New("client: no address")
	}
	if c.http == nil {
		c.http = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSClientConfig:     opts.TLS,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		}}
	}
	return c, nil
}

// baseURL turns an address into a scheme://host[:port] base URL.
func baseURL(addr string) (string, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("client: address %q: %w", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("client: address %q: only http and https are supported", addr)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("client: address %q: want HOST:PORT or a URL without a path", addr)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Addrs returns the base URLs the client tries, in order.
func (c *Client) Addrs() []string { return slices.Clone(c.bases) }

// request describes one call.
type request struct {
	method, path string
	// body, if set, opens the body afresh for each address tried; size
	// is its length, -1 if unknown.
	body        func() (io.Reader, error)
	size        int64
	contentType string
	header      http.Header
}

// jsonRequest is a request with v, encoded as JSON, as its body.
func jsonRequest(method, path string, v any) (request, error) {
	r := request{method: method, path: path}
	if v == nil {
		return r, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return r, err
	}
	r.body = func() (io.Reader, error) { return bytes.NewReader(b), nil }
	r.size = int64(len(b))
	r.contentType = "application/json"
	return r, nil
}

// send makes the call on each address in turn until one is reached, and
// returns the response if its status is 2xx; otherwise an *Error. The
// caller closes the body.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	var errs []error
	for _, base := range c.bases {
		var body io.Reader
		sent := &countingReader{}
		if r.body != nil {
			b, err := r.body()
			if err != nil {
				return nil, err
			}
			sent.r = b
			body = sent
		}
		req, err := http.NewRequestWithContext(ctx, r.method, base+r.path, body)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		if r.body != nil {
			req.ContentLength = r.size
			if r.size == 0 {
				req.Body = http.NoBody
			}
		}
		for k, v := range r.header {
			req.Header[k] = v
		}
		if r.contentType != "" {
			req.Header.Set("Content-Type", r.contentType)
		}
		req.Header.Set("Accept", "application/json")
		if c.token != "" {
			req.Header.Set("Authorization", "Token "+c.token)
		}
		res, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() == nil && dialFailed(err) && sent.n == 0 {
				errs = append(errs, err)
				continue // nothing reached this node: try the next
			}
			return nil, fmt.Errorf("client: %s %s%s: %w", r.method, base, r.path, err)
		}
		if res.StatusCode/100 != 2 {
			defer res.Body.Close()
			return nil, decodeError(r, res)
		}
		return res, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrUnreachable, errors.Join(errs...))
}

// do makes a JSON call and decodes a 2xx answer into out, if out is set.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	r, err := jsonRequest(method, path, in)
	if err != nil {
		return err
	}
	res, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("client: %s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

// dialFailed reports whether err means no connection was made.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// decodeError builds the *Error for a non-2xx answer, taking the server's
// message from whichever shape its body has: a cluster error
// ({"code","message"}), Django REST framework's {"detail"} or field errors
// ({"field": ["message", ...]}), or plain text.
func decodeError(r request, res *http.Response) *Error {
	e := &Error{Method: r.method, Path: r.path, Status: res.StatusCode}
	data, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	data = bytes.TrimSpace(data)
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil {
		e.Message = truncate(string(data), 500)
		return e
	}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(obj[k], &s)
		return s
	}
	e.Code = str("code")
	if m := str("message"); m != "" {
		e.Message = m
		return e
	}
	if d := str("detail"); d != "" {
		e.Message = d
		return e
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		var msgs []string
		if json.Unmarshal(obj[k], &msgs) == nil {
			parts = append(parts, k+": "+strings.Join(msgs, " "))
		}
	}
	e.Message = strings.Join(parts, "; ")
	if e.Message == "" {
		e.Message = truncate(string(data), 500)
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.r == nil {
		return 0, io.EOF
	}
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}
