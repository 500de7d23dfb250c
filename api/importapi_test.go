package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/importer"
)

// importAnswer is the import endpoint's report.
type importAnswer struct {
	DryRun               bool               `json:"dry_run"`
	Applied              bool               `json:"applied"`
	UsersCreated         []string           `json:"users_created"`
	UsersMatched         []string           `json:"users_matched"`
	PreferencesWritten   int                `json:"preferences_written"`
	PreferencesUnchanged int                `json:"preferences_unchanged"`
	SettingsWritten      int                `json:"settings_written"`
	SettingsUnchanged    int                `json:"settings_unchanged"`
	QuotaRaised          []json.RawMessage  `json:"quota_raised"`
	Invalid              []importer.Problem `json:"invalid"`
}

// importRequest is the endpoint's body.
type importRequest struct {
	DryRun      bool `json:"dry_run,omitempty"`
	SkipInvalid bool `json:"skip_invalid,omitempty"`
	importer.Plan
}

// postImport sends a plan and checks the status.
func postImport(t *testing.T, f *fixture, req importRequest, want int) importAnswer {
	t.Helper()
	r := f.admin(t, http.MethodPost, "/api/admin/import", req, want)
	var out importAnswer
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("import answer %s: %v", r.body, err)
	}
	return out
}

// src is a made-up source for test items.
func src(row int) importer.Source { return importer.Source{File: "t.csv", Row: row} }

// bcryptOf is a bcrypt hash (cost 4) of "pw-of-import".
const bcryptOf = "$2b$04$RvjoATI49uQ.E6mKPJQKoO6SdEufJ9YF.Wl9fOP.QymufEK4t4U8e"

// importPlan is a small plan over the dialects: a new user with a
// password, free-form preferences, and global, user and notification
// settings of both registries.
func importPlan(prefix string) importer.Plan {
	u := prefix + "_new"
	return importer.Plan{
		Users: []importer.User{{Username: u, Email: u + "@example.com", PasswordHash: bcryptOf, Src: src(1)}},
		Prefs: []importer.Pref{
			{User: u, Key: "pref-lang", Value: "en", Src: src(2)},
			{User: u, Key: "dict_pref", Value: "{'int_key': 10}", Src: src(3)},
		},
		Settings: []importer.Setting{
			{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeUser, User: u, Key: "search_preview_results", Value: "25", Src: src(4)},
			{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeNotification, User: u, Key: "NOTIFICATION_METHOD_MAIL", Method: "mail", Value: "False", Src: src(5)},
			{Registry: fsm.RegistryDynPrefs, Scope: fsm.ScopeUser, User: u, Key: "user__favorite_vegetables", Value: "P,T", Src: src(6)},
			{Registry: fsm.RegistryDynPrefs, Scope: fsm.ScopeGlobal, Key: "user__max_users", Value: "150", Src: src(7)},
		},
	}
}

