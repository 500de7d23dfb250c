package api_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prefsd/prefsd/api"
	"github.com/prefsd/prefsd/config"
)

// The handler benchmarks drive each dialect's routes through the real gin
// engine (api.New, with the metrics, access log and every other middleware)
// over a real single-node in-process cluster, by calling ServeHTTP directly:
// no sockets, so what is measured is the request path inside prefsd. Reads
// ask for ?consistency=stale, which is a pointer load, so that they measure
// the handler rather than the raft barrier a linearizable read commits;
// the */linearizable cases show that barrier's cost. Writes commit through
// raft and its fsynced log, so their time is mostly the disk's, but their
// allocations are the handler's and the state machine's.
//
// `make profile` runs them with CPU and memory profiles.

// benchUser is the caller of every benchmark request.
const benchUser = "bench"

// benchEnv is one node with a gin engine of its own that the benchmarks
// call in-process.
type benchEnv struct {
	f    *fixture
	h    http.Handler
	auth string
}

// newBenchEnv starts a node, creates benchUser with a token, and builds an
// engine over the node logging as prefsd does by default (text, level
// info), to a discarding writer, with its own metrics registry.
func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	f := newFixture(b)
	tok := f.createUser(b, benchUser, false)
	reg := prometheus.NewRegistry()
	h := api.New(api.Options{
		Cluster:      f.node.Node,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Registry:     reg,
		Gatherer:     reg,
		MaxBodyBytes: config.Default().MaxBodyBytes,
	})
	return &benchEnv{f: f, h: h, auth: "Token " + tok}
}

// benchWriter is a ResponseWriter that keeps only the status and the body,
// reused from one request to the next so that the harness allocates little.
type benchWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *benchWriter) Header() http.Header { return w.header }

func (w *benchWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}

func (w *benchWriter) reset() {
	clear(w.header)
	w.status = 0
	w.body.Reset()
}

// serve sends one request to the engine and returns the writer holding the
// answer; the writer is reused by the next call.
func (e *benchEnv) serve(w *benchWriter, tmpl *http.Request, body *bytes.Reader, raw []byte) {
	w.reset()
	req := *tmpl
	if raw != nil {
		body.Reset(raw)
		req.Body = io.NopCloser(body)
	}
	e.h.ServeHTTP(w, &req)
}

// bench runs one request in a loop and checks every answer's status. Each
// iteration gets a shallow copy of a request built once (handlers read the
// request's headers and URL but never change them) with a fresh body.
func (e *benchEnv) bench(b *testing.B, method, path, ctype, body string, want int) {
	b.Helper()
	u, err := url.ParseRequestURI(path)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &http.Request{
		Method:     method,
		URL:        u,
		RequestURI: path,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{"Authorization": {e.auth}, "Accept": {"application/json"}},
		Host:       "prefsd.test",
		RemoteAddr: "192.0.2.10:40000",
		Body:       http.NoBody,
	}
	if ctype != "" {
		tmpl.Header.Set("Content-Type", ctype)
	}
	var raw []byte
	if body != "" {
		raw = []byte(body)
		tmpl.ContentLength = int64(len(raw))
	}
	tmpl = tmpl.WithContext(b.Context())
	w := &benchWriter{header: http.Header{}}
	rd := bytes.NewReader(nil)
	// One request before timing: it must succeed, and it warms the pools.
	e.serve(w, tmpl, rd, raw)
	if w.status != want {
		b.Fatalf("%s %s: status %d, want %d; body %s", method, path, w.status, want, w.body.Bytes())
	}
	b.ReportAllocs()
	for b.Loop() {
		e.serve(w, tmpl, rd, raw)
		if w.status != want {
			b.Fatalf("%s %s: status %d, want %d; body %s", method, path, w.status, want, w.body.Bytes())
		}
	}
}

// benchPrefs is a JSON object of n string preferences.
func benchPrefs(n int) string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`"pref_` + strconv.Itoa(i) + `":"value number ` + strconv.Itoa(i) + ` <&> é"`)
	}
	sb.WriteByte('}')
	return sb.String()
}

