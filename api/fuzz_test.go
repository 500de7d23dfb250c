package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prefsd/prefsd/api"
	"github.com/prefsd/prefsd/internal/testnode"
)

// Fuzz targets. The handler targets run the real handlers in process
// (httptest) on one real node per fuzz function (per worker when fuzzing).

var fuzzJSONSeeds = []string{
	``, ` `, `{}`, `[]`, `null`, `true`, `10`, `-0`, `1.5`, `1e400`, `-1e-400`, `"str"`, `""`,
	`{"a": "b"}`, `{"a": null}`, `{"a": 10, "b": 1.5, "c": true, "d": [1, 2], "e": {"int_key": 10}}`,
	`{"a": {"b": [1, 2.5e300, null, true, "it's \"q\""]}}`, `{"k": "1", "k": "2"}`,
	`{"time_zone": "UTC"}`, `{"time_zone": "Bad/Zone"}`, `{"": "x"}`, `{"...": "x"}`, `{"ⓟ": "x"}`,
	`{"a": "\u0000"}`, `{"a": "   "}`, `{"a": "\ud800"}`, `{"\u200b": "\u2028"}`,
	`{"` + strings.Repeat("k", 256) + `": "v"}`, `{"a": "b"} x`, `{"a":`, `{'a': 1}`, `{"a": NaN}`,
	strings.Repeat("[", 70) + strings.Repeat("]", 70),
	strings.Repeat(`{"a":`, 64) + `1` + strings.Repeat("}", 64),
	"{\"\xff\": \"\xfe\"}", "\xef\xbb\xbf{}",
}

func FuzzParsePy(f *testing.F) {
	for _, s := range fuzzJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := api.PyStrOfJSON(data)
		if err != nil {
			// Only bodies Go's JSON rejects, or nested too deeply, fail.
			if json.Valid(data) && !strings.Contains(err.Error(), "nested too deeply") {
				t.Fatalf("valid JSON %q refused: %v", data, err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("invalid JSON %q accepted as %q", data, s)
		}
		if !utf8.ValidString(s) {
			t.Fatalf("str of %q is not UTF-8: %q", data, s)
		}
		// A JSON string's str() is the string itself.
		var v any
		if json.Unmarshal(data, &v) == nil {
			if str, ok := v.(string); ok && s != str {
				t.Fatalf("str(%q) = %q, want %q", data, s, str)
			}
		}
	})
}

// fuzzServer is one node and an in-process handler with a user's token.
type fuzzServer struct {
	h     http.Handler
	auth  map[string]string // scheme → Authorization header
	owner string
	token string // the owner's token
}

func newFuzzServer(f *testing.F) *fuzzServer {
	fx := newFixture(f)
	tok := fx.createUser(f, "fuzz_owner", false)
	fx.createUser(f, "fuzz_other", false)
	return &fuzzServer{
		h:     recordAnswers(api.New(api.Options{Cluster: fx.node.Node, MaxBodyBytes: 1 << 20})),
		auth:  map[string]string{"Bearer": "Bearer " + tok, "JWT": "JWT " + tok},
		owner: "fuzz_owner",
		token: tok,
	}
}

// serve runs one request in process; it returns nil for a target that is
// not a valid request.
func (s *fuzzServer) serve(method, target, auth, ctype string, body []byte) *httptest.ResponseRecorder {
	req, err := http.NewRequest(method, "http://prefsd.test"+target, bytes.NewReader(body))
	if err != nil {
		return nil
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, req)
	return w
}

// checkAnswer fails on a 5xx, or a body that is neither empty nor JSON.
func checkAnswer(t *testing.T, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("%s: %d %s", what, w.Code, w.Body.Bytes())
	}
	if w.Body.Len() > 0 && !json.Valid(w.Body.Bytes()) {
		t.Fatalf("%s: %d, body not JSON: %q", what, w.Code, w.Body.Bytes())
	}
}

var edxContentTypes = []string{
	"application/merge-patch+json", "application/merge-patch+json; charset=utf-8", "application/json", "", "text/plain",
}

func FuzzEdxPatchBody(f *testing.F) {
	for i, s := range fuzzJSONSeeds {
		f.Add([]byte(s), uint8(i%3), false)
	}
	f.Add([]byte(`{"a": "b"}`), uint8(0), true)
	f.Add([]byte(`"v"`), uint8(2), true)
	srv := newFuzzServer(f)
	list := "/api/user/v1/preferences/" + srv.owner
	f.Fuzz(func(t *testing.T, body []byte, ct uint8, asOther bool) {
		ctype := edxContentTypes[int(ct)%len(edxContentTypes)]
		target := list
		if asOther {
			target = "/api/user/v1/preferences/fuzz_other"
		}
		w := srv.serve(http.MethodPatch, target, srv.auth["Bearer"], ctype, body)
		checkAnswer(t, "PATCH", w)
		if asOther && w.Code < 400 {
			t.Fatalf("PATCH on another user's preferences: %d", w.Code)
		}
		// The same bytes as a PUT of one key.
		w = srv.serve(http.MethodPut, list+"/fuzz_key", srv.auth["Bearer"], "application/json", body)
		checkAnswer(t, "PUT", w)
		// Whatever was written, the list is still a map of strings.
		w = srv.serve(http.MethodGet, list+"?consistency=stale", srv.auth["Bearer"], "", nil)
		if w.Code != http.StatusOK {
			t.Fatalf("GET: %d %s", w.Code, w.Body.Bytes())
		}
		var m map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("GET: %v: %s", err, w.Body.Bytes())
		}
	})
}