func TestImportAppliesAndIsIdempotent(t *testing.T) {
	f := newFixture(t)
	plan := importPlan("idem")
	u := plan.Users[0].Username

	dry := postImport(t, f, importRequest{DryRun: true, Plan: plan}, http.StatusOK)
	if dry.Applied || !dry.DryRun || !reflect.DeepEqual(dry.UsersCreated, []string{u}) || dry.PreferencesWritten != 2 || dry.SettingsWritten != 4 {
		t.Fatalf("dry run: %+v", dry)
	}
	f.admin(t, http.MethodGet, "/api/admin/users/"+u, nil, http.StatusNotFound)

	tests := []struct {
		name                 string
		created, matched     []string
		prefsW, prefsU       int
		settingsW, settingsU int
	}{
		{"first import", []string{u}, []string{}, 2, 0, 4, 0},
		{"the same again", []string{}, []string{u}, 0, 2, 0, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := postImport(t, f, importRequest{Plan: plan}, http.StatusOK)
			if !got.Applied || !reflect.DeepEqual(got.UsersCreated, tt.created) || !reflect.DeepEqual(got.UsersMatched, tt.matched) ||
				got.PreferencesWritten != tt.prefsW || got.PreferencesUnchanged != tt.prefsU ||
				got.SettingsWritten != tt.settingsW || got.SettingsUnchanged != tt.settingsU || len(got.Invalid) != 0 {
				t.Fatalf("report %+v", got)
			}
			// The values read back the same through each dialect.
			basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":pw-of-import"))
			r := f.do(t, http.MethodGet, "/api/user/v1/preferences/"+u, basic, "", nil)
			mustStatus(t, "edX GET", r, http.StatusOK)
			if got, want := stringMap(t, r.body), map[string]string{"pref-lang": "en", "dict_pref": "{'int_key': 10}"}; !reflect.DeepEqual(got, want) {
				t.Errorf("edX preferences %v, want %v", got, want)
			}
			r = f.do(t, http.MethodGet, "/api/settings/user/SEARCH_PREVIEW_RESULTS/", basic, "", nil)
			mustStatus(t, "InvenTree GET", r, http.StatusOK)
			if !strings.Contains(string(r.body), `"value":"25"`) {
				t.Errorf("InvenTree setting %s", r.body)
			}
			r = f.do(t, http.MethodGet, "/api/preferences/user/user__favorite_vegetables/", basic, "", nil)
			mustStatus(t, "dynamic-preferences GET", r, http.StatusOK)
			if !strings.Contains(string(r.body), `"value":["P","T"]`) {
				t.Errorf("dynamic-preferences preference %s", r.body)
			}
		})
	}
}

func TestImportInvalidChangesNothing(t *testing.T) {
	f := newFixture(t)
	plan := importPlan("inv")
	plan.Settings = append(plan.Settings,
		importer.Setting{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeUser, User: plan.Users[0].Username,
			Key: "SEARCH_PREVIEW_RESULTS", Value: "0", Src: src(8)},
		importer.Setting{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeGlobal, Key: "NOT_A_SETTING", Value: "x", Src: src(9)},
	)
	plan.Prefs = append(plan.Prefs, importer.Pref{User: "nobody_here", Key: "k", Value: "v", Src: src(10)})
	plan.Users = append(plan.Users, importer.User{Username: "bad name", Src: src(11)})
	before := f.admin(t, http.MethodGet, "/api/preferences/global/user__max_users/", nil, http.StatusOK).body

	wantInvalid := []struct {
		row    int
		reason string
	}{
		// An invalid row is left out; the valid row 4 for the same key
		// is still written.
		{8, "greater than or equal to 1"},
		{9, "the catalogue defines no inventree global setting NOT_A_SETTING"},
		{10, "no user nobody_here"},
		{11, "username: Enter a valid username"},
	}
	got := postImport(t, f, importRequest{Plan: plan}, http.StatusBadRequest)
	if got.Applied || len(got.Invalid) != len(wantInvalid) {
		t.Fatalf("report %+v", got)
	}
	for i, w := range wantInvalid {
		if p := got.Invalid[i]; p.Row != w.row || p.File != "t.csv" || !strings.Contains(p.Reason, w.reason) {
			t.Errorf("invalid[%d] = %+v, want row %d with %q", i, p, w.row, w.reason)
		}
	}
	f.admin(t, http.MethodGet, "/api/admin/users/"+plan.Users[0].Username, nil, http.StatusNotFound)
	if after := f.admin(t, http.MethodGet, "/api/preferences/global/user__max_users/", nil, http.StatusOK).body; string(after) != string(before) {
		t.Errorf("a refused import changed a global setting: %s, was %s", after, before)
	}

	// With skip_invalid the rest is written, and the same items are listed.
	got = postImport(t, f, importRequest{SkipInvalid: true, Plan: plan}, http.StatusOK)
	if !got.Applied || len(got.Invalid) != len(wantInvalid) || got.PreferencesWritten != 2 || got.SettingsWritten != 4 {
		t.Fatalf("skip_invalid report %+v", got)
	}
	f.admin(t, http.MethodGet, "/api/admin/users/"+plan.Users[0].Username, nil, http.StatusOK)
}

