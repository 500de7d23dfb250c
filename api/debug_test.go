package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// Go's profiles are served to superusers only.
func TestDebugPprof(t *testing.T) {
	f := newFixture(t)
	user := "Token " + f.createUser(t, "not-super", true)
	tests := []struct {
		name, method, path, auth string
		status                   int
		ctype                    string
		body                     string
	}{
		{"index", http.MethodGet, "/debug/pprof/", adminAuth, 200, "text/html", "goroutine"},
		{"heap as text", http.MethodGet, "/debug/pprof/heap?debug=1", adminAuth, 200, "text/plain", "heap profile"},
		{"goroutines", http.MethodGet, "/debug/pprof/goroutine?debug=1", adminAuth, 200, "text/plain", "goroutine profile"},
		{"heap", http.MethodGet, "/debug/pprof/heap", adminAuth, 200, "application/octet-stream", ""},
		{"cmdline", http.MethodGet, "/debug/pprof/cmdline", adminAuth, 200, "text/plain", ""},
		{"short cpu profile", http.MethodGet, "/debug/pprof/profile?seconds=1", adminAuth, 200, "application/octet-stream", ""},
		{"symbol", http.MethodGet, "/debug/pprof/symbol", adminAuth, 200, "text/plain", "num_symbols"},
		{"unknown profile", http.MethodGet, "/debug/pprof/nothing", adminAuth, 404, "application/json", `"detail":"Not found."`},
		{"no credentials", http.MethodGet, "/debug/pprof/heap", "", 401, "application/json", "detail"},
		{"staff, not superuser", http.MethodGet, "/debug/pprof/heap", user, 403, "application/json", "detail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, tt.method, tt.path, tt.auth, "", nil)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
				t.Errorf("Content-Type %q, want %s", ct, tt.ctype)
			}
			if !strings.Contains(string(r.body), tt.body) {
				t.Errorf("body lacks %q: %.200s", tt.body, r.body)
			}
		})
	}
}
