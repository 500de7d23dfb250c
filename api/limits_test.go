package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// Request body limits and the read consistency parameter.

const defaultMaxBody = 1 << 20 // config.Default().MaxBodyBytes

func TestBodyLimit(t *testing.T) {
	f := newFixture(t)
	tok := f.createUser(t, "lim_user", false)
	mustStatus(t, "preset", f.do(t, http.MethodPatch, "/api/user/v1/preferences/lim_user", "Bearer "+tok, ctMergePatch, []byte(`{"keep": "1"}`)), 204)

	// A JSON body one byte over the limit, and one well over it.
	over := func(extra int, prefix, suffix string) []byte {
		n := defaultMaxBody + extra - len(prefix) - len(suffix)
		return []byte(prefix + strings.Repeat("a", n) + suffix)
	}
	const want413 = `{"detail":"Request body too large: the limit is 1048576 bytes."}`
	for _, extra := range []int{1, 4096} {
		for _, c := range []struct {
			name, method, path, auth, ctype string
			body                            []byte
		}{
			{"edx patch", http.MethodPatch, "/api/user/v1/preferences/lim_user", "Bearer " + tok, ctMergePatch, over(extra, `{"big": "`, `"}`)},
			{"edx put", http.MethodPut, "/api/user/v1/preferences/lim_user/big", "Bearer " + tok, ctJSON, over(extra, `"`, `"`)},
			{"layout post", http.MethodPost, "/api/users/preferences/big/", "JWT " + tok, ctJSON, over(extra, `{"preferences": "`, `"}`)},
			{"layout form", http.MethodPost, "/api/users/preferences/big/", "JWT " + tok, "application/x-www-form-urlencoded", over(extra, `preferences=`, ``)},
			{"admin create", http.MethodPost, "/api/admin/users", adminAuth, ctJSON, over(extra, `{"username": "lim_big", "email": "`, `"}`)},
		} {
			if len(c.body) != defaultMaxBody+extra {
				t.Fatalf("%s: body of %d bytes", c.name, len(c.body))
			}
			r := f.do(t, c.method, c.path, c.auth, c.ctype, c.body)
			if r.status != http.StatusRequestEntityTooLarge || string(r.body) != want413 {
				t.Errorf("%s, %d bytes over: %d %s", c.name, extra, r.status, r.body)
			}
		}
	}
	// Nothing changed.
	r := f.do(t, http.MethodGet, "/api/user/v1/preferences/lim_user", "Bearer "+tok, "", nil)
	mustStatus(t, "after", r, 200)
	sameJSON(t, "after", r.body, `{"keep":"1"}`)
	f.admin(t, http.MethodGet, "/api/admin/users/lim_big", nil, 404)

	// A body at the limit is read; its value is then too long for the
	// quota, which is a 400, not a 413.
	atLimit := over(0, `{"big": "`, `"}`)
	r = f.do(t, http.MethodPatch, "/api/user/v1/preferences/lim_user", "Bearer "+tok, ctMergePatch, atLimit)
	mustStatus(t, "at the limit", r, 400)
	if !strings.Contains(string(r.body), "Ensure this field has no more than 110000 characters.") {
		t.Fatalf("at the limit: %s", r.body)
	}
	// Anonymous callers are refused before their body is read.
	r = f.do(t, http.MethodPatch, "/api/user/v1/preferences/lim_user", "", ctMergePatch, over(1, `{"big": "`, `"}`))
	mustStatus(t, "anonymous", r, 401)
}

func TestConsistencyParameter(t *testing.T) {
	f := newFixture(t)
	tok := f.createUser(t, "cons_user", false)
	mustStatus(t, "preset", f.do(t, http.MethodPatch, "/api/user/v1/preferences/cons_user", "Bearer "+tok, ctMergePatch, []byte(`{"k": "v"}`)), 204)
	mustStatus(t, "preset", f.do(t, http.MethodPost, "/api/users/preferences/lk/", "JWT "+tok, ctJSON, []byte(`{"preferences": "v"}`)), 201)

	reads := []struct{ path, auth string }{
		{"/api/user/v1/preferences/cons_user", "Bearer " + tok},
		{"/api/user/v1/preferences/cons_user/k", "Bearer " + tok},
		{"/api/users/preferences/lk/", "JWT " + tok},
		{"/api/admin/users", adminAuth},
	}
	for _, rd := range reads {
		for _, level := range []string{"stale", "leader", "linearizable", ""} {
			path := rd.path
			if level != "" {
				path += "?consistency=" + level
			}
			r := f.do(t, http.MethodGet, path, rd.auth, "", nil)
			mustStatus(t, path, r, 200)
			wantLevel := level
			if wantLevel == "" {
				wantLevel = "linearizable"
			}
			if got := r.header.Get("X-Prefsd-Consistency"); got != wantLevel {
				t.Errorf("%s: X-Prefsd-Consistency %q, want %q", path, got, wantLevel)
			}
			if r.header.Get("X-Prefsd-Index") == "" {
				t.Errorf("%s: no X-Prefsd-Index", path)
			}
			// Only stale reads say how stale they may be; this node leads.
			wantKnown, wantContact := "", ""
			if level == "stale" {
				wantKnown, wantContact = "true", "0"
			}
			if got := r.header.Get("X-Prefsd-Known-Leader"); got != wantKnown {
				t.Errorf("%s: X-Prefsd-Known-Leader %q, want %q", path, got, wantKnown)
			}
			if got := r.header.Get("X-Prefsd-Last-Contact"); got != wantContact {
				t.Errorf("%s: X-Prefsd-Last-Contact %q, want %q", path, got, wantContact)
			}
		}
		r := f.do(t, http.MethodGet, rd.path+"?consistency=bogus", rd.auth, "", nil)
		mustStatus(t, rd.path+" bogus", r, 400)
		sameJSON(t, rd.path+" bogus", r.body, `{"detail":"Invalid consistency \"bogus\": use linearizable, leader or stale."}`)

		// The header works as the parameter does; the parameter wins.
		req, _ := http.NewRequest(http.MethodGet, f.node.URL+rd.path, nil)
		req.Header.Set("Authorization", rd.auth)
		req.Header.Set("X-Consistency", "bogus")
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s with X-Consistency: bogus: %d", rd.path, resp.StatusCode)
		}
		req, _ = http.NewRequest(http.MethodGet, f.node.URL+rd.path+"?consistency=stale", nil)
		req.Header.Set("Authorization", rd.auth)
		req.Header.Set("X-Consistency", "bogus")
		resp, err = f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Prefsd-Consistency") != "stale" {
			t.Errorf("%s?consistency=stale with X-Consistency: bogus: %d %q", rd.path, resp.StatusCode, resp.Header.Get("X-Prefsd-Consistency"))
		}
	}
	// Refusals come before the consistency check: another user's read is a
	// 404 with an empty body whatever the parameter says.
	other := f.createUser(t, "cons_other", false)
	r := f.do(t, http.MethodGet, "/api/user/v1/preferences/cons_user?consistency=bogus", "Bearer "+other, "", nil)
	mustStatus(t, "other", r, 404)
	if len(r.body) != 0 {
		t.Fatalf("other: body %s", r.body)
	}
}