func TestImportMatchesExistingUsers(t *testing.T) {
	f := newFixture(t)
	f.admin(t, http.MethodPost, "/api/admin/users", map[string]any{"username": "Mia", "email": "mia@prefsd.example"}, http.StatusCreated)
	plan := importer.Plan{
		// Listed in another case, with other fields: matched, not changed.
		Users: []importer.User{{Username: "mia", Email: "mia@old.example", IsSuperuser: true, Src: src(1)}},
		Prefs: []importer.Pref{{User: "MIA", Key: "k", Value: "v", Src: src(2)}},
	}
	got := postImport(t, f, importRequest{Plan: plan}, http.StatusOK)
	if !reflect.DeepEqual(got.UsersMatched, []string{"Mia"}) || len(got.UsersCreated) != 0 || got.PreferencesWritten != 1 {
		t.Fatalf("report %+v", got)
	}
	var u struct {
		Email       string `json:"email"`
		IsSuperuser bool   `json:"is_superuser"`
	}
	if err := json.Unmarshal(f.admin(t, http.MethodGet, "/api/admin/users/mia", nil, http.StatusOK).body, &u); err != nil {
		t.Fatal(err)
	}
	if u.Email != "mia@prefsd.example" || u.IsSuperuser {
		t.Errorf("the import changed the existing user: %+v", u)
	}
}

func TestImportRaisesQuota(t *testing.T) {
	f := newFixture(t)
	f.admin(t, http.MethodPut, "/api/admin/quotas/default", map[string]any{"max_preferences": 2, "max_value_length": 5}, http.StatusOK)
	plan := importer.Plan{
		Users: []importer.User{{Username: "quinn", Src: src(1)}},
		Prefs: []importer.Pref{
			{User: "quinn", Key: "a", Value: "1", Src: src(2)},
			{User: "quinn", Key: "b", Value: "2", Src: src(3)},
			{User: "quinn", Key: "c", Value: "a longer value", Src: src(4)},
		},
	}
	dry := postImport(t, f, importRequest{DryRun: true, Plan: plan}, http.StatusOK)
	want := `{"user":"quinn","quota":{"max_preferences":3,"max_value_length":14}}`
	if len(dry.QuotaRaised) != 1 || string(dry.QuotaRaised[0]) != want {
		t.Fatalf("dry run quota_raised %s, want [%s]", dry.QuotaRaised, want)
	}
	got := postImport(t, f, importRequest{Plan: plan}, http.StatusOK)
	if got.PreferencesWritten != 3 || len(got.QuotaRaised) != 1 || string(got.QuotaRaised[0]) != want {
		t.Fatalf("report %+v", got)
	}
	var q fsm.Quota
	if err := json.Unmarshal(f.admin(t, http.MethodGet, "/api/admin/users/quinn/quota", nil, http.StatusOK).body, &q); err != nil {
		t.Fatal(err)
	}
	if q.MaxPreferences != 3 || q.MaxValueLength != 14 {
		t.Errorf("quota in force %+v", q)
	}
	// Nothing more to raise the second time.
	if again := postImport(t, f, importRequest{Plan: plan}, http.StatusOK); len(again.QuotaRaised) != 0 || again.PreferencesUnchanged != 3 {
		t.Errorf("re-import %+v", again)
	}
}

func TestImportRequests(t *testing.T) {
	f := newFixture(t)
	tok := f.createUser(t, "imp_staff", true)
	tests := []struct {
		name, auth, body string
		want             int
	}{
		{"anonymous", "", `{}`, http.StatusUnauthorized},
		{"staff but not superuser", "Token " + tok, `{}`, http.StatusForbidden},
		{"unknown field", adminAuth, `{"users": [], "replace": true}`, http.StatusBadRequest},
		{"not JSON", adminAuth, `users`, http.StatusBadRequest},
		{"empty plan", adminAuth, `{}`, http.StatusOK},
		{"unknown registry", adminAuth, `{"settings": [{"registry": "x", "scope": "global", "key": "K", "value": "1", "src": {"file": "f", "row": 1}}]}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, http.MethodPost, "/api/admin/import", tt.auth, "application/json", []byte(tt.body))
			mustStatus(t, tt.name, r, tt.want)
		})
	}
}