// BenchmarkEdx measures the Open edX user preferences API on a user with
// ten preferences.
func BenchmarkEdx(b *testing.B) {
	e := newBenchEnv(b)
	const list = "/api/user/v1/preferences/" + benchUser
	e.f.do(b, http.MethodPatch, list, e.auth, "application/merge-patch+json", []byte(benchPrefs(10)))

	b.Run("get-all", func(b *testing.B) {
		e.bench(b, http.MethodGet, list+"?consistency=stale", "", "", http.StatusOK)
	})
	b.Run("get-one", func(b *testing.B) {
		e.bench(b, http.MethodGet, list+"/pref_3?consistency=stale", "", "", http.StatusOK)
	})
	b.Run("get-one/linearizable", func(b *testing.B) {
		e.bench(b, http.MethodGet, list+"/pref_3", "", "", http.StatusOK)
	})
	b.Run("patch", func(b *testing.B) {
		e.bench(b, http.MethodPatch, list, "application/merge-patch+json",
			`{"pref_1":"another value","pref_2":{"nested":[1,2.5,true,null]},"pref_9":null}`, http.StatusNoContent)
	})
	b.Run("put", func(b *testing.B) {
		e.bench(b, http.MethodPut, list+"/time_zone", "application/json", `"Europe/Paris"`, http.StatusNoContent)
	})
}

// BenchmarkLayout measures the layout preferences API.
func BenchmarkLayout(b *testing.B) {
	e := newBenchEnv(b)
	const path = "/api/users/preferences/dashboard/"
	const body = `{"preferences":"{\"columns\":3,\"widgets\":[\"inbox\",\"calendar\",\"news\"]}"}`
	e.f.do(b, http.MethodPost, path, e.auth, "application/json", []byte(body))

	b.Run("get", func(b *testing.B) {
		e.bench(b, http.MethodGet, path+"?consistency=stale", "", "", http.StatusOK)
	})
	b.Run("post", func(b *testing.B) {
		e.bench(b, http.MethodPost, path, "application/json", body, http.StatusCreated)
	})
}

// BenchmarkDynPrefs measures the django-dynamic-preferences API on the
// caller's user preferences (the default catalogue's eight).
func BenchmarkDynPrefs(b *testing.B) {
	e := newBenchEnv(b)
	const prefix = "/api/preferences/user/"

	b.Run("list", func(b *testing.B) {
		e.bench(b, http.MethodGet, prefix+"?consistency=stale", "", "", http.StatusOK)
	})
	b.Run("retrieve", func(b *testing.B) {
		e.bench(b, http.MethodGet, prefix+"user__favorite_vegetables/?consistency=stale", "", "", http.StatusOK)
	})
	b.Run("patch", func(b *testing.B) {
		e.bench(b, http.MethodPatch, prefix+"misc__favourite_colour/?consistency=stale", "application/json",
			`{"value":"Blue"}`, http.StatusOK)
	})
	b.Run("bulk", func(b *testing.B) {
		e.bench(b, http.MethodPost, prefix+"bulk/", "application/json",
			`{"misc__favourite_colour":"Red","misc__is_zombie":false,"user__favorite_vegetables":["T","C"]}`, http.StatusOK)
	})
}

// BenchmarkInvenTree measures the InvenTree settings API on the caller's
// user settings.
func BenchmarkInvenTree(b *testing.B) {
	e := newBenchEnv(b)
	const prefix = "/api/settings/user/"

	b.Run("list", func(b *testing.B) {
		e.bench(b, http.MethodGet, prefix+"?consistency=stale", "", "", http.StatusOK)
	})
	b.Run("list/page", func(b *testing.B) {
		e.bench(b, http.MethodGet, prefix+"?consistency=stale&limit=5&offset=5&search=search", "", "", http.StatusOK)
	})
	b.Run("get-one", func(b *testing.B) {
		e.bench(b, http.MethodGet, prefix+"LABEL_INLINE/?consistency=stale", "", "", http.StatusOK)
	})
	b.Run("patch", func(b *testing.B) {
		e.bench(b, http.MethodPatch, prefix+"LABEL_INLINE/?consistency=stale", "application/json",
			`{"value":false}`, http.StatusOK)
	})
}
