package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prefsd/prefsd/importer"
	"github.com/prefsd/prefsd/internal/testnode"
)

// The import tests run `prefsd import` on the importer's fixtures (one
// installation of each product, exported as dumpdata JSON and as CSV)
// against a real node, then read every value back through the dialect
// that serves it and compare it with what the original product answers
// for the same stored value.

// importNode starts a node and waits for its default catalogue and
// superuser.
func importNode(t *testing.T) (*testnode.Node, func(string) string) {
	t.Helper()
	n := testnode.Start(t, testnode.Options{})
	testnode.WaitLeader(t, []*testnode.Node{n})
	testnode.Eventually(t, 20*time.Second, func() error {
		st := n.FSM().State()
		if _, ok := st.UserByName("admin"); !ok || st.CatalogVersion() == 0 {
			return errors.New("no default catalogue or superuser yet")
		}
		return nil
	})
	env := map[string]string{"PREFSD_ADDR": n.URL, "PREFSD_TOKEN": testnode.AdminToken}
	return n, func(k string) string { return env[k] }
}

// fixtures returns a product's fixture files in one format.
func fixtures(t *testing.T, product, format string) []string {
	t.Helper()
	dir := filepath.Join("..", "..", "importer", "testdata", product)
	if format == "json" {
		return []string{filepath.Join(dir, "dumpdata.json")}
	}
	files, err := filepath.Glob(filepath.Join(dir, "csv", "*.csv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CSV fixtures in %s: %v", dir, err)
	}
	return files
}

// runImportJSON runs `prefsd import --json args...` and decodes the
// summary it prints, whether or not the import succeeded.
func runImportJSON(t *testing.T, getenv func(string) string, args ...string) (importSummary, error) {
	t.Helper()
	var out, errs bytes.Buffer
	err := runImport(context.Background(), append([]string{"--json"}, args...), getenv, &out, &errs)
	var sum importSummary
	if out.Len() > 0 {
		if jerr := json.Unmarshal(out.Bytes(), &sum); jerr != nil {
			t.Fatalf("summary %q: %v (stderr %s)", out.String(), jerr, errs.String())
		}
	}
	return sum, err
}

// httpGet sends a GET with an Authorization header and returns the status
// and body.
func httpGet(t *testing.T, url, auth string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, body
}

