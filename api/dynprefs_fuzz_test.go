package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/prefsd/prefsd/api"
)

var dpFuzzContentTypes = []string{
	"application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ", "", "text/plain",
	"application/json; charset=utf-8",
}

// FuzzDynPrefsValue sends arbitrary bodies through PATCH and bulk of every
// dynamic-preferences type, raw and wrapped as a value: the answer is never
// a 5xx, always JSON, and the list still renders afterwards.
func FuzzDynPrefsValue(f *testing.F) {
	for i, s := range fuzzJSONSeeds {
		f.Add([]byte(s), uint8(i), uint8(i%len(dpFuzzContentTypes)))
	}
	for i, s := range []string{
		`"1 02:03:04"`, `"P1DT2H"`, `3600`, `"2020-01-02T03:04:05+05:99"`, `"29/02/2020"`, `"Oct 25 2006"`,
		`"09:30:15.5"`, `"1E+400"`, `"1_000"`, `"٤٢"`, `12345678901234567890`, `1e400`, `["clock", "weather"]`,
		`[null, 1, true]`, `"\u0000"`, `"  "`, `"-999999999 -00:00:01"`, `"` + "9999999999999999999999999" + `"`,
		`{"value": "x"}`, `{"user__max_users": 5, "nope": 1}`, "value=42&value=%zz", "--XyZ\r\nContent-Disposition: form-data; name=\"value\"\r\n\r\n4\r\n--XyZ--\r\n",
	} {
		f.Add([]byte(s), uint8(i*7), uint8(i%len(dpFuzzContentTypes)))
	}
	fx := newDynFixture(f)
	tok := fx.createUser(f, "dpfuzz_owner", false)
	h := api.New(api.Options{Cluster: fx.node.Node, MaxBodyBytes: 1 << 20})
	srv := &fuzzServer{h: h}
	var global, user []string
	for _, d := range dpCatalog() {
		if d.Scope == "global" {
			global = append(global, d.Key)
		} else {
			user = append(user, d.Key)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, which, ct uint8) {
		ctype := dpFuzzContentTypes[int(ct)%len(dpFuzzContentTypes)]
		prefix, keys, auth := dpGlobal, global, adminAuth
		if which&1 == 1 {
			prefix, keys, auth = dpUser, user, "Token "+tok
		}
		key := keys[int(which>>1)%len(keys)]
		wrapped := append(append([]byte(`{"value": `), body...), '}')
		bulk := append(append([]byte(`{"`+key+`": `), body...), '}')
		for _, r := range []struct {
			method, path string
			body         []byte
		}{
			{http.MethodPatch, prefix + key + "/", body},
			{http.MethodPatch, prefix + key + "/", wrapped},
			{http.MethodPut, prefix + key + "/", wrapped},
			{http.MethodPost, prefix + "bulk/", body},
			{http.MethodPost, prefix + "bulk/", bulk},
		} {
			w := srv.serve(r.method, r.path, auth, ctype, r.body)
			if w == nil {
				continue
			}
			checkAnswer(t, r.method+" "+r.path, w)
		}
		w := srv.serve(http.MethodGet, prefix+"?consistency=stale", auth, "", nil)
		if w.Code != http.StatusOK {
			t.Fatalf("GET list: %d %s", w.Code, w.Body.Bytes())
		}
		var list []map[string]json.RawMessage
		if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list) != len(keys) {
			t.Fatalf("GET list: %v, %d entries: %s", err, len(list), w.Body.Bytes())
		}
	})
}
