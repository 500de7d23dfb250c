package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The Open edX dialect's answers, byte by byte, recorded in
// testdata/edx/*.golden. The cases follow edx-platform's own
// test_views.py, case by case, amended where the published API document
// differs: a non-staff caller touching another user's
// preferences gets 404, staff reading anyone's get 200 and staff writing
// another's get 403, all with an empty body.

const (
	edxList   = "/api/user/v1/preferences/{owner}"
	edxDetail = "/api/user/v1/preferences/{owner}/test_key"

	ctMergePatch = "application/merge-patch+json"
	ctJSON       = "application/json"
)

func get(as role, path string, status int) step {
	return step{as: as, method: http.MethodGet, path: path, status: status}
}

func patch(as role, path, body string, status int) step {
	return step{as: as, method: http.MethodPatch, path: path, ctype: ctMergePatch, body: body, status: status}
}

func put(as role, path, body string, status int) step {
	return step{as: as, method: http.MethodPut, path: path, ctype: ctJSON, body: body, status: status}
}

func del(as role, path string, status int) step {
	return step{as: as, method: http.MethodDelete, path: path, status: status}
}

func with(s step, note string) step {
	s.note = note
	return s
}

// setup returns s as a setup step done by the owner.
func setup(s step) step {
	s.setup = true
	if s.as == "" {
		s.as = owner
	}
	return s
}

// quota sets a per-user quota for the case's owner.
func quota(body string) step {
	return step{setup: true, as: superuser, scheme: "Token", method: http.MethodPut,
		path: "/api/admin/users/{owner}/quota", ctype: ctJSON, body: body}
}

var longKey = strings.Repeat("x", 256)

