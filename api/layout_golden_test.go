package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// The layout dialect's answers (document 003; reference B.2), recorded in
// testdata/layout/*.golden. GET's body, the 404 and DELETE follow the
// reference README's choices: {"preferences": "..."}, DRF's
// {"detail": "Not found."}, and DELETE as an extension.

const layoutKey = "/api/users/preferences/table-layout/"

func post(as role, path, body string, status int) step {
	return step{as: as, method: http.MethodPost, path: path, ctype: ctJSON, body: body, status: status}
}

func layoutCases() []goldenCase {
	long := strings.Repeat("v", 110001)
	key255 := strings.Repeat("k", 255)
	return []goldenCase{
		{name: "01-create", ref: "B.2 POST creates: 201, empty body; GET", steps: []step{
			post(owner, layoutKey, `{"preferences": "{\"tables\": [1,2]}"}`, 201),
			get(owner, layoutKey, 200),
		}},
		{name: "02-override", ref: "B.2 POST overrides: 201 again", steps: []step{
			post(owner, layoutKey, `{"preferences": "first"}`, 201),
			post(owner, layoutKey, `{"preferences": "second"}`, 201),
			get(owner, layoutKey, 200),
		}},
		{name: "03-not-found", ref: "reference README 4: 404 {\"detail\": \"Not found.\"}", steps: []step{
			get(owner, "/api/users/preferences/never-set/", 404),
		}},
		{name: "04-value-too-long", ref: "B.2 preferences max length 110000", steps: []step{
			with(post(owner, layoutKey, `{"preferences": "`+long+`"}`, 400), "110001 characters"),
			get(owner, layoutKey, 404),
			with(post(owner, layoutKey, `{"preferences": "`+long[1:]+`"}`, 201), "110000 characters"),
			with(post(owner, layoutKey, `{"preferences": "`+strings.Repeat("é", 110001)+`"}`, 400), "characters, not bytes"),
		}},
		{name: "05-value-null", ref: "B.2 preferences may not be null", steps: []step{
			post(owner, layoutKey, `{"preferences": null}`, 400),
		}},
		{name: "06-value-missing", ref: "B.2 preferences is required", steps: []step{
			post(owner, layoutKey, `{}`, 400),
			post(owner, layoutKey, `{"preference": "typo"}`, 400),
			with(step{as: owner, method: http.MethodPost, path: layoutKey, ctype: ctJSON, status: 400}, "empty body"),
			with(step{as: owner, method: http.MethodPost, path: layoutKey, status: 400}, "empty body, no Content-Type"),
		}},
		{name: "07-key-too-long", ref: "B.2 key max length 255", steps: []step{
			with(post(owner, "/api/users/preferences/"+key255+"k/", `{"preferences": "x"}`, 400), "256 characters"),
			with(post(owner, "/api/users/preferences/"+key255+"/", `{"preferences": "x"}`, 201), "255 characters"),
			with(post(owner, "/api/users/preferences/"+key255+"_/", `{"preferences": null}`, 400), "every error at once"),
		}},
		{name: "08-key-characters", ref: "B.2 key regexp a-zA-Z0-9\\-\\\\", steps: []step{
			post(owner, "/api/users/preferences/a_b/", `{"preferences": "x"}`, 400),
			post(owner, "/api/users/preferences/a.b/", `{"preferences": "x"}`, 400),
			post(owner, "/api/users/preferences/a%20b/", `{"preferences": "x"}`, 400),
			post(owner, "/api/users/preferences/%C3%A9/", `{"preferences": "x"}`, 400),
			with(post(owner, "/api/users/preferences/a%5Cb/", `{"preferences": "backslash"}`, 201), "a backslash is allowed"),
			get(owner, "/api/users/preferences/a%5Cb/", 200),
			post(owner, "/api/users/preferences/Table-9/", `{"preferences": "x"}`, 201),
		}},
		{name: "09-per-user-limit", ref: "B.2 Limit of N User Preferences (N: the per-user limit in force)", steps: []step{
			quota(`{"max_preferences": 2}`),
			post(owner, "/api/users/preferences/k1/", `{"preferences": "1"}`, 201),
			post(owner, "/api/users/preferences/k2/", `{"preferences": "2"}`, 201),
			post(owner, "/api/users/preferences/k3/", `{"preferences": "3"}`, 400),
			with(post(owner, "/api/users/preferences/k1/", `{"preferences": "one"}`, 201), "overriding does not count"),
			get(owner, "/api/users/preferences/k3/", 404),
			with(post(other, "/api/users/preferences/k3/", `{"preferences": "3"}`, 201), "the limit is per user"),
		}},
		{name: "10-authentication", ref: "B.3 401 with WWW-Authenticate: JWT realm=\"api\"", steps: []step{
			get(anonymous, layoutKey, 401),
			post(anonymous, layoutKey, `{"preferences": "x"}`, 401),
			del(anonymous, layoutKey, 401),
			with(step{auth: "JWT", method: http.MethodGet, path: layoutKey, status: 401}, "JWT without credentials"),
			with(step{auth: "JWT a b", method: http.MethodGet, path: layoutKey, status: 401}, "JWT with spaces"),
			with(step{auth: "JWT eyJhbGciOiJIUzI1NiJ9.e30.x", method: http.MethodGet, path: layoutKey, status: 401}, "unknown JWT"),
			with(step{auth: "Bearer nope", method: http.MethodGet, path: layoutKey, status: 401}, "unknown Bearer token"),
			with(step{as: anonymous, method: http.MethodPut, path: layoutKey, status: 401}, "authentication comes before 405"),
		}},
		{name: "11-method-not-allowed", ref: "DRF 405 with Allow", steps: []step{
			{as: owner, method: http.MethodPut, path: layoutKey, ctype: ctJSON, body: `{"preferences": "x"}`, status: 405},
			{as: owner, method: http.MethodPatch, path: layoutKey, ctype: ctJSON, body: `{"preferences": "x"}`, status: 405},
			{as: owner, method: http.MethodPut, path: strings.TrimSuffix(layoutKey, "/"), ctype: ctJSON, body: `{}`, status: 405},
		}},
		{name: "12-media-types", ref: "DRF default parsers: JSON, form; else 415", steps: []step{
			{as: owner, method: http.MethodPost, path: layoutKey, ctype: "text/plain", body: `{"preferences": "x"}`, status: 415},
			{as: owner, method: http.MethodPost, path: layoutKey, ctype: "application/xml", body: `<preferences>x</preferences>`, status: 415},
			{as: owner, method: http.MethodPost, path: layoutKey, ctype: "application/x-www-form-urlencoded", body: `preferences=from+a+form`, status: 201},
			get(owner, layoutKey, 200),
			{as: owner, method: http.MethodPost, path: layoutKey, ctype: ctJSON + "; charset=utf-8", body: `{"preferences": "charset"}`, status: 201},
			get(owner, layoutKey, 200),
		}},
		{name: "13-delete", ref: "extension: DELETE 204, then 404", steps: []step{
			setup(post(owner, layoutKey, `{"preferences": "x"}`, 0)),
			del(owner, layoutKey, 204),
			get(owner, layoutKey, 404),
			del(owner, layoutKey, 404),
			with(del(owner, strings.TrimSuffix(layoutKey, "/"), 404), "no slash"),
		}},
		{name: "14-shared-with-edx", ref: "one map per user: write via layout, read via edX, and back", steps: []step{
			post(owner, "/api/users/preferences/pref-lang/", `{"preferences": "en"}`, 201),
			{as: owner, scheme: "Bearer", method: http.MethodGet, path: "/api/user/v1/preferences/{owner}/pref-lang", status: 200},
			{as: owner, scheme: "Bearer", method: http.MethodPatch, path: "/api/user/v1/preferences/{owner}", ctype: ctMergePatch,
				body: `{"pref-lang": "fr", "columns": {"a": 1}, "time_zone": "UTC"}`, status: 204},
			get(owner, "/api/users/preferences/pref-lang/", 200),
			get(owner, "/api/users/preferences/columns/", 200),
			with(get(owner, "/api/users/preferences/time_zone/", 200), "GET does not check the key's characters"),
			del(owner, "/api/users/preferences/columns/", 204),
			{as: owner, scheme: "Bearer", method: http.MethodGet, path: "/api/user/v1/preferences/{owner}", status: 200},
		}},
		{name: "15-no-trailing-slash", ref: "both URL forms served", steps: []step{
			post(owner, strings.TrimSuffix(layoutKey, "/"), `{"preferences": "no slash"}`, 201),
			get(owner, layoutKey, 200),
			get(owner, strings.TrimSuffix(layoutKey, "/"), 200),
		}},
		{name: "16-value-types", ref: "DRF CharField: numbers become strings, trimmed; others refused", steps: []step{
			post(owner, layoutKey, `{"preferences": 10}`, 201),
			get(owner, layoutKey, 200),
			post(owner, layoutKey, `{"preferences": 1.5e16}`, 201),
			get(owner, layoutKey, 200),
			post(owner, layoutKey, `{"preferences": true}`, 400),
			post(owner, layoutKey, `{"preferences": {"tables": [1, 2]}}`, 400),
			post(owner, layoutKey, `{"preferences": [1]}`, 400),
			post(owner, layoutKey, `{"preferences": "  padded  "}`, 201),
			get(owner, layoutKey, 200),
			post(owner, layoutKey, `{"preferences": "\u001fy\u3000"}`, 201),
			with(get(owner, layoutKey, 200), "trimmed as Python's str.strip() does"),
			post(owner, layoutKey, `{"preferences": "   "}`, 400),
			post(owner, layoutKey, `{"preferences": "\u001c"}`, 400),
			post(owner, layoutKey, `{"preferences": "a\u0000b"}`, 400),
			with(post(owner, layoutKey, `{"preferences": "x", "extra": 1}`, 201), "unknown fields are ignored"),
		}},
		{name: "17-malformed-bodies", ref: "DRF ParseError and serializer non_field_errors", steps: []step{
			post(owner, layoutKey, `{"preferences": `, 400),
			post(owner, layoutKey, `["preferences"]`, 400),
			post(owner, layoutKey, `"preferences"`, 400),
			post(owner, layoutKey, `null`, 400),
			post(owner, layoutKey, `{"preferences": "x"} {}`, 400),
			get(owner, layoutKey, 404),
		}},
		{name: "18-options-and-head", ref: "DRF OPTIONS metadata; HEAD", steps: []step{
			setup(post(owner, layoutKey, `{"preferences": "x"}`, 0)),
			{as: owner, method: http.MethodOptions, path: layoutKey, status: 200},
			{as: owner, method: http.MethodHead, path: layoutKey, status: 200},
			{as: owner, method: http.MethodHead, path: "/api/users/preferences/never-set/", status: 404},
		}},
		{name: "19-own-preferences-only", ref: "B.2: the URL has no user; every caller acts on its own", steps: []step{
			setup(post(owner, layoutKey, `{"preferences": "owner's"}`, 0)),
			with(get(other, layoutKey, 404), "another user"),
			with(get(staff, layoutKey, 404), "staff"),
			with(get(superuser, layoutKey, 404), "superuser"),
			with(del(other, layoutKey, 404), "another user cannot delete it"),
			post(other, layoutKey, `{"preferences": "other's"}`, 201),
			get(owner, layoutKey, 200),
			get(other, layoutKey, 200),
		}},
	}
}

func TestLayoutGolden(t *testing.T) {
	f := newFixture(t)
	cases := layoutCases()
	for i := range cases {
		cases[i].scheme = "JWT"
	}
	runGolden(t, f, "layout", cases)
}