var layoutContentTypes = []string{"application/json", "application/x-www-form-urlencoded", "", "text/plain", "application/json; charset=utf-8"}

func FuzzLayoutBody(f *testing.F) {
	for i, s := range fuzzJSONSeeds {
		f.Add("table-layout", []byte(s), uint8(i%2))
	}
	f.Add("table-layout", []byte(`{"preferences": "{\"tables\": [1,2]}"}`), uint8(0))
	f.Add("a_b", []byte(`{"preferences": "x"}`), uint8(0))
	f.Add(strings.Repeat("k", 256), []byte(`{"preferences": null}`), uint8(0))
	f.Add(`a\b`, []byte(`preferences=x&preferences=y`), uint8(1))
	f.Add("ⓟ", []byte(`preferences=%ff`), uint8(1))
	f.Add("", []byte(`{"preferences": 10}`), uint8(4))
	f.Add("k", []byte(`{"preferences": "`+strings.Repeat("v", 110001)+`"}`), uint8(0))
	srv := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, key string, body []byte, ct uint8) {
		ctype := layoutContentTypes[int(ct)%len(layoutContentTypes)]
		target := "/api/users/preferences/" + url.PathEscape(key) + "/"
		w := srv.serve(http.MethodPost, target, srv.auth["JWT"], ctype, body)
		if w == nil {
			return
		}
		checkAnswer(t, "POST", w)
		created := w.Code == http.StatusCreated
		if created && w.Body.Len() != 0 {
			t.Fatalf("201 with a body: %q", w.Body.Bytes())
		}
		w = srv.serve(http.MethodGet, target, srv.auth["JWT"], "", nil)
		checkAnswer(t, "GET", w)
		if created && w.Code != http.StatusOK {
			t.Fatalf("GET after 201: %d %s", w.Code, w.Body.Bytes())
		}
		if w.Code == http.StatusOK {
			var v struct {
				Preferences *string `json:"preferences"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || v.Preferences == nil {
				t.Fatalf("GET: %s", w.Body.Bytes())
			}
		}
		w = srv.serve(http.MethodDelete, target, srv.auth["JWT"], "", nil)
		checkAnswer(t, "DELETE", w)
		if created && w.Code != http.StatusNoContent {
			t.Fatalf("DELETE after 201: %d %s", w.Code, w.Body.Bytes())
		}
	})
}

// FuzzAdminBodies pushes arbitrary bytes through the admin API's bodies:
// user creation and update, token creation and quotas.
func FuzzAdminBodies(f *testing.F) {
	for i, s := range fuzzJSONSeeds {
		f.Add([]byte(s), uint8(i))
	}
	f.Add([]byte(`{"username": "bob", "password": "pw", "email": "b@example.com", "is_staff": true}`), uint8(0))
	f.Add([]byte(`{"username": "Bob"}`), uint8(0))
	f.Add([]byte(`{"max_preferences": 5, "max_total_bytes": -1}`), uint8(3))
	f.Add([]byte(`{"max_value_length": 9223372036854775807}`), uint8(4))
	f.Add([]byte(`{"name": "laptop"}`), uint8(2))
	srv := newFuzzServer(f)
	admin := adminAuth
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		targets := []struct{ method, path string }{
			{http.MethodPost, "/api/admin/users"},
			{http.MethodPatch, "/api/admin/users/fuzz_other"},
			{http.MethodPost, "/api/admin/users/fuzz_other/tokens"},
			{http.MethodPut, "/api/admin/users/fuzz_other/quota"},
			{http.MethodPut, "/api/admin/quotas/default"},
		}
		tg := targets[int(which)%len(targets)]
		w := srv.serve(tg.method, tg.path, admin, "application/json", body)
		checkAnswer(t, tg.method+" "+tg.path, w)
		// The admin API stays usable whatever was sent.
		w = srv.serve(http.MethodGet, "/api/admin/users?consistency=stale", admin, "", nil)
		if w.Code != http.StatusOK {
			t.Fatalf("GET users after %s %s: %d %s", tg.method, tg.path, w.Code, w.Body.Bytes())
		}
	})
}

// FuzzAuthorizationHeader sends arbitrary Authorization headers to every
// dialect: the answer is never a 5xx, and never a success for a header
// that does not carry a known token.
func FuzzAuthorizationHeader(f *testing.F) {
	for _, s := range []string{
		"", "Token", "Bearer", "JWT", "Token x", "Bearer  x  y", "jwt abc", "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
		"Token " + testnode.AdminToken, "TOKEN " + testnode.AdminToken, "Token\t" + testnode.AdminToken, "\x00", "Bearer \xff",
	} {
		f.Add(s)
	}
	srv := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, header string) {
		known := strings.Contains(header, testnode.AdminToken) || strings.Contains(header, srv.token)
		for _, target := range []string{
			"/api/user/v1/preferences/" + srv.owner,
			"/api/users/preferences/k/",
			"/api/settings/user/",
			"/api/preferences/user/",
			"/api/admin/users",
		} {
			req, err := http.NewRequest(http.MethodGet, "http://prefsd.test"+target+"?consistency=stale", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header["Authorization"] = []string{header}
			w := httptest.NewRecorder()
			srv.h.ServeHTTP(w, req)
			checkAnswer(t, "GET "+target, w)
			if w.Code < 300 && !known {
				t.Fatalf("GET %s with Authorization %q: %d", target, header, w.Code)
			}
		}
	})
}
