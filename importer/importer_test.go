package importer_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/importer"
)

// The bcrypt hashes in the fixtures, as Django's BCryptPasswordHasher
// stores them after its "bcrypt$" prefix.
const (
	carolHash = "$2b$04$nRtaqnl0op.zliAT9geqeezUJWiU5pn5riGEnhVfRtKw4O9xMSrmG"
	erinHash  = "$2b$04$RVm9BfiokkFimiED4JAuNuZoqJvBSnhWkh6v4j34m.zTMWQ.vML9."
)

// readAll reads files into one Reader, each in the format its extension
// names, and builds the plan.
func readAll(t *testing.T, opts importer.Options, files ...string) importer.Result {
	t.Helper()
	r := importer.NewReader(opts)
	for _, f := range files {
		format, ok := importer.FormatOf(f)
		if !ok {
			t.Fatalf("%s: no format", f)
		}
		in, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		err = r.Add(filepath.Base(f), format, in)
		in.Close()
		if err != nil {
			t.Fatalf("Add(%s): %v", f, err)
		}
	}
	return r.Plan()
}

// withoutSources returns the plan with every Src cleared, so that plans
// read from different formats compare equal.
func withoutSources(p importer.Plan) importer.Plan {
	out := importer.Plan{}
	for _, u := range p.Users {
		u.Src = importer.Source{}
		out.Users = append(out.Users, u)
	}
	for _, pr := range p.Prefs {
		pr.Src = importer.Source{}
		out.Prefs = append(out.Prefs, pr)
	}
	for _, s := range p.Settings {
		s.Src = importer.Source{}
		out.Settings = append(out.Settings, s)
	}
	return out
}

func dyn(scope fsm.Scope, user, key, value string) importer.Setting {
	return importer.Setting{Registry: fsm.RegistryDynPrefs, Scope: scope, User: user, Key: key, Value: value}
}

func it(scope fsm.Scope, user, key, value string) importer.Setting {
	return importer.Setting{Registry: fsm.RegistryInvenTree, Scope: scope, User: user, Key: key, Value: value}
}

// wantPlans are the plans the fixtures of each product hold, values in
// their stored form.
var wantPlans = map[string]importer.Plan{
	"dynprefs": {
		Users: []importer.User{
			{Username: "root", Email: "root@example.com", IsStaff: true, IsSuperuser: true},
			{Username: "alice", Email: "alice@example.com"},
			{Username: "bob"},
		},
		Settings: []importer.Setting{
			dyn(fsm.ScopeGlobal, "", "user__registration_allowed", "True"),
			dyn(fsm.ScopeGlobal, "", "user__max_users", "150"),
			dyn(fsm.ScopeGlobal, "", "user__items_per_page", "30"),
			dyn(fsm.ScopeGlobal, "", "blog__featured_entry", "12"),
			dyn(fsm.ScopeGlobal, "", "type__cost", "111.10"),
			dyn(fsm.ScopeGlobal, "", "no_section", "True"),
			dyn(fsm.ScopeGlobal, "", "test__TestGlobal1", "a string, with a comma"),
			dyn(fsm.ScopeGlobal, "", "exam__duration", "1 02:03:04"),
			dyn(fsm.ScopeGlobal, "", "company__RegistrationDate", "2001-02-03"),
			dyn(fsm.ScopeGlobal, "", "company__OpenningTime", "09:30:00"),
			dyn(fsm.ScopeGlobal, "", "child__BirthDateTime", "2020-01-02T03:04:05.000150-06:00"),
			dyn(fsm.ScopeUser, "alice", "user__favorite_vegetable", "P"),
			dyn(fsm.ScopeUser, "alice", "user__favorite_vegetables", "P,T"),
			dyn(fsm.ScopeUser, "alice", "misc__favourite_colour", "Blue"),
			dyn(fsm.ScopeUser, "alice", "misc__is_zombie", "False"),
			dyn(fsm.ScopeUser, "bob", "test__SUserStringPref", ""),
			dyn(fsm.ScopeUser, "bob", "user__favorite_vegetables", ""),
		},
	},
	"inventree": {
		Users: []importer.User{
			{Username: "carol", Email: "carol@example.com", IsStaff: true, PasswordHash: carolHash},
			{Username: "dave", Email: "dave@example.com"},
		},
		Settings: []importer.Setting{
			it(fsm.ScopeGlobal, "", "INVENTREE_INSTANCE", "Acme Stores"),
			it(fsm.ScopeGlobal, "", "INVENTREE_COMPANY_NAME", "Acme, Inc."),
			it(fsm.ScopeGlobal, "", "CURRENCY_CODES", "AUD,USD,GBP"),
			it(fsm.ScopeGlobal, "", "INVENTREE_DEFAULT_CURRENCY", "GBP"),
			it(fsm.ScopeGlobal, "", "STOCK_STALE_DAYS", "30"),
			it(fsm.ScopeGlobal, "", "INVENTREE_RESTRICT_ABOUT", "True"),
			it(fsm.ScopeGlobal, "", "BARCODE_ENABLE", "False"),
			it(fsm.ScopeUser, "carol", "SEARCH_PREVIEW_RESULTS", "25"),
			it(fsm.ScopeUser, "carol", "LABEL_INLINE", "False"),
			it(fsm.ScopeUser, "carol", "DATE_DISPLAY_FORMAT", "DD/MM/YYYY"),
			it(fsm.ScopeUser, "dave", "STICKY_HEADER", "True"),
			{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeNotification, User: "carol",
				Key: "NOTIFICATION_METHOD_MAIL", Method: "mail", Value: "False"},
		},
	},
	"edx": {
		Users: []importer.User{
			{Username: "erin", Email: "erin@example.com", PasswordHash: erinHash},
			// frank is inactive: his password is not carried.
			{Username: "frank", Email: "frank@example.com"},
		},
		Prefs: []importer.Pref{
			{User: "erin", Key: "pref-lang", Value: "en"},
			{User: "erin", Key: "time_zone", Value: "Asia/Tokyo"},
			{User: "erin", Key: "dict_pref", Value: "{'int_key': 10}"},
			{User: "frank", Key: "account_privacy", Value: "private"},
			{User: "frank", Key: "multi-line", Value: "first line\nsecond line, with \"quotes\""},
		},
	},
}

