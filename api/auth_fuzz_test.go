package api_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prefsd/prefsd/api"
)

// The Authorization header and session cookie parsers. Whatever arrives, the
// answer is never a 5xx and never lets the request in.

const (
	fuzzAuthUser = "fuzz_basic"
	fuzzAuthPass = "fuzz basic password"
	fuzzAuthPath = "/api/settings/user/"
)

func newAuthFuzzServer(f *testing.F) http.Handler {
	fx := newFixture(f)
	createPasswordUser(f, fx, fuzzAuthUser, fuzzAuthPass, false)
	return recordAnswers(api.New(api.Options{Cluster: fx.node.Node, MaxBodyBytes: 1 << 20}))
}

func FuzzBasicHeader(f *testing.F) {
	for _, s := range []string{
		"", "Basic", "Basic ", "basic x", "Basic a b", "Basic abc", "Basic %%%", "Basic ====", "Basic YQ", "Basic YQ=",
		"Basic " + base64.StdEncoding.EncodeToString([]byte(fuzzAuthUser+":wrong")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte(fuzzAuthUser)),
		"Basic " + base64.StdEncoding.EncodeToString([]byte(":")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("\xff\xfe:\x00")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("a", 100)+":"+strings.Repeat("b", 100))),
		"BASIC\t" + base64.StdEncoding.EncodeToString([]byte("nobody:x")),
		"Basic " + base64.URLEncoding.EncodeToString([]byte("\xfb\xff:?>")),
	} {
		f.Add(s)
	}
	h := newAuthFuzzServer(f)
	f.Fuzz(func(t *testing.T, header string) {
		req, err := http.NewRequest(http.MethodGet, "http://prefsd.test"+fuzzAuthPath, nil)
		if err != nil {
			t.Skip()
		}
		req.Header["Authorization"] = []string{header}
		w := serveRecorded(h, req)
		checkAnswer(t, "Authorization "+header, w)
		if w.Code < 400 && !rightBasic(header) {
			t.Fatalf("Authorization %q let the request in: %d %s", header, w.Code, w.Body.Bytes())
		}
	})
}

// rightBasic reports whether a header carries the fuzz user's real
// credentials, which the fuzzer could in principle find.
func rightBasic(header string) bool {
	parts := strings.Fields(header)
	if len(parts) != 2 || !strings.EqualFold(parts[0], "basic") {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(parts[1])
	return err == nil && strings.EqualFold(string(b), fuzzAuthUser+":"+fuzzAuthPass)
}

func FuzzSessionCookie(f *testing.F) {
	for _, s := range []string{
		"", "x", strings.Repeat("A", 43), strings.Repeat("_", 43), strings.Repeat("A", 44), "AAAA=", "\x00", "\"quoted\"",
		"a;b", "sessionid=x", base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
	} {
		f.Add(s, s, uint8(0))
		f.Add(s, "", uint8(1))
	}
	h := newAuthFuzzServer(f)
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	f.Fuzz(func(t *testing.T, session, csrf string, m uint8) {
		method := methods[int(m)%len(methods)]
		for _, path := range []string{fuzzAuthPath, "/api/auth/logout/"} {
			req, err := http.NewRequest(method, "http://prefsd.test"+path, strings.NewReader(`{}`))
			if err != nil {
				t.Skip()
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header["Cookie"] = []string{"sessionid=" + session + "; csrftoken=" + csrf}
			req.Header["X-Csrftoken"] = []string{csrf}
			w := serveRecorded(h, req)
			checkAnswer(t, method+" "+path+" cookie "+session, w)
			if path == fuzzAuthPath && w.Code < 400 {
				t.Fatalf("session cookie %q let %s in: %d %s", session, method, w.Code, w.Body.Bytes())
			}
		}
	})
}

func serveRecorded(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}