// basic is a Basic Authorization header.
func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// tokenFor creates an API token for user through the admin API.
func tokenFor(t *testing.T, n *testnode.Node, user string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.URL+"/api/admin/users/"+user+"/tokens", strings.NewReader(`{"name":"import-test"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+testnode.AdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.Token == "" {
		t.Fatalf("token for %s: status %d, %v", user, res.StatusCode, err)
	}
	return "Token " + out.Token
}

// readBack is one value read through a dialect: a GET as a user, and the
// JSON the original product answers at a path of the body.
type readBack struct {
	name string
	path string
	// as is the Authorization header, computed once the import ran.
	as func() string
	// field is the top-level member compared ("" for the whole body).
	field string
	want  string
}

// checkReadBack runs the reads and compares the answers, as compact JSON.
func checkReadBack(t *testing.T, n *testnode.Node, reads []readBack) {
	t.Helper()
	for _, rb := range reads {
		t.Run(rb.name, func(t *testing.T) {
			status, body := httpGet(t, n.URL+rb.path, rb.as())
			if status != http.StatusOK {
				t.Fatalf("GET %s: %d %s", rb.path, status, body)
			}
			got := json.RawMessage(body)
			if rb.field != "" {
				var obj map[string]json.RawMessage
				if err := json.Unmarshal(body, &obj); err != nil {
					t.Fatalf("GET %s: %s: %v", rb.path, body, err)
				}
				got = obj[rb.field]
			}
			var compact, want bytes.Buffer
			if err := json.Compact(&compact, got); err != nil {
				t.Fatalf("GET %s: %s: %v", rb.path, got, err)
			}
			if err := json.Compact(&want, []byte(rb.want)); err != nil {
				t.Fatal(err)
			}
			if compact.String() != want.String() {
				t.Errorf("GET %s: %s = %s, the original answers %s", rb.path, cmpOr(rb.field, "body"), compact.String(), want.String())
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestImportProducts(t *testing.T) {
	type product struct {
		name string
		// created are the users the fixtures create; prefs and settings
		// the values they write.
		created         []string
		prefs, settings int
		// reads compare values with the original's answers; tokens
		// are filled once the users exist.
		reads func(n *testnode.Node, tok func(string) string) []readBack
	}
	admin := func() string { return "Token " + testnode.AdminToken }
	products := []product{
		{
			name: "dynprefs", created: []string{"root", "alice", "bob"}, settings: 17,
			reads: func(n *testnode.Node, tok func(string) string) []readBack {
				g := func(id, want string) readBack {
					return readBack{"global " + id, "/api/preferences/global/" + id + "/", admin, "value", want}
				}
				u := func(user, id, want string) readBack {
					return readBack{user + " " + id, "/api/preferences/user/" + id + "/", func() string { return tok(user) }, "value", want}
				}
				return []readBack{
					g("user__registration_allowed", `true`),
					g("user__max_users", `150`),
					g("user__items_per_page", `30`),
					g("blog__featured_entry", `12`),
					g("type__cost", `111.1`), // a Decimal, shown as a float
					g("no_section", `true`),
					g("test__TestGlobal1", `"a string, with a comma"`),
					g("exam__duration", `"1 02:03:04"`),
					g("company__RegistrationDate", `"2001-02-03"`),
					g("company__OpenningTime", `"09:30:00"`),
					g("child__BirthDateTime", `"2020-01-02T03:04:05.000150-06:00"`),
					u("alice", "user__favorite_vegetable", `"P"`),
					u("alice", "user__favorite_vegetables", `["P","T"]`),
					u("alice", "misc__favourite_colour", `"Blue"`),
					u("alice", "misc__is_zombie", `false`),
					u("bob", "test__SUserStringPref", `""`),
					u("bob", "user__favorite_vegetables", `[]`),
				}
			},
		},
		{
			name: "inventree", created: []string{"carol", "dave"}, settings: 12,
			reads: func(n *testnode.Node, tok func(string) string) []readBack {
				// carol's password hash (Django's bcrypt hasher) was carried.
				carol := func() string { return basic("carol", "carol-secret") }
				g := func(key, want string) readBack {
					return readBack{"global " + key, "/api/settings/global/" + key + "/", carol, "value", want}
				}
				return []readBack{
					g("INVENTREE_INSTANCE", `"Acme Stores"`),
					g("INVENTREE_COMPANY_NAME", `"Acme, Inc."`),
					g("CURRENCY_CODES", `"AUD,USD,GBP"`),
					g("INVENTREE_DEFAULT_CURRENCY", `"GBP"`),
					g("STOCK_STALE_DAYS", `"30"`),
					g("INVENTREE_RESTRICT_ABOUT", `"True"`),
					g("barcode_enable", `"False"`),
					{"carol SEARCH_PREVIEW_RESULTS", "/api/settings/user/SEARCH_PREVIEW_RESULTS/", carol, "value", `"25"`},
					{"carol LABEL_INLINE", "/api/settings/user/LABEL_INLINE/", carol, "value", `"False"`},
					{"carol DATE_DISPLAY_FORMAT", "/api/settings/user/DATE_DISPLAY_FORMAT/", carol, "value", `"DD/MM/YYYY"`},
					{"dave STICKY_HEADER", "/api/settings/user/STICKY_HEADER/", func() string { return tok("dave") }, "value", `"True"`},
				}
			},
		},
		{
			name: "edx", created: []string{"erin", "frank"}, prefs: 5,
			reads: func(n *testnode.Node, tok func(string) string) []readBack {
				return []readBack{
					{"erin", "/api/user/v1/preferences/erin", func() string { return basic("erin", "erin-secret") }, "",
						`{"dict_pref":"{'int_key': 10}","pref-lang":"en","time_zone":"Asia/Tokyo"}`},
					{"erin one key", "/api/user/v1/preferences/erin/time_zone", func() string { return basic("erin", "erin-secret") }, "", `"Asia/Tokyo"`},
					{"frank", "/api/user/v1/preferences/frank", func() string { return tok("frank") }, "",
						`{"account_privacy":"private","multi-line":"first line\nsecond line, with \"quotes\""}`},
					{"frank through the layout dialect", "/api/users/preferences/account_privacy/", func() string { return tok("frank") }, "",
						`{"preferences":"private"}`},
				}
			},
		},
	}

	for _, p := range products {
		t.Run(p.name, func(t *testing.T) {
			n, getenv := importNode(t)
			tokens := map[string]string{}
			tok := func(user string) string {
				if _, ok := tokens[user]; !ok {
					tokens[user] = tokenFor(t, n, user)
				}
				return tokens[user]
			}
			// Every run: the dry run changes nothing; the first import
			// writes everything; the CSV export of the same tables, and
			// the JSON again, find everything in place.
			runs := []struct {
				name            string
				dryRun          bool
				format          string
				created         []string
				prefs, settings int
			}{
				{"dry run", true, "json", p.created, p.prefs, p.settings},
				{"json", false, "json", p.created, p.prefs, p.settings},
				{"csv, the same tables", false, "csv", []string{}, 0, 0},
				{"json again", false, "json", []string{}, 0, 0},
			}
			for _, run := range runs {
				t.Run(run.name, func(t *testing.T) {
					args := fixtures(t, p.name, run.format)
					if run.dryRun {
						args = append([]string{"--dry-run"}, args...)
					}
					sum, err := runImportJSON(t, getenv, args...)
					if err != nil {
						t.Fatalf("import: %v; summary %+v", err, sum)
					}
					matched := []string{}
					if len(run.created) == 0 {
						matched = p.created
					}
					unchangedPrefs, unchangedSettings := 0, 0
					if run.prefs == 0 && run.settings == 0 {
						unchangedPrefs, unchangedSettings = p.prefs, p.settings
					}
					if sum.Applied == run.dryRun || !reflect.DeepEqual(sum.UsersCreated, run.created) || !reflect.DeepEqual(sum.UsersMatched, matched) ||
						sum.PreferencesWritten != run.prefs || sum.SettingsWritten != run.settings ||
						sum.PreferencesUnchanged != unchangedPrefs || sum.SettingsUnchanged != unchangedSettings || len(sum.Invalid) != 0 {
						t.Errorf("summary %+v", sum)
					}
					if run.dryRun {
						if _, ok := n.FSM().State().UserByName(p.created[0]); ok {
							t.Errorf("the dry run created %s", p.created[0])
						}
						return
					}
					checkReadBack(t, n, p.reads(n, tok))
				})
			}
		})
	}
}

func TestImportInactiveUserKeepsNoPassword(t *testing.T) {
	n, getenv := importNode(t)
	if _, err := runImportJSON(t, getenv, fixtures(t, "edx", "csv")...); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, password string
		want           int
	}{
		{"erin", "erin-secret", http.StatusOK},
		{"erin", "wrong", http.StatusUnauthorized},
		// frank was inactive in Open edX: his hash is not carried.
		{"frank", "erin-secret", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		if status, body := httpGet(t, n.URL+"/api/user/v1/preferences/"+tt.user, basic(tt.user, tt.password)); status != tt.want {
			t.Errorf("%s with password %q: %d %s, want %d", tt.user, tt.password, status, body, tt.want)
		}
	}
}

func TestImportInvalidRowChangesNothing(t *testing.T) {
	n, getenv := importNode(t)
	invalid := []string{
		filepath.Join("..", "..", "importer", "testdata", "invalid", "auth_user.csv"),
		filepath.Join("..", "..", "importer", "testdata", "invalid", "common_inventreeusersetting.csv"),
	}
	digest := func() string {
		d, err := n.FSM().State().Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	before := digest()
	type want struct {
		row    int
		key    string
		reason string
	}
	wantInvalid := []want{
		{3, "SEARCH_PREVIEW_RESULTS", "greater than or equal to 1"},
		{4, "NOT_A_SETTING", "the catalogue defines no inventree user setting NOT_A_SETTING"},
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		applied bool
	}{
		{"refused", invalid, "2 rows cannot be imported; nothing was changed", false},
		{"dry run", append([]string{"--dry-run"}, invalid...), "2 rows cannot be imported", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, err := runImportJSON(t, getenv, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if sum.Applied || len(sum.Invalid) != len(wantInvalid) {
				t.Fatalf("summary %+v", sum)
			}
			for i, w := range wantInvalid {
				p := sum.Invalid[i]
				if !strings.HasSuffix(p.File, "common_inventreeusersetting.csv") || p.Row != w.row || p.Key != w.key ||
					p.User != "ivan" || !strings.Contains(p.Reason, w.reason) {
					t.Errorf("invalid[%d] = %+v, want row %d key %s: %q", i, p, w.row, w.key, w.reason)
				}
			}
			if after := digest(); after != before {
				t.Errorf("the state changed: digest %s, was %s", after, before)
			}
		})
	}

	// --skip-invalid imports the rest and lists what it skipped.
	sum, err := runImportJSON(t, getenv, append([]string{"--skip-invalid"}, invalid...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Applied || !reflect.DeepEqual(sum.UsersCreated, []string{"ivan"}) || sum.SettingsWritten != 1 || len(sum.Invalid) != 2 {
		t.Fatalf("summary %+v", sum)
	}
	st := n.FSM().State()
	u, ok := st.UserByName("ivan")
	if !ok {
		t.Fatal("ivan was not created")
	}
	if v, _ := st.Setting(u.ID, "inventree", "user", "LABEL_INLINE"); v != "True" {
		t.Errorf("LABEL_INLINE = %q, want True", v)
	}
}

func TestImportCommandLine(t *testing.T) {
	n, getenv := importNode(t)
	edx := fixtures(t, "edx", "json")
	tests := []struct {
		name string
		args []string
		env  func(string) string
		// wantErr is part of the error; usage says it is a usage error
		// (exit status 2).
		wantErr string
		usage   bool
		wantOut string
	}{
		{"no files", nil, getenv, "missing arguments", true, ""},
		{"bad format", []string{"--format", "xml", edx[0]}, getenv, "unknown format", true, ""},
		{"unknown extension", []string{"export.txt"}, getenv, "cannot tell its format", true, ""},
		{"missing file", []string{"nope.json"}, getenv, "no such file", false, ""},
		{"wrong format for the file", []string{"--format", "csv", edx[0]}, getenv, "does not say which table", false, ""},
		{"bad token", []string{"--token", "wrong", edx[0]}, getenv, "401", false, ""},
		{"no node", []string{"--addr", "127.0.0.1:1", edx[0]}, getenv, "no node reachable", false, ""},
		{"flags after the files, a second address", []string{edx[0], "--dry-run", "--addr", "127.0.0.1:1," + n.Addr, "--token", testnode.AdminToken},
			func(string) string { return "" }, "", false, "users: 2 to create, 0 matched by username"},
		{"text summary", edx, getenv, "", false, "preferences: 5 written, 0 unchanged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			err := runImport(context.Background(), tt.args, tt.env, &out, &errs)
			if tt.wantErr != "" {
				var ue *usageError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.As(err, &ue) != tt.usage {
					t.Fatalf("error %v, want %q (a usage error: %v)", err, tt.wantErr, tt.usage)
				}
				return
			}
			if err != nil {
				t.Fatalf("import: %v (%s)", err, errs.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

func TestImportManyParts(t *testing.T) {
	n, getenv := importNode(t)
	// A default quota the export exceeds: the import raises the user's.
	req, err := http.NewRequest(http.MethodPut, n.URL+"/api/admin/quotas/default", strings.NewReader(`{"max_preferences": 1000}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+testnode.AdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("default quota: %s", res.Status)
	}

	// 3000 preferences of 150-byte values: more than one request's worth.
	const count = 3000
	dir := t.TempDir()
	var prefs strings.Builder
	prefs.WriteString("id,user_id,key,value\n")
	for i := range count {
		fmt.Fprintf(&prefs, "%d,1,key-%04d,%s\n", i+1, i, strings.Repeat(string(rune('a'+i%26)), 150))
	}
	files := map[string]string{
		"auth_user.csv":               "id,username,is_staff,is_superuser\n1,bulk,f,f\n",
		"user_api_userpreference.csv": prefs.String(),
	}
	var args []string
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, path)
	}

	read, err := readImportFiles(args, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if parts := importer.Split(read.Plan, importPartBytes); len(parts) < 2 {
		t.Fatalf("the export fits in %d request; the test needs several", len(parts))
	}

	tests := []struct {
		name             string
		created, matched []string
		written, same    int
		quotaMaxPrefs    int64
	}{
		{"first", []string{"bulk"}, []string{}, count, 0, count},
		{"again", []string{}, []string{"bulk"}, 0, count, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, err := runImportJSON(t, getenv, args...)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			if !reflect.DeepEqual(sum.UsersCreated, tt.created) || !reflect.DeepEqual(sum.UsersMatched, tt.matched) ||
				sum.PreferencesWritten != tt.written || sum.PreferencesUnchanged != tt.same {
				t.Errorf("summary %+v", sum)
			}
			var raised int64
			for _, q := range sum.QuotaRaised {
				if q.User == "bulk" {
					raised = q.Quota["max_preferences"]
				}
			}
			if raised != tt.quotaMaxPrefs {
				t.Errorf("max_preferences raised to %d, want %d (%+v)", raised, tt.quotaMaxPrefs, sum.QuotaRaised)
			}
		})
	}
	st := n.FSM().State()
	u, ok := st.UserByName("bulk")
	if !ok || u.PrefCount != count || len(st.Prefs(u.ID)) != count {
		t.Fatalf("bulk holds %+v", u)
	}
	if q := st.Quota(u); q.MaxPreferences != count {
		t.Errorf("bulk's quota %+v", q)
	}
}