// fixtureFiles lists a product's fixture files in one format.
func fixtureFiles(t *testing.T, product string, format importer.Format) []string {
	t.Helper()
	if format == importer.FormatJSON {
		return []string{filepath.Join("testdata", product, "dumpdata.json")}
	}
	files, err := filepath.Glob(filepath.Join("testdata", product, "csv", "*.csv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CSV fixtures for %s: %v", product, err)
	}
	return files
}

func TestReadFixtures(t *testing.T) {
	tests := []struct {
		product string
		format  importer.Format
		// carried and dropped count the password hashes carried and not.
		carried, dropped int
		ignored          map[string]int
	}{
		{"dynprefs", importer.FormatJSON, 0, 1, map[string]int{}},
		{"dynprefs", importer.FormatCSV, 0, 1, map[string]int{}},
		{"inventree", importer.FormatJSON, 1, 1, map[string]int{"part.part": 1}},
		{"inventree", importer.FormatCSV, 1, 1, map[string]int{}},
		{"edx", importer.FormatJSON, 1, 1, map[string]int{}},
		{"edx", importer.FormatCSV, 1, 1, map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.product+"/"+string(tt.format), func(t *testing.T) {
			res := readAll(t, importer.Options{}, fixtureFiles(t, tt.product, tt.format)...)
			if len(res.Problems) > 0 {
				t.Fatalf("problems: %+v", res.Problems)
			}
			if got, want := withoutSources(res.Plan), wantPlans[tt.product]; !reflect.DeepEqual(got, want) {
				t.Errorf("plan:\n got %+v\nwant %+v", got, want)
			}
			if res.PasswordsCarried != tt.carried || res.PasswordsDropped != tt.dropped {
				t.Errorf("passwords carried %d, dropped %d; want %d, %d",
					res.PasswordsCarried, res.PasswordsDropped, tt.carried, tt.dropped)
			}
			if !reflect.DeepEqual(res.Ignored, tt.ignored) {
				t.Errorf("ignored %v, want %v", res.Ignored, tt.ignored)
			}
		})
	}
}

