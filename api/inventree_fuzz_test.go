package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/prefsd/prefsd/fsm"
)

var itContentTypes = []string{
	"application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ", "", "text/plain",
	"application/json; charset=utf-8", "*/*", "multipart/form-data",
}

// FuzzInvenTreeValue sends arbitrary bodies through PATCH and PUT on
// settings of every kind (and arbitrary keys through the detail URL): the
// answer is never a 5xx, a write that succeeds leaves a value its
// definition accepts, and the list stays a JSON array.
func FuzzInvenTreeValue(f *testing.F) {
	for i, s := range fuzzJSONSeeds {
		f.Add([]byte(s), uint8(i), "LABEL_INLINE")
	}
	for i, v := range []string{
		`{"value": "True"}`, `{"value": "y"}`, `{"value": 5}`, `{"value": " +0_25 "}`, `{"value": "١٢"}`,
		`{"value": 99999999999999999999}`, `{"value": "DD/MM/YYYY"}`, `{"value": "USD,XYZ"}`, `{"value": ",,"}`,
		`{"value": "ftp://x"}`, `{"value": "http://[::1]:80/"}`, `{"value": null}`, `{"value": {"a": [1]}}`,
		`{"value": "` + strings.Repeat("é", 2001) + `"}`, `value=abc&value=DD%2FMM%2FYYYY`, `value=%ff%`,
		"--XyZ\r\nContent-Disposition: form-data; name=\"value\"; filename=\"f.txt\"\r\n\r\nx\r\n--XyZ--\r\n",
		"--XyZ\r\nContent-Disposition: form-data; name=\"value\"\r\n\r\n12\r\n--XyZ", `--XyZ--`,
	} {
		f.Add([]byte(v), uint8(i), "SEARCH_PREVIEW_RESULTS")
	}
	f.Add([]byte(`{"value": "x"}`), uint8(0), "bad-key")
	f.Add([]byte(`{"value": "x"}`), uint8(0), "_PENDING_MIGRATIONS")
	f.Add([]byte(`{"value": "x"}`), uint8(0), "ÉTÉ")
	f.Add([]byte(`{"value": "x"}`), uint8(0), "a/b")
	srv := newFuzzServer(f)
	body, err := json.Marshal(map[string]any{"replace": false, "settings": itCatalog(f)})
	if err != nil {
		f.Fatal(err)
	}
	if w := srv.serve(http.MethodPut, "/api/admin/catalog", adminAuth, "application/json", body); w.Code != http.StatusOK {
		f.Fatalf("installing the catalogue: %d %s", w.Code, w.Body.Bytes())
	}
	defs := map[string]fsm.SettingDef{}
	for _, d := range itCatalog(f) {
		defs[string(d.Scope)+"/"+d.Key] = d
	}
	owner := "Token " + srv.token
	targets := []struct {
		scope fsm.Scope
		key   string
		auth  string
	}{
		{fsm.ScopeUser, "LABEL_INLINE", owner},
		{fsm.ScopeUser, "SEARCH_PREVIEW_RESULTS", owner},
		{fsm.ScopeUser, "DATE_DISPLAY_FORMAT", owner},
		{fsm.ScopeGlobal, "CURRENCY_CODES", adminAuth},
		{fsm.ScopeGlobal, "INVENTREE_BASE_URL", adminAuth},
		{fsm.ScopeGlobal, "INVENTREE_INSTANCE", adminAuth},
		{fsm.ScopeGlobal, "INVENTREE_DOWNLOAD_IMAGE_MAX_SIZE", adminAuth},
		{fsm.ScopeGlobal, "INVENTREE_COMPANY_NAME", owner},
	}
	f.Fuzz(func(t *testing.T, body []byte, which uint8, key string) {
		tg := targets[int(which)%len(targets)]
		ctype := itContentTypes[int(which/8)%len(itContentTypes)]
		path := "/api/settings/" + string(tg.scope) + "/" + tg.key + "/"
		for _, m := range []string{http.MethodPatch, http.MethodPut} {
			w := srv.serve(m, path, tg.auth, ctype, body)
			checkAnswer(t, m+" "+path, w)
			if w.Code != http.StatusOK {
				continue
			}
			var got struct {
				Key   string `json:"key"`
				Value string `json:"value"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Key != tg.key {
				t.Fatalf("%s %s: 200 with %s", m, path, w.Body.Bytes())
			}
			d := defs[string(tg.scope)+"/"+tg.key]
			if why := fsm.ValidateSetting(&d, got.Value); why != "" {
				t.Fatalf("%s %s: 200 with value %q, which the catalogue refuses (%s)", m, path, got.Value, why)
			}
		}
		// Arbitrary keys reach the lookup or the API catch-all, never more.
		target := "/api/settings/user/" + url.PathEscape(key) + "/"
		if w := srv.serve(http.MethodPatch, target, owner, ctype, body); w != nil {
			checkAnswer(t, "PATCH "+target, w)
		}
		for _, list := range []string{"/api/settings/user/", "/api/settings/global/?search=" + url.QueryEscape(key) + "&limit=2"} {
			w := srv.serve(http.MethodGet, list, owner, "", nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", list, w.Code, w.Body.Bytes())
			}
			var v any
			if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
				t.Fatalf("GET %s: %v: %s", list, err, w.Body.Bytes())
			}
		}
	})
}
