package api_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/api"
)

// The admin API: users, tokens and quotas, for superusers only.

// adminUser is a user as the admin API shows it.
type adminUser struct {
	ID          uint64         `json:"id"`
	Username    string         `json:"username"`
	Email       string         `json:"email"`
	IsStaff     bool           `json:"is_staff"`
	IsSuperuser bool           `json:"is_superuser"`
	DateJoined  string         `json:"date_joined"`
	Quota       map[string]int `json:"quota"`
	Usage       map[string]int `json:"usage"`
}

var defaultQuota = map[string]int{
	"max_preferences": 10000, "max_value_length": 110000, "max_key_length": 255, "max_total_bytes": 16 << 20,
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

// sameJSON fails unless body is exactly want.
func sameJSON(t testing.TB, what string, body []byte, want string) {
	t.Helper()
	if string(body) != want {
		t.Fatalf("%s: body\n  %s\nwant\n  %s", what, body, want)
	}
}

func equalQuota(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestAdmin(t *testing.T) {
	f := newFixture(t)

	t.Run("create", func(t *testing.T) {
		r := f.admin(t, http.MethodPost, "/api/admin/users",
			map[string]any{"username": "ad_create", "email": "c@example.com", "is_staff": true, "password": "s3cret"}, 201)
		// The exact set of fields, and no password or hash.
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &raw); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(sortedKeys(raw), ","); got != "date_joined,email,id,is_staff,is_superuser,permissions,quota,usage,username" {
			t.Fatalf("fields %s", got)
		}
		u := decode[adminUser](t, r.body)
		if u.ID == 0 || u.Username != "ad_create" || u.Email != "c@example.com" || !u.IsStaff || u.IsSuperuser {
			t.Fatalf("user %+v", u)
		}
		if _, err := time.Parse(time.RFC3339Nano, u.DateJoined); err != nil {
			t.Fatalf("date_joined %q: %v", u.DateJoined, err)
		}
		if !equalQuota(u.Quota, defaultQuota) || u.Usage["preferences"] != 0 || u.Usage["bytes"] != 0 {
			t.Fatalf("quota %v usage %v", u.Quota, u.Usage)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q", ct)
		}
	})

	t.Run("duplicate username", func(t *testing.T) {
		f.admin(t, http.MethodPost, "/api/admin/users", map[string]any{"username": "ad_dup"}, 201)
		for _, name := range []string{"ad_dup", "AD_DUP", "Ad_Dup"} {
			r := f.admin(t, http.MethodPost, "/api/admin/users", map[string]any{"username": name}, 400)
			sameJSON(t, name, r.body, `{"username":["A user with that username already exists."]}`)
		}
	})

	t.Run("invalid input", func(t *testing.T) {
		for _, c := range []struct {
			body string
			want string
		}{
			{`{"username": "bad name"}`, `{"username":["Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."]}`},
			{`{"username": "semi;colon"}`, `{"username":["Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."]}`},
			{`{"username": ""}`, `{"username":["This field is required."]}`},
			{`{}`, `{"username":["This field is required."]}`},
			{`{"username": "` + strings.Repeat("u", 151) + `"}`, `{"username":["Ensure this field has no more than 150 characters."]}`},
			{`{"username": "ok_user", "email": "not-an-email"}`, `{"email":["Enter a valid email address."]}`},
		} {
			r := f.do(t, http.MethodPost, "/api/admin/users", adminAuth, ctJSON, []byte(c.body))
			mustStatus(t, c.body, r, 400)
			sameJSON(t, c.body, r.body, c.want)
		}
		for _, body := range []string{`{"username": "x", "unknown": 1}`, `{"username": `, `[]`, `{"is_staff": "yes"}`} {
			r := f.do(t, http.MethodPost, "/api/admin/users", adminAuth, ctJSON, []byte(body))
			mustStatus(t, body, r, 400)
			if !strings.HasPrefix(string(r.body), `{"detail":"JSON parse error - `) {
				t.Fatalf("%s: body %s", body, r.body)
			}
		}
		// Nothing was created by the refused requests.
		mustStatus(t, "ok_user", f.do(t, http.MethodGet, "/api/admin/users/ok_user", adminAuth, "", nil), 404)
		// A valid name with every allowed character.
		f.admin(t, http.MethodPost, "/api/admin/users", map[string]any{"username": "ü.s@e+r-_1"}, 201)
	})

	t.Run("list and get", func(t *testing.T) {
		f.admin(t, http.MethodPost, "/api/admin/users", map[string]any{"username": "ad_list"}, 201)
		users := decode[[]adminUser](t, f.admin(t, http.MethodGet, "/api/admin/users", nil, 200).body)
		names := map[string]adminUser{}
		for _, u := range users {
			names[u.Username] = u
		}
		if a, ok := names["admin"]; !ok || !a.IsSuperuser || !a.IsStaff {
			t.Fatalf("built-in admin missing or not a staff superuser: %+v", a)
		}
		if _, ok := names["ad_list"]; !ok {
			t.Fatalf("ad_list not listed: %v", sortedKeys(names))
		}
		got := decode[adminUser](t, f.admin(t, http.MethodGet, "/api/admin/users/ad_list", nil, 200).body)
		if got.ID != names["ad_list"].ID {
			t.Fatalf("get %+v, list %+v", got, names["ad_list"])
		}
		// Usernames are looked up case-insensitively.
		if up := decode[adminUser](t, f.admin(t, http.MethodGet, "/api/admin/users/AD_LIST", nil, 200).body); up.ID != got.ID {
			t.Fatalf("AD_LIST is %+v", up)
		}
		r := f.admin(t, http.MethodGet, "/api/admin/users/ad_nobody", nil, 404)
		sameJSON(t, "missing", r.body, `{"detail":"Not found."}`)
	})

	t.Run("patch", func(t *testing.T) {
		f.admin(t, http.MethodPost, "/api/admin/users", map[string]any{"username": "ad_patch"}, 201)
		tok := f.newToken(t, "ad_patch")
		u := decode[adminUser](t, f.admin(t, http.MethodPatch, "/api/admin/users/ad_patch",
			map[string]any{"email": "p@example.com", "is_staff": true}, 200).body)
		if u.Email != "p@example.com" || !u.IsStaff || u.Username != "ad_patch" {
			t.Fatalf("patched %+v", u)
		}
		// Renaming onto a taken name is refused, whatever the case.
		r := f.admin(t, http.MethodPatch, "/api/admin/users/ad_patch", map[string]any{"username": "ADMIN"}, 400)
		sameJSON(t, "rename", r.body, `{"username":["A user with that username already exists."]}`)
		f.admin(t, http.MethodPatch, "/api/admin/users/ad_patch", map[string]any{"username": "bad name"}, 400)
		// A rename keeps the user's tokens and preferences.
		mustStatus(t, "set", f.do(t, http.MethodPatch, "/api/user/v1/preferences/ad_patch", "Bearer "+tok, ctMergePatch, []byte(`{"k": "v"}`)), 204)
		renamed := decode[adminUser](t, f.admin(t, http.MethodPatch, "/api/admin/users/ad_patch", map[string]any{"username": "ad_patched"}, 200).body)
		if renamed.ID != u.ID || renamed.Username != "ad_patched" || renamed.Usage["preferences"] != 1 {
			t.Fatalf("renamed %+v", renamed)
		}
		f.admin(t, http.MethodGet, "/api/admin/users/ad_patch", nil, 404)
		r = f.do(t, http.MethodGet, "/api/user/v1/preferences/ad_patched", "Bearer "+tok, "", nil)
		mustStatus(t, "after rename", r, 200)
		sameJSON(t, "after rename", r.body, `{"k":"v"}`)
		f.admin(t, http.MethodPatch, "/api/admin/users/ad_nobody", map[string]any{"email": "x@example.com"}, 404)
		f.admin(t, http.MethodPatch, "/api/admin/users/ad_patched", map[string]any{"id": 7}, 400)
	})

	t.Run("delete", func(t *testing.T) {
		tok := f.createUser(t, "ad_delete", false)
		mustStatus(t, "edx", f.do(t, http.MethodPatch, "/api/user/v1/preferences/ad_delete", "Bearer "+tok, ctMergePatch, []byte(`{"a": "1", "b": "2"}`)), 204)
		mustStatus(t, "layout", f.do(t, http.MethodPost, "/api/users/preferences/c/", "JWT "+tok, ctJSON, []byte(`{"preferences": "3"}`)), 201)
		if u := decode[adminUser](t, f.admin(t, http.MethodGet, "/api/admin/users/ad_delete", nil, 200).body); u.Usage["preferences"] != 3 {
			t.Fatalf("usage %v", u.Usage)
		}
		r := f.admin(t, http.MethodDelete, "/api/admin/users/ad_delete", nil, 204)
		if len(r.body) != 0 {
			t.Fatalf("body %s", r.body)
		}
		f.admin(t, http.MethodGet, "/api/admin/users/ad_delete", nil, 404)
		f.admin(t, http.MethodDelete, "/api/admin/users/ad_delete", nil, 404)
		// The deleted user's token is gone.
		r = f.do(t, http.MethodGet, "/api/user/v1/preferences/ad_delete", "Bearer "+tok, "", nil)
		mustStatus(t, "old token", r, 401)
		sameJSON(t, "old token", r.body, `{"error_code":"token_nonexistent","developer_message":"The provided access token does not match any valid tokens."}`)
		mustStatus(t, "old token, layout", f.do(t, http.MethodGet, "/api/users/preferences/c/", "JWT "+tok, "", nil), 401)
		// A new user of the same name starts empty, and the old token
		// does not become its token.
		tok2 := f.createUser(t, "AD_DELETE", false)
		r = f.do(t, http.MethodGet, "/api/user/v1/preferences/AD_DELETE", "Bearer "+tok2, "", nil)
		mustStatus(t, "new user", r, 200)
		sameJSON(t, "new user", r.body, `{}`)
		mustStatus(t, "new user, layout", f.do(t, http.MethodGet, "/api/users/preferences/c/", "JWT "+tok2, "", nil), 404)
		mustStatus(t, "old token again", f.do(t, http.MethodGet, "/api/user/v1/preferences/AD_DELETE", "Bearer "+tok, "", nil), 401)
	})

	t.Run("tokens", func(t *testing.T) {
		f.admin(t, http.MethodPost, "/api/admin/users", map[string]any{"username": "ad_tok"}, 201)
		r := f.admin(t, http.MethodPost, "/api/admin/users/ad_tok/tokens", map[string]any{"name": "laptop"}, 201)
		type createdToken struct {
			ID      uint64 `json:"id"`
			Name    string `json:"name"`
			Created string `json:"created"`
			Token   string `json:"token"`
		}
		created := decode[createdToken](t, r.body)
		if created.ID == 0 || created.Name != "laptop" || !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(created.Token) {
			t.Fatalf("created %s", r.body)
		}
		if _, err := time.Parse(time.RFC3339Nano, created.Created); err != nil {
			t.Fatalf("created time in %s: %v", r.body, err)
		}
		second := f.newToken(t, "ad_tok")
		for _, tok := range []string{created.Token, second} {
			for _, scheme := range []string{"Token", "Bearer", "JWT"} {
				mustStatus(t, scheme, f.do(t, http.MethodGet, "/api/user/v1/preferences/ad_tok", scheme+" "+tok, "", nil), 200)
			}
		}

		list := f.admin(t, http.MethodGet, "/api/admin/users/ad_tok/tokens", nil, 200)
		if strings.Contains(string(list.body), created.Token) || strings.Contains(string(list.body), `"token"`) {
			t.Fatalf("the list shows secrets: %s", list.body)
		}
		type listed struct {
			ID      uint64 `json:"id"`
			Name    string `json:"name"`
			Created string `json:"created"`
		}
		toks := decode[[]listed](t, list.body)
		if len(toks) != 2 || toks[0].ID != created.ID || toks[0].Name != "laptop" || toks[1].Name != "t" {
			t.Fatalf("tokens %s", list.body)
		}
		for _, tk := range toks {
			if _, err := time.Parse(time.RFC3339Nano, tk.Created); err != nil {
				t.Fatalf("created %q: %v", tk.Created, err)
			}
		}
		if toks[0].Created != created.Created {
			t.Fatalf("listed created %q, answered %q", toks[0].Created, created.Created)
		}

		// Revoking one token leaves the other working.
		f.admin(t, http.MethodDelete, "/api/admin/users/ad_tok/tokens/"+jsonNumber(created.ID), nil, 204)
		r = f.do(t, http.MethodGet, "/api/user/v1/preferences/ad_tok", "Bearer "+created.Token, "", nil)
		mustStatus(t, "revoked", r, 401)
		r = f.do(t, http.MethodGet, "/api/users/preferences/x/", "JWT "+created.Token, "", nil)
		mustStatus(t, "revoked, layout", r, 401)
		sameJSON(t, "revoked, layout", r.body, `{"detail":"Error decoding signature."}`)
		mustStatus(t, "the other", f.do(t, http.MethodGet, "/api/user/v1/preferences/ad_tok", "Bearer "+second, "", nil), 200)
		if n := len(decode[[]listed](t, f.admin(t, http.MethodGet, "/api/admin/users/ad_tok/tokens", nil, 200).body)); n != 1 {
			t.Fatalf("%d tokens after revoking one", n)
		}
		f.admin(t, http.MethodDelete, "/api/admin/users/ad_tok/tokens/"+jsonNumber(created.ID), nil, 404)
		f.admin(t, http.MethodDelete, "/api/admin/users/ad_tok/tokens/not-a-number", nil, 404)
		// Another user's token id is not this user's.
		f.admin(t, http.MethodPost, "/api/admin/users", map[string]any{"username": "ad_tok2"}, 201)
		f.newToken(t, "ad_tok2")
		other := decode[[]listed](t, f.admin(t, http.MethodGet, "/api/admin/users/ad_tok2/tokens", nil, 200).body)
		f.admin(t, http.MethodDelete, "/api/admin/users/ad_tok/tokens/"+jsonNumber(other[0].ID), nil, 404)

		f.admin(t, http.MethodPost, "/api/admin/users/ad_nobody/tokens", map[string]any{"name": "t"}, 404)
		f.admin(t, http.MethodGet, "/api/admin/users/ad_nobody/tokens", nil, 404)
		r = f.admin(t, http.MethodPost, "/api/admin/users/ad_tok/tokens", map[string]any{}, 400)
		sameJSON(t, "no name", r.body, `{"name":["A name of 1 to 100 characters is required."]}`)
		f.admin(t, http.MethodPost, "/api/admin/users/ad_tok/tokens", map[string]any{"name": strings.Repeat("n", 101)}, 400)
	})

	t.Run("user quota", func(t *testing.T) {
		tok := f.createUser(t, "ad_quota", false)
		q := decode[map[string]int](t, f.admin(t, http.MethodGet, "/api/admin/users/ad_quota/quota", nil, 200).body)
		if !equalQuota(q, defaultQuota) {
			t.Fatalf("initial quota %v", q)
		}
		// Subsets merge into the user's overrides.
		q = decode[map[string]int](t, f.admin(t, http.MethodPut, "/api/admin/users/ad_quota/quota", map[string]any{"max_preferences": 2}, 200).body)
		want := map[string]int{"max_preferences": 2, "max_value_length": 110000, "max_key_length": 255, "max_total_bytes": 16 << 20}
		if !equalQuota(q, want) {
			t.Fatalf("after max_preferences: %v", q)
		}
		q = decode[map[string]int](t, f.admin(t, http.MethodPut, "/api/admin/users/ad_quota/quota", map[string]any{"max_key_length": 4, "max_value_length": 5}, 200).body)
		want["max_key_length"], want["max_value_length"] = 4, 5
		if !equalQuota(q, want) {
			t.Fatalf("after lengths: %v", q)
		}
		if u := decode[adminUser](t, f.admin(t, http.MethodGet, "/api/admin/users/ad_quota", nil, 200).body); !equalQuota(u.Quota, want) {
			t.Fatalf("user view quota %v", u.Quota)
		}
		// The limits are in force on both dialects.
		r := f.do(t, http.MethodPatch, "/api/user/v1/preferences/ad_quota", "Bearer "+tok, ctMergePatch, []byte(`{"abcde": "v"}`))
		mustStatus(t, "key", r, 400)
		sameJSON(t, "key", r.body, `{"field_errors":{"abcde":{"developer_message":"Value 'v' not valid for preference 'abcde': {'key': ['Ensure this field has no more than 4 characters.']}","user_message":"Invalid user preference key 'abcde'."}}}`)
		r = f.do(t, http.MethodPost, "/api/users/preferences/k/", "JWT "+tok, ctJSON, []byte(`{"preferences": "123456"}`))
		mustStatus(t, "value", r, 400)
		sameJSON(t, "value", r.body, `{"preferences":["Ensure this field has no more than 5 characters."]}`)
		mustStatus(t, "1", f.do(t, http.MethodPost, "/api/users/preferences/k1/", "JWT "+tok, ctJSON, []byte(`{"preferences": "1"}`)), 201)
		mustStatus(t, "2", f.do(t, http.MethodPost, "/api/users/preferences/k2/", "JWT "+tok, ctJSON, []byte(`{"preferences": "2"}`)), 201)
		r = f.do(t, http.MethodPost, "/api/users/preferences/k3/", "JWT "+tok, ctJSON, []byte(`{"preferences": "3"}`))
		mustStatus(t, "3", r, 400)
		sameJSON(t, "3", r.body, `{"detail":["Limit of 2 User Preferences for the User has been exceeded."]}`)

		// Negative values and empty patches are refused; nothing changes.
		r = f.admin(t, http.MethodPut, "/api/admin/users/ad_quota/quota", map[string]any{"max_preferences": -1, "max_total_bytes": 10}, 400)
		sameJSON(t, "negative", r.body, `{"max_preferences":["Ensure this value is greater than or equal to 0."]}`)
		r = f.admin(t, http.MethodPut, "/api/admin/users/ad_quota/quota", map[string]any{}, 400)
		sameJSON(t, "empty", r.body, `{"non_field_errors":["Give at least one of max_preferences, max_value_length, max_key_length, max_total_bytes."]}`)
		f.admin(t, http.MethodPut, "/api/admin/users/ad_quota/quota", map[string]any{"max_prefs": 1}, 400)
		f.admin(t, http.MethodPut, "/api/admin/users/ad_quota/quota", map[string]any{"max_preferences": "1"}, 400)
		f.admin(t, http.MethodPut, "/api/admin/users/ad_quota/quota", map[string]any{"max_preferences": 1.5}, 400)
		if q := decode[map[string]int](t, f.admin(t, http.MethodGet, "/api/admin/users/ad_quota/quota", nil, 200).body); !equalQuota(q, want) {
			t.Fatalf("after refusals: %v", q)
		}
		// Zero is a limit, not "unset".
		q = decode[map[string]int](t, f.admin(t, http.MethodPut, "/api/admin/users/ad_quota/quota", map[string]any{"max_preferences": 0}, 200).body)
		if q["max_preferences"] != 0 {
			t.Fatalf("zero: %v", q)
		}
		// DELETE drops every override.
		q = decode[map[string]int](t, f.admin(t, http.MethodDelete, "/api/admin/users/ad_quota/quota", nil, 200).body)
		if !equalQuota(q, defaultQuota) {
			t.Fatalf("after reset: %v", q)
		}
		mustStatus(t, "3 after reset", f.do(t, http.MethodPost, "/api/users/preferences/k3/", "JWT "+tok, ctJSON, []byte(`{"preferences": "3"}`)), 201)
		f.admin(t, http.MethodGet, "/api/admin/users/ad_nobody/quota", nil, 404)
		f.admin(t, http.MethodPut, "/api/admin/users/ad_nobody/quota", map[string]any{"max_preferences": 1}, 404)
		f.admin(t, http.MethodDelete, "/api/admin/users/ad_nobody/quota", nil, 404)
	})

	t.Run("default quota", func(t *testing.T) {
		q := decode[map[string]int](t, f.admin(t, http.MethodGet, "/api/admin/quotas/default", nil, 200).body)
		if !equalQuota(q, defaultQuota) {
			t.Fatalf("default %v", q)
		}
		tok := f.createUser(t, "ad_default", false)
		f.admin(t, http.MethodPut, "/api/admin/users/ad_default/quota", map[string]any{"max_key_length": 9}, 200)
		q = decode[map[string]int](t, f.admin(t, http.MethodPut, "/api/admin/quotas/default", map[string]any{"max_value_length": 3, "max_key_length": 3}, 200).body)
		if q["max_value_length"] != 3 || q["max_key_length"] != 3 || q["max_preferences"] != 10000 {
			t.Fatalf("new default %v", q)
		}
		defer f.admin(t, http.MethodPut, "/api/admin/quotas/default", map[string]any{"max_value_length": 110000, "max_key_length": 255}, 200)
		// A user's override wins over the default; the rest follows it.
		uq := decode[map[string]int](t, f.admin(t, http.MethodGet, "/api/admin/users/ad_default/quota", nil, 200).body)
		if uq["max_key_length"] != 9 || uq["max_value_length"] != 3 {
			t.Fatalf("user quota under the new default %v", uq)
		}
		r := f.do(t, http.MethodPut, "/api/user/v1/preferences/ad_default/key", "Bearer "+tok, ctJSON, []byte(`"four"`))
		mustStatus(t, "value", r, 400)
		sameJSON(t, "value", r.body, `{"developer_message":"Value 'four' not valid for preference 'key': {'value': ['Ensure this field has no more than 3 characters.']}","user_message":"Value 'four' is not valid for user preference 'key'."}`)
		r = f.admin(t, http.MethodPut, "/api/admin/quotas/default", map[string]any{"max_value_length": -5}, 400)
		sameJSON(t, "negative", r.body, `{"max_value_length":["Ensure this value is greater than or equal to 0."]}`)
	})

	t.Run("access", func(t *testing.T) {
		staffTok := f.createUser(t, "ad_staff", true)
		userTok := f.createUser(t, "ad_plain", false)
		h := api.New(api.Options{Cluster: f.node.Node, MaxBodyBytes: 1 << 20})
		engine := h.(*gin.Engine)
		n := 0
		for _, ri := range engine.Routes() {
			if !strings.HasPrefix(ri.Path, "/api/admin/") {
				continue
			}
			n++
			path := strings.NewReplacer(":username", "ad_plain", ":id", "1").Replace(ri.Path)
			var body []byte
			if ri.Method == http.MethodPost || ri.Method == http.MethodPut || ri.Method == http.MethodPatch {
				body = []byte(`{}`)
			}
			r := f.do(t, ri.Method, path, "", ctJSON, body)
			if r.status != 401 || r.header.Get("WWW-Authenticate") != "Token" ||
				string(r.body) != `{"detail":"Authentication credentials were not provided."}` {
				t.Errorf("anonymous %s %s: %d %q %s", ri.Method, path, r.status, r.header.Get("WWW-Authenticate"), r.body)
			}
			r = f.do(t, ri.Method, path, "Token wrong-token", ctJSON, body)
			if r.status != 401 || string(r.body) != `{"detail":"Invalid token."}` {
				t.Errorf("wrong token %s %s: %d %s", ri.Method, path, r.status, r.body)
			}
			for who, tok := range map[string]string{"staff": staffTok, "plain": userTok} {
				r = f.do(t, ri.Method, path, "Token "+tok, ctJSON, body)
				if r.status != 403 || string(r.body) != `{"detail":"You do not have permission to perform this action."}` {
					t.Errorf("%s %s %s: %d %s", who, ri.Method, path, r.status, r.body)
				}
			}
		}
		if n < 13 {
			t.Fatalf("only %d admin routes found", n)
		}
		// Nothing the refused callers sent changed anything.
		if u := decode[adminUser](t, f.admin(t, http.MethodGet, "/api/admin/users/ad_plain", nil, 200).body); u.IsStaff || u.IsSuperuser {
			t.Fatalf("ad_plain changed: %+v", u)
		}
		// A superuser created through the API may use it.
		f.admin(t, http.MethodPost, "/api/admin/users", map[string]any{"username": "ad_super", "is_superuser": true}, 201)
		superTok := f.newToken(t, "ad_super")
		mustStatus(t, "new superuser", f.do(t, http.MethodGet, "/api/admin/users", "Token "+superTok, "", nil), 200)
		// Demoting takes effect at once.
		f.admin(t, http.MethodPatch, "/api/admin/users/ad_super", map[string]any{"is_superuser": false}, 200)
		mustStatus(t, "demoted", f.do(t, http.MethodGet, "/api/admin/users", "Token "+superTok, "", nil), 403)
	})
}

func jsonNumber(n uint64) string { return strconv.FormatUint(n, 10) }