func TestSources(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		// the source of the last preference or setting
		want importer.Source
	}{
		// The CSV record of the multi-line value starts on line 6.
		{"csv line", fixtureFiles(t, "edx", importer.FormatCSV), importer.Source{File: "user_api_userpreference.csv", Row: 6}},
		// The JSON object is the 7th of the file.
		{"json object", fixtureFiles(t, "edx", importer.FormatJSON), importer.Source{File: "dumpdata.json", Row: 7}},
		{"setting", fixtureFiles(t, "inventree", importer.FormatJSON), importer.Source{File: "dumpdata.json", Row: 15}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := readAll(t, importer.Options{}, tt.files...).Plan
			var got importer.Source
			if len(p.Settings) > 0 {
				got = p.Settings[len(p.Settings)-1].Src
			} else {
				got = p.Prefs[len(p.Prefs)-1].Src
			}
			if got != tt.want {
				t.Errorf("source %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProblems(t *testing.T) {
	res := readAll(t, importer.Options{}, filepath.Join("testdata", "problems", "dumpdata.json"))
	want := []struct {
		row    int
		reason string
	}{
		{2, "taken by another user"},
		{3, `is_staff is "maybe"`},
		{4, "no username"},
		{6, "user id 2 was not imported"},
		{7, "user id 9 is not in the user table; export auth_user too"},
		{8, `field "user" is not a user's pk or natural key`},
		{9, `no field "key"`},
		{10, "no key"},
		{11, `field "value" is not a string`},
	}
	got := map[int]string{}
	for _, p := range res.Problems {
		if p.File != "dumpdata.json" {
			t.Errorf("problem names file %q", p.File)
		}
		got[p.Row] += p.Reason
	}
	for _, w := range want {
		if !strings.Contains(got[w.row], w.reason) {
			t.Errorf("row %d: problem %q, want one containing %q", w.row, got[w.row], w.reason)
		}
	}
	if len(res.Problems) != len(want) {
		t.Errorf("%d problems, want %d: %+v", len(res.Problems), len(want), res.Problems)
	}
	wantPlan := importer.Plan{
		Users: []importer.User{{Username: "ivan"}},
		Prefs: []importer.Pref{{User: "ivan", Key: "pref-lang", Value: "en"}},
	}
	if got := withoutSources(res.Plan); !reflect.DeepEqual(got, wantPlan) {
		t.Errorf("plan %+v, want %+v", got, wantPlan)
	}
	if want := map[string]int{"sessions.session": 2}; !reflect.DeepEqual(res.Ignored, want) {
		t.Errorf("ignored %v, want %v", res.Ignored, want)
	}
}

func TestUnreadableFiles(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		format  importer.Format
		content string
		want    string
	}{
		{"empty json", "x.json", importer.FormatJSON, "  \n", "empty"},
		{"not json", "x.json", importer.FormatJSON, "id,key\n", "not a dumpdata export"},
		{"broken json", "x.json", importer.FormatJSON, `[{"model": "auth.user", "pk": 1,`, "object 1"},
		{"json not objects", "x.json", importer.FormatJSON, `[1, 2]`, "object 1"},
		{"csv without a table name", "export.csv", importer.FormatCSV, "id,key,value\n", "does not say which table"},
		{"csv missing a column", "common_inventreesetting.csv", importer.FormatCSV, "id,key\n1,A\n", "needs the columns value"},
		{"empty csv", "auth_user.csv", importer.FormatCSV, "", "empty"},
		{"ragged csv", "common_inventreesetting.csv", importer.FormatCSV, "id,key,value\n1,A\n", "wrong number of fields"},
		{"unknown format", "x.txt", importer.Format("xml"), "<a/>", "unknown format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := importer.NewReader(importer.Options{})
			err := r.Add(tt.file, tt.format, strings.NewReader(tt.content))
			if !errors.Is(err, importer.ErrFormat) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Add: %v, want ErrFormat containing %q", err, tt.want)
			}
			if res := r.Plan(); res.Plan.Len() != 0 || len(res.Problems) != 0 {
				t.Errorf("a refused file left %+v", res)
			}
		})
	}
}