func edxCases() []goldenCase {
	presetDetail := setup(put(owner, edxDetail, `"test_value"`, 0))
	fourPrefs := setup(patch(owner, edxList,
		`{"dict_pref": {"int_key": 10}, "string_pref": "value", "extra_pref": "extra_value", "time_zone": "Asia/Macau"}`, 0))
	createBody := `{"dict_pref": {"int_key": 10}, "string_pref": "value"}`
	return []goldenCase{
		// TestPreferencesAPI
		{name: "list-01-anonymous-access", ref: "A.7 TestPreferencesAPI 1 test_anonymous_access", steps: []step{
			get(anonymous, edxList, 401),
			patch(anonymous, edxList, `{}`, 401),
		}},
		{name: "list-02-unsupported-methods", ref: "A.7 TestPreferencesAPI 2 test_unsupported_methods", steps: []step{
			put(owner, edxList, `{}`, 405),
			{as: owner, method: http.MethodPost, path: edxList, ctype: ctJSON, body: `{}`, status: 405},
			del(owner, edxList, 405),
		}},
		{name: "list-03-get-different-user", ref: "A.7 TestPreferencesAPI 3; document 002: 404, not 403", steps: []step{
			get(other, edxList, 404),
		}},
		{name: "list-04-get-unknown-user", ref: "A.7 TestPreferencesAPI 4; document 002: 404 for both", steps: []step{
			with(get(staff, "/api/user/v1/preferences/does_not_exist", 404), "staff"),
			with(get(other, "/api/user/v1/preferences/does_not_exist", 404), "plain user"),
		}},
		{name: "list-05-get-preferences-default", ref: "A.7 TestPreferencesAPI 5 test_get_preferences_default", steps: []step{
			get(owner, edxList, 200),
		}},
		{name: "list-06-get-preferences", ref: "A.7 TestPreferencesAPI 6 test_get_preferences (owner and staff)", steps: []step{
			setup(patch(owner, edxList, `{"dict_pref": {"int_key": 10}, "string_pref": "value", "time_zone": "Asia/Tokyo"}`, 0)),
			with(get(owner, edxList, 200), "owner"),
			with(get(staff, edxList, 200), "staff"),
		}},
		{name: "list-07-patch-unknown-user", ref: "A.7 TestPreferencesAPI 7; document 002: non-staff 404, staff 403", steps: []step{
			with(patch(other, "/api/user/v1/preferences/does_not_exist", `{"string_pref": "value"}`, 404), "plain user"),
			with(patch(staff, "/api/user/v1/preferences/does_not_exist", `{"string_pref": "value"}`, 403), "staff"),
		}},
		{name: "list-08-patch-bad-content-type", ref: "A.7 TestPreferencesAPI 8 test_patch_bad_content_type", steps: []step{
			{as: owner, method: http.MethodPatch, path: edxList, ctype: ctJSON, body: `{}`, status: 415},
			{as: owner, method: http.MethodPatch, path: edxList, ctype: "application/xml", body: `{}`, status: 415},
			with(step{as: owner, method: http.MethodPatch, path: edxList, body: `{"a": "b"}`, status: 415}, "no Content-Type"),
			with(step{as: other, method: http.MethodPatch, path: edxList, ctype: ctJSON, body: `{}`, status: 415},
				"parsing comes before the owner check: a non-owner gets 415"),
		}},
		{name: "list-09-create-preferences", ref: "A.7 TestPreferencesAPI 9 test_create_preferences", steps: []step{
			patch(owner, edxList, createBody, 204),
			get(owner, edxList, 200),
		}},
		{name: "list-10-create-preferences-other-user", ref: "A.7 TestPreferencesAPI 10; document 002: non-staff 404, staff 403", steps: []step{
			with(patch(other, edxList, createBody, 404), "different user"),
			with(patch(staff, edxList, createBody, 403), "staff"),
			with(get(owner, edxList, 200), "nothing was written"),
		}},
		{name: "list-11-update-preferences", ref: "A.7 TestPreferencesAPI 11 test_update_preferences", steps: []step{
			fourPrefs,
			patch(owner, edxList, `{"string_pref": "updated_value", "new_pref": "new_value", "extra_pref": null, "time_zone": "Europe/London"}`, 204),
			get(owner, edxList, 200),
		}},
		{name: "list-12-update-preferences-bad-data", ref: "A.7 TestPreferencesAPI 12 test_update_preferences_bad_data", steps: []step{
			fourPrefs,
			patch(owner, edxList, `{"string_pref": "updated_value", "`+longKey+`": "new_value", "new_pref": "new_value", "empty_pref_ȻħȺɍłɇs": "", "time_zone": "Asia/Africa"}`, 400),
			with(get(owner, edxList, 200), "all or nothing: the four preferences are unchanged"),
		}},
		{name: "list-13-update-preferences-bad-request", ref: "A.7 TestPreferencesAPI 13 test_update_preferences_bad_request", steps: []step{
			patch(owner, edxList, `"non_dict_request"`, 400),
			patch(owner, edxList, `{}`, 400),
		}},
		{name: "list-14-update-preferences-other-user", ref: "A.7 TestPreferencesAPI 14; document 002: non-staff 404, staff 403", steps: []step{
			fourPrefs,
			with(patch(other, edxList, `{"string_pref": "updated_value", "extra_pref": null}`, 404), "different user"),
			with(patch(staff, edxList, `{"string_pref": "updated_value", "extra_pref": null}`, 403), "staff"),
			with(get(owner, edxList, 200), "unchanged"),
		}},

		// TestPreferencesAPITransactions: the original mocks a failing
		// delete; here the state machine refuses the whole patch because it
		// would take the user over a lowered per-user quota.
		{name: "list-15-transactions-apply-refused", ref: "A.7 TestPreferencesAPITransactions (Apply refuses: max_preferences)", steps: []step{
			setup(patch(owner, edxList, `{"a": "1", "b": "2", "c": "3"}`, 0)),
			quota(`{"max_preferences": 3}`),
			with(patch(owner, edxList, `{"a": "2", "b": null, "c": "1", "d": "4", "e": "5"}`, 400),
				"three preferences, one deleted and two added, would make four"),
			with(get(owner, edxList, 200), "rolled back: a=1, b=2, c=3"),
			with(patch(owner, edxList, `{"a": "2", "b": null, "c": "1", "d": "4"}`, 204), "three after the patch: allowed"),
			get(owner, edxList, 200),
		}},
		{name: "list-16-transactions-value-length", ref: "A.7 TestPreferencesAPITransactions (per-user max_value_length)", steps: []step{
			setup(patch(owner, edxList, `{"a": "1", "b": "2", "c": "3"}`, 0)),
			quota(`{"max_value_length": 3}`),
			patch(owner, edxList, `{"a": "2", "b": null, "c": "four"}`, 400),
			with(get(owner, edxList, 200), "unchanged"),
			with(patch(owner, edxList, `{"a\u0000b": "x", "nul_and_long": "a\u0000bc"}`, 400),
				"null characters in keys and values; DRF's order: the length, then the null character"),
		}},

		// Beyond the checklist.
		{name: "list-20-value-coercion", ref: "A.4 str() coercion", steps: []step{
			patch(owner, edxList, `{"int": 10, "dict": {"int_key": 10}, "true": true, "false": false, "float": 1.5, "list": [1, 2], `+
				`"nested": {"s": "it's", "d": "say \"hi\"", "both": "it's \"x\"", "n": null, "l": [true, null, 1e16, "a\nb"]}, `+
				`"big": 1e16, "small": 1e-5, "hundred": 100.0, "neg_zero": -0.0, "int_neg_zero": -0, "huge_int": 123456789012345678901234567890, `+
				`"exp": 1E5, "rounded": 123456789012345680.0, "empty_list": [], "empty_dict": {}, "unicode": "ⓟé", "dict_unicode": {"k": "\u200bé\u00a0"}}`, 204),
			get(owner, edxList, 200),
			with(get(owner, "/api/user/v1/preferences/{owner}/dict", 200), "one value"),
			with(patch(owner, edxList, `{"zero_width": "ⓟ\u200b"}`, 204), "a string is stored as it is, invisible characters too"),
			get(owner, "/api/user/v1/preferences/{owner}/zero_width", 200),
		}},
		{name: "list-21-trailing-slash", ref: "reference README 2: both URL forms, no redirect", steps: []step{
			patch(owner, edxList+"/", `{"slash": "yes"}`, 204),
			get(owner, edxList+"/", 200),
			get(owner, edxList, 200),
			with(get(other, edxList+"/", 404), "different user"),
			with(get(anonymous, edxList+"/", 401), "anonymous"),
			with(put(owner, edxList+"/", `{}`, 405), "405 on the slash form too"),
		}},
		{name: "list-22-unicode-keys", ref: "A.6 unanchored key search; test_api unicode keys", steps: []step{
			patch(owner, edxList, `{"ⓟⓡⓔⓕⓔⓡⓔⓝⓒⓔ_ⓚⓔⓨ": "ȻħȺɍłɇs", "clé": "välue"}`, 204),
			get(owner, edxList, 200),
			with(patch(owner, edxList, `{"ⓟⓡⓔⓕ": "x"}`, 400), "no character of [-_a-zA-Z0-9]"),
			with(patch(owner, edxList, `{"...": "x"}`, 400), "dots only"),
			with(patch(owner, edxList, `{"": "x"}`, 400), "empty key"),
			with(patch(owner, edxList, `{"`+strings.Repeat(".", 256)+`": "x"}`, 400), "DRF's validator order: the regex, then the length"),
		}},
		{name: "list-23-content-type-parameters", ref: "A.4 content-type parameters accepted", steps: []step{
			{as: owner, method: http.MethodPatch, path: edxList, ctype: ctMergePatch + "; charset=utf-8", body: `{"k": "v"}`, status: 204},
			get(owner, edxList, 200),
		}},
		{name: "list-24-no-data", ref: "A.4 No data provided (inference: arrays, numbers, null, empty body)", steps: []step{
			patch(owner, edxList, `{}`, 400),
			patch(owner, edxList, `"string"`, 400),
			patch(owner, edxList, `[]`, 400),
			patch(owner, edxList, `[{"a": "b"}]`, 400),
			patch(owner, edxList, `null`, 400),
			patch(owner, edxList, `10`, 400),
			patch(owner, edxList, `true`, 400),
			with(step{as: owner, method: http.MethodPatch, path: edxList, ctype: ctMergePatch, status: 400}, "empty body"),
		}},
		{name: "list-25-malformed-json", ref: "A.4 ParseError", steps: []step{
			patch(owner, edxList, `{"a":`, 400),
			patch(owner, edxList, `{"a": "b"} x`, 400),
			patch(owner, edxList, `{'a': 'b'}`, 400),
			patch(owner, edxList, `{"a": NaN}`, 400),
			get(owner, edxList, 200),
		}},
		{name: "list-26-time-zone", ref: "A.6 time_zone in pytz common_timezones", steps: []step{
			patch(owner, edxList, `{"time_zone": "Asia/Africa"}`, 400),
			patch(owner, edxList, `{"time_zone": "US/Pacific"}`, 204),
			with(patch(owner, edxList, `{"time_zone": "  Europe/London "}`, 400), "checked before trimming, as Open edX does"),
			patch(owner, edxList, `{"time_zone": "Europe/London"}`, 204),
			patch(owner, edxList, `{"time_zone": "europe/london"}`, 400),
			get(owner, edxList, 200),
			with(put(owner, "/api/user/v1/preferences/{owner}/time_zone", `"Mars/Olympus"`, 400), "PUT: the flat pair"),
			put(owner, "/api/user/v1/preferences/{owner}/time_zone", `"UTC"`, 204),
			get(owner, "/api/user/v1/preferences/{owner}/time_zone", 200),
		}},
		{name: "list-27-whitespace", ref: "A.6 CharField trims; empty and whitespace-only refused", steps: []step{
			patch(owner, edxList, `{"ws": "  x  ", "inner": " a b "}`, 204),
			get(owner, edxList, 200),
			patch(owner, edxList, `{"blank": "   "}`, 400),
			patch(owner, edxList, `{"blank": "\t\n"}`, 400),
			patch(owner, edxList, `{"nul": "a\u0000b"}`, 400),
			with(patch(owner, edxList, `{"seps": "\u001c\u001fy\u00a0\u3000", "zwsp": "\u200bz"}`, 204),
				"str.strip() trims U+001C..U+001F, NBSP and ideographic spaces; not U+200B"),
			get(owner, edxList+"/seps", 200),
			with(patch(owner, edxList, `{"only_seps": "\u001c\u001d\u001e\u001f"}`, 400), "white space to Python"),
		}},
		{name: "list-28-null-deletes", ref: "A.4 null deletes; deleting a missing key is fine", steps: []step{
			setup(patch(owner, edxList, `{"keep": "1", "drop": "2"}`, 0)),
			patch(owner, edxList, `{"drop": null, "never_set": null}`, 204),
			get(owner, edxList, 200),
			with(patch(owner, edxList, `{"keep": "1"}`, 204), "same value again: still 204"),
		}},
		{name: "list-29-duplicate-keys", ref: "Python's json: the last duplicate wins", steps: []step{
			patch(owner, edxList, `{"k": "first", "k": "second", "d": {"x": 1, "y": 2, "x": 3}}`, 204),
			get(owner, edxList, 200),
		}},
		{name: "list-30-authentication-failures", ref: "A.1 401 bodies: Bearer error_code, JWT and Token details, anonymous", steps: []step{
			with(get(anonymous, edxList, 401), "list view: WWW-Authenticate JWT"),
			with(get(anonymous, edxDetail, 401), "detail view: WWW-Authenticate Bearer"),
			with(step{auth: "Bearer", method: http.MethodGet, path: edxList, status: 401}, "token_not_provided"),
			with(step{auth: "Bearer a b", method: http.MethodGet, path: edxList, status: 401}, "token_malformed"),
			with(step{auth: "Bearer does-not-exist", method: http.MethodGet, path: edxList, status: 401}, "token_nonexistent"),
			with(step{auth: "bearer does-not-exist", method: http.MethodGet, path: edxDetail, status: 401}, "scheme case-insensitive; detail view"),
			with(step{auth: "Bearer", method: http.MethodPatch, path: edxList, ctype: ctMergePatch, body: `{"a": "b"}`, status: 401}, "PATCH"),
			with(step{auth: "JWT", method: http.MethodGet, path: edxList, status: 401}, "JWT without credentials"),
			with(step{auth: "JWT a b", method: http.MethodGet, path: edxList, status: 401}, "JWT with spaces"),
			with(step{auth: "JWT not.a.jwt", method: http.MethodGet, path: edxList, status: 401}, "unknown JWT"),
			with(step{auth: "Token does-not-exist", method: http.MethodGet, path: edxList, status: 401}, "unknown Token"),
			with(step{auth: "Digest dXNlcjpwYXNz", method: http.MethodGet, path: edxList, status: 401}, "an unknown scheme is anonymous"),
			with(step{as: owner, scheme: "JWT", method: http.MethodGet, path: edxList, status: 200}, "a token under the JWT scheme"),
			with(step{as: owner, scheme: "Token", method: http.MethodGet, path: edxList, status: 200}, "a token under the Token scheme"),
			with(step{as: anonymous, method: http.MethodPost, path: edxList, status: 401}, "authentication comes before 405"),
		}},
		{name: "list-31-options", ref: "DRF OPTIONS metadata", steps: []step{
			{as: owner, method: http.MethodOptions, path: edxList, status: 200},
			{as: owner, method: http.MethodOptions, path: edxDetail, status: 200},
		}},
		{name: "list-32-json-escaping", ref: "rendering of <, >, & and U+2028", steps: []step{
			patch(owner, edxList, `{"html": "<b>&amp;</b>", "ls": "a\u2028b", "q": "\"quoted\" \\ back"}`, 204),
			get(owner, edxList, 200),
			get(owner, "/api/user/v1/preferences/{owner}/html", 200),
		}},
		{name: "list-33-username-case", ref: "sameUser compares usernames case-insensitively (original: exact)", steps: []step{
			setup(patch(owner, edxList, `{"k": "v"}`, 0)),
			with(get(owner, "/api/user/v1/preferences/LIST-33-USERNAME-CASE_OWNER", 200), "the owner, in capitals"),
			with(patch(owner, "/api/user/v1/preferences/List-33-Username-Case_Owner", `{"k": "w"}`, 204), "written as the owner"),
			get(owner, edxList, 200),
			with(get(staff, "/api/user/v1/preferences/LIST-33-USERNAME-CASE_OWNER", 200), "staff, in capitals"),
		}},
		{name: "list-34-head", ref: "HEAD is GET without a body", steps: []step{
			setup(patch(owner, edxList, `{"k": "v"}`, 0)),
			{as: owner, method: http.MethodHead, path: edxList, status: 200},
			{as: other, method: http.MethodHead, path: edxList, status: 404},
			{as: owner, method: http.MethodHead, path: edxDetail, status: 404},
		}},

		// TestPreferencesDetailAPI
		{name: "detail-01-anonymous-user-access", ref: "A.7 TestPreferencesDetailAPI 1", steps: []step{
			presetDetail,
			get(anonymous, edxDetail, 401),
			put(anonymous, edxDetail, `"new_value"`, 401),
			del(anonymous, edxDetail, 401),
		}},
		{name: "detail-02-unsupported-methods", ref: "A.7 TestPreferencesDetailAPI 2", steps: []step{
			presetDetail,
			{as: owner, method: http.MethodPost, path: edxDetail, ctype: ctJSON, body: `"x"`, status: 405},
			{as: owner, method: http.MethodPatch, path: edxDetail, ctype: ctMergePatch, body: `{}`, status: 405},
		}},
		{name: "detail-03-different-user-access", ref: "A.7 TestPreferencesDetailAPI 3; document 002: 404", steps: []step{
			presetDetail,
			get(other, edxDetail, 404),
			put(other, edxDetail, `"new_value"`, 404),
			del(other, edxDetail, 404),
			with(get(owner, edxDetail, 200), "unchanged"),
		}},
		{name: "detail-04-get-unknown-user", ref: "A.7 TestPreferencesDetailAPI 4; document 002: 404 for both", steps: []step{
			with(get(staff, "/api/user/v1/preferences/does_not_exist/test_key", 404), "staff"),
			with(get(other, "/api/user/v1/preferences/does_not_exist/test_key", 404), "plain user"),
		}},
		{name: "detail-05-get-preference-does-not-exist", ref: "A.7 TestPreferencesDetailAPI 5", steps: []step{
			presetDetail,
			get(owner, "/api/user/v1/preferences/{owner}/does_not_exist", 404),
			with(get(staff, "/api/user/v1/preferences/{owner}/does_not_exist", 404), "staff"),
		}},
		{name: "detail-06-get-preference", ref: "A.7 TestPreferencesDetailAPI 6 (owner and staff)", steps: []step{
			presetDetail,
			with(get(owner, edxDetail, 200), "owner"),
			with(get(staff, edxDetail, 200), "staff"),
			setup(put(owner, "/api/user/v1/preferences/{owner}/dict_pref", `{"int_key": 10}`, 0)),
			get(owner, "/api/user/v1/preferences/{owner}/dict_pref", 200),
			get(staff, "/api/user/v1/preferences/{owner}/dict_pref", 200),
		}},
		{name: "detail-07-create-preference", ref: "A.7 TestPreferencesDetailAPI 7", steps: []step{
			put(owner, "/api/user/v1/preferences/{owner}/new_key", `"new value"`, 204),
			get(owner, "/api/user/v1/preferences/{owner}/new_key", 200),
		}},
		{name: "detail-08-create-empty-preference", ref: "A.7 TestPreferencesDetailAPI 8", steps: []step{
			put(owner, "/api/user/v1/preferences/{owner}/new_key", `null`, 400),
			put(owner, "/api/user/v1/preferences/{owner}/new_key", `""`, 400),
			put(owner, "/api/user/v1/preferences/{owner}/new_key", `"  "`, 400),
			get(owner, "/api/user/v1/preferences/{owner}/new_key", 404),
		}},
		{name: "detail-09-create-preference-too-long-key", ref: "A.7 TestPreferencesDetailAPI 9", steps: []step{
			put(owner, "/api/user/v1/preferences/{owner}/"+longKey, `"new value"`, 400),
			get(owner, "/api/user/v1/preferences/{owner}/"+longKey, 404),
			with(put(owner, "/api/user/v1/preferences/{owner}/"+longKey[1:], `"v"`, 204), "255 characters are fine"),
		}},
		{name: "detail-10-create-preference-other-user", ref: "A.7 TestPreferencesDetailAPI 10; document 002: non-staff 404, staff 403", steps: []step{
			with(put(other, "/api/user/v1/preferences/{owner}/new_key", `"new value"`, 404), "different user"),
			with(put(staff, "/api/user/v1/preferences/{owner}/new_key", `"new value"`, 403), "staff"),
			get(owner, "/api/user/v1/preferences/{owner}/new_key", 404),
		}},
		{name: "detail-11-update-preference", ref: "A.7 TestPreferencesDetailAPI 11", steps: []step{
			presetDetail,
			put(owner, edxDetail, `"new value"`, 204),
			get(owner, edxDetail, 200),
			put(owner, edxDetail, `10`, 204),
			get(owner, edxDetail, 200),
			put(owner, edxDetail, `{"int_key": 10}`, 204),
			get(owner, edxDetail, 200),
		}},
		{name: "detail-12-update-preference-other-user", ref: "A.7 TestPreferencesDetailAPI 12; document 002: non-staff 404, staff 403", steps: []step{
			presetDetail,
			with(put(other, edxDetail, `"new value"`, 404), "different user"),
			with(put(staff, edxDetail, `"new value"`, 403), "staff"),
			get(owner, edxDetail, 200),
		}},
		{name: "detail-13-update-preference-to-empty", ref: "A.7 TestPreferencesDetailAPI 13", steps: []step{
			presetDetail,
			put(owner, edxDetail, `null`, 400),
			put(owner, edxDetail, `""`, 400),
			put(owner, edxDetail, `"  "`, 400),
			get(owner, edxDetail, 200),
		}},
		{name: "detail-14-delete-preference", ref: "A.7 TestPreferencesDetailAPI 14", steps: []step{
			presetDetail,
			del(owner, edxDetail, 204),
			get(owner, edxDetail, 404),
			del(owner, edxDetail, 404),
		}},
		{name: "detail-15-delete-preference-other-user", ref: "A.7 TestPreferencesDetailAPI 15; document 002: non-staff 404, staff 403", steps: []step{
			presetDetail,
			with(del(other, edxDetail, 404), "different user"),
			with(del(staff, edxDetail, 403), "staff"),
			get(owner, edxDetail, 200),
		}},

		// Beyond the checklist.
		{name: "detail-20-keys-with-dots-and-dashes", ref: "reference README 3: every key PATCH accepts is routed", steps: []step{
			patch(owner, edxList, `{"pref-lang": "en", "visibility.bio": "all_users"}`, 204),
			get(owner, "/api/user/v1/preferences/{owner}/pref-lang", 200),
			get(owner, "/api/user/v1/preferences/{owner}/visibility.bio", 200),
			put(owner, "/api/user/v1/preferences/{owner}/pref-lang", `"fr"`, 204),
			get(owner, "/api/user/v1/preferences/{owner}/pref-lang", 200),
			del(owner, "/api/user/v1/preferences/{owner}/visibility.bio", 204),
			get(owner, edxList, 200),
		}},
		{name: "detail-21-unicode-key", ref: "test_api: unicode keys and values round-trip", steps: []step{
			put(owner, "/api/user/v1/preferences/{owner}/"+url.PathEscape("ⓟⓡⓔⓕⓔⓡⓔⓝⓒⓔ_ⓚⓔⓨ"), `"ȻħȺɍłɇs"`, 204),
			get(owner, "/api/user/v1/preferences/{owner}/"+url.PathEscape("ⓟⓡⓔⓕⓔⓡⓔⓝⓒⓔ_ⓚⓔⓨ"), 200),
			get(owner, edxList, 200),
			with(put(owner, "/api/user/v1/preferences/{owner}/"+url.PathEscape("ⓟⓡⓔⓕ"), `"x"`, 400), "no character of [-_a-zA-Z0-9]"),
			with(put(owner, "/api/user/v1/preferences/{owner}/a%2Fb", `"slash"`, 204), "an escaped slash stays in the key"),
			get(owner, "/api/user/v1/preferences/{owner}/a%2Fb", 200),
		}},
		{name: "detail-22-put-bodies", ref: "A.5 PUT parsers and coercion", steps: []step{
			with(step{as: owner, method: http.MethodPut, path: edxDetail, ctype: "text/plain", body: `raw`, status: 415}, "text/plain"),
			with(put(owner, edxDetail, `raw`, 400), "raw text as JSON"),
			with(put(owner, edxDetail, `"a" "b"`, 400), "two values"),
			with(step{as: owner, method: http.MethodPut, path: edxDetail, ctype: ctJSON + "; charset=utf-8", body: `true`, status: 204}, "charset parameter"),
			get(owner, edxDetail, 200),
			with(step{as: owner, method: http.MethodPut, path: edxDetail, ctype: ctJSON, status: 204}, "empty body: DRF parses {}"),
			get(owner, edxDetail, 200),
			put(owner, edxDetail, `[1.5, "it's", {"a": null}]`, 204),
			get(owner, edxDetail, 200),
			put(owner, edxDetail, `"  padded  "`, 204),
			get(owner, edxDetail, 200),
			with(step{as: owner, method: http.MethodPut, path: edxDetail, ctype: "application/x-www-form-urlencoded", body: `a=b`, status: 415},
				"a form (DRF would store the QueryDict's repr)"),
			with(step{as: owner, method: http.MethodPut, path: edxDetail, body: `"no content type"`, status: 204},
				"no Content-Type: read as JSON (DRF answers 415)"),
			get(owner, edxDetail, 200),
		}},
		{name: "detail-23-unknown-user-writes", ref: "document 002: writes to a missing user: staff 403, non-staff 404", steps: []step{
			with(put(staff, "/api/user/v1/preferences/does_not_exist/k", `"v"`, 403), "staff PUT"),
			with(put(other, "/api/user/v1/preferences/does_not_exist/k", `"v"`, 404), "plain PUT"),
			with(del(staff, "/api/user/v1/preferences/does_not_exist/k", 403), "staff DELETE"),
			with(del(other, "/api/user/v1/preferences/does_not_exist/k", 404), "plain DELETE"),
		}},
		{name: "detail-24-trailing-slash", ref: "A.0: the detail URL has no slash form", steps: []step{
			presetDetail,
			get(owner, edxDetail+"/", 404),
		}},
	}
}

func TestEdxGolden(t *testing.T) {
	f := newFixture(t)
	cases := edxCases()
	for i := range cases {
		cases[i].scheme = "Bearer"
	}
	runGolden(t, f, "edx", cases)
}