func TestReadVariants(t *testing.T) {
	tests := []struct {
		name  string
		opts  importer.Options
		files map[string]string // name → content
		want  importer.Plan
	}{
		{
			name: "json lines",
			files: map[string]string{"edx.jsonl": `{"model": "auth.user", "pk": 3, "fields": {"username": "erin", "is_staff": false, "is_superuser": false}}
{"model": "user_api.userpreference", "pk": 1, "fields": {"user": 3, "key": "k", "value": "v"}}
`},
			want: importer.Plan{Users: []importer.User{{Username: "erin"}}, Prefs: []importer.Pref{{User: "erin", Key: "k", Value: "v"}}},
		},
		{
			name: "natural primary keys",
			files: map[string]string{"edx.json": `[{"model": "auth.user", "fields": {"username": "erin", "is_staff": true, "is_superuser": false}},
{"model": "user_api.userpreference", "fields": {"user": ["erin"], "key": "k", "value": "v"}}]`},
			want: importer.Plan{Users: []importer.User{{Username: "erin", IsStaff: true}}, Prefs: []importer.Pref{{User: "erin", Key: "k", Value: "v"}}},
		},
		{
			name: "csv columns in another order, foreign key without _id, byte order mark",
			files: map[string]string{
				"user_api_userpreference.csv": "\uFEFFvalue,key,user\nv,k,3\n",
				"auth_user.csv":               "is_superuser,is_staff,username,id\n1,0,erin,3\n",
			},
			want: importer.Plan{Users: []importer.User{{Username: "erin", IsSuperuser: true}}, Prefs: []importer.Pref{{User: "erin", Key: "k", Value: "v"}}},
		},
		{
			name: "a custom user model",
			opts: importer.Options{UserModel: "users.User"},
			files: map[string]string{
				"users_user.csv":                  "id,username,is_staff,is_superuser\n5,zoe,true,false\n",
				"common_inventreeusersetting.csv": "id,key,value,user_id\n1,search_regex,True,5\n",
			},
			want: importer.Plan{
				Users:    []importer.User{{Username: "zoe", IsStaff: true}},
				Settings: []importer.Setting{it(fsm.ScopeUser, "zoe", "SEARCH_REGEX", "True")},
			},
		},
		{
			name: "the same user exported twice",
			files: map[string]string{
				"auth_user.csv": "id,username,is_staff,is_superuser\n5,zoe,f,f\n",
				"users.json":    `[{"model": "auth.user", "pk": 5, "fields": {"username": "zoe", "is_staff": false, "is_superuser": false}}]`,
			},
			want: importer.Plan{Users: []importer.User{{Username: "zoe"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var files []string
			for name, content := range tt.files {
				f := filepath.Join(dir, name)
				if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				files = append(files, f)
			}
			res := readAll(t, tt.opts, files...)
			if len(res.Problems) > 0 {
				t.Fatalf("problems: %+v", res.Problems)
			}
			if got := withoutSources(res.Plan); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPasswordHash(t *testing.T) {
	tests := []struct {
		name, django, want string
	}{
		{"bcrypt", "bcrypt$" + carolHash, carolHash},
		{"bcrypt 2a", "bcrypt$$2a$04$nRtaqnl0op.zliAT9geqeezUJWiU5pn5riGEnhVfRtKw4O9xMSrmG", "$2a$04$nRtaqnl0op.zliAT9geqeezUJWiU5pn5riGEnhVfRtKw4O9xMSrmG"},
		{"bcrypt_sha256 hashes a digest", "bcrypt_sha256$" + carolHash, ""},
		{"pbkdf2", "pbkdf2_sha256$600000$salt$aGFzaA==", ""},
		{"argon2", "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA", ""},
		{"unusable", "!abcdef", ""},
		{"empty", "", ""},
		{"bcrypt prefix, not a hash", "bcrypt$nonsense", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := importer.PasswordHash(tt.django)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("PasswordHash(%q) = %q, %v; want %q", tt.django, got, ok, tt.want)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	tests := []struct {
		path string
		want importer.Format
		ok   bool
	}{
		{"a/dump.json", importer.FormatJSON, true},
		{"dump.JSONL", importer.FormatJSON, true},
		{"auth_user.csv", importer.FormatCSV, true},
		{"auth_user.tsv", "", false},
	}
	for _, tt := range tests {
		if got, ok := importer.FormatOf(tt.path); got != tt.want || ok != tt.ok {
			t.Errorf("FormatOf(%q) = %q, %v; want %q, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
	if f, err := importer.ParseFormat("CSV"); err != nil || f != importer.FormatCSV {
		t.Errorf("ParseFormat(CSV) = %q, %v", f, err)
	}
	if _, err := importer.ParseFormat("xml"); err == nil {
		t.Error("ParseFormat(xml) accepted")
	}
	if got := importer.Tables("users.user")[0]; got != "users_user" {
		t.Errorf("user table %q, want users_user", got)
	}
}
