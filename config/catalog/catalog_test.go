package catalog_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/prefsd/prefsd/config/catalog"
	"github.com/prefsd/prefsd/fsm"
)

// mustDefault returns the default catalogue or fails the test.
func mustDefault(t *testing.T) []fsm.SettingDef {
	t.Helper()
	defs, err := catalog.Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	return defs
}

// byKey indexes definitions by registry, scope and key.
func byKey(defs []fsm.SettingDef) map[string]fsm.SettingDef {
	out := make(map[string]fsm.SettingDef, len(defs))
	for _, d := range defs {
		out[fmt.Sprintf("%s/%s/%s", d.Registry, d.Scope, d.Key)] = d
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// choices builds a choice list from value, display name pairs.
func choices(pairs ...string) []fsm.Choice {
	var out []fsm.Choice
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, fsm.Choice{Value: pairs[i], DisplayName: pairs[i+1]})
	}
	return out
}

// The default catalogue holds what default.yaml transcribes, no more, no
// less.
func TestDefaultCounts(t *testing.T) {
	defs := mustDefault(t)
	got := map[string]int{}
	for _, d := range defs {
		got[string(d.Registry)+"/"+string(d.Scope)]++
	}
	want := map[string]int{
		"inventree/global":       52,
		"inventree/user":         19,
		"inventree/notification": 1,
		"dynprefs/global":        13,
		"dynprefs/user":          8,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("definitions per registry/scope = %v, want %v", got, want)
	}
	if len(defs) != 93 {
		t.Errorf("len(Default()) = %d, want 93", len(defs))
	}
}

// Every definition is valid, unique, and follows the conventions of its
// product.
func TestDefaultConventions(t *testing.T) {
	defs := mustDefault(t)
	seen := map[string]bool{}
	for _, d := range defs {
		id := fmt.Sprintf("%s/%s/%s", d.Registry, d.Scope, d.Key)
		if seen[id] {
			t.Errorf("%s: defined twice", id)
		}
		seen[id] = true
		if why := fsm.CheckDef(&d); why != "" {
			t.Errorf("%s: CheckDef: %s", id, why)
		}
		if why := fsm.ValidateSetting(&d, d.Default); why != "" {
			t.Errorf("%s: default %q refused: %s", id, d.Default, why)
		}
		if d.Type == fsm.TypeBoolean && d.Default != "True" && d.Default != "False" {
			t.Errorf("%s: boolean default %q, want True or False", id, d.Default)
		}
		if d.ID != 0 {
			t.Errorf("%s: id %d set before the state machine assigned one", id, d.ID)
		}
		switch d.Registry {
		case fsm.RegistryInvenTree:
			// InvenTree's own test: upper-case keys with a name and a
			// description.
			if d.Key != strings.ToUpper(d.Key) {
				t.Errorf("%s: InvenTree keys are upper-case", id)
			}
			if d.Name == "" || d.Description == "" {
				t.Errorf("%s: InvenTree settings have a name and a description", id)
			}
			if d.Section != "" {
				t.Errorf("%s: InvenTree settings have no section", id)
			}
			if (d.Scope == fsm.ScopeNotification) != (d.Method != "") {
				t.Errorf("%s: method %q: notification settings, and only they, have a method", id, d.Method)
			}
		case fsm.RegistryDynPrefs:
			if d.Section != "" && d.Key != d.Section+"__"+strings.TrimPrefix(d.Key, d.Section+"__") {
				t.Errorf("%s: key is not section__name for section %q", id, d.Section)
			}
			if d.Section == "" && strings.Contains(d.Key, "__") {
				t.Errorf("%s: a key without a section must not contain __", id)
			}
			if d.Section != "" && strings.Count(d.Key, "__") != 1 {
				t.Errorf("%s: an identifier splits into exactly a section and a name", id)
			}
		}
	}
}

// Spot checks against the research notes' catalogue.
func TestDefaultMatchesReference(t *testing.T) {
	all := byKey(mustDefault(t))
	tests := []struct {
		key  string
		want fsm.SettingDef
	}{
		{"inventree/global/INVENTREE_INSTANCE", fsm.SettingDef{
			Registry: "inventree", Scope: "global", Key: "INVENTREE_INSTANCE", Type: fsm.TypeString,
			Name: "Server Instance Name", Description: "String descriptor for the server instance", Default: "InvenTree"}},
		{"inventree/global/INVENTREE_INSTANCE_ID", fsm.SettingDef{
			Registry: "inventree", Scope: "global", Key: "INVENTREE_INSTANCE_ID", Type: fsm.TypeString,
			Name: "Instance ID", Description: "Unique identifier for this InvenTree instance", Default: "", Hidden: true}},
		{"inventree/global/INVENTREE_RESTRICT_ABOUT", fsm.SettingDef{
			Registry: "inventree", Scope: "global", Key: "INVENTREE_RESTRICT_ABOUT", Type: fsm.TypeBoolean,
			Name: "Restrict showing `about`", Description: "Show the `about` modal only to superusers", Default: "False"}},
		{"inventree/global/INVENTREE_BASE_URL", fsm.SettingDef{
			Registry: "inventree", Scope: "global", Key: "INVENTREE_BASE_URL", Type: fsm.TypeString,
			Name: "Base URL", Description: "Base URL for server instance", Default: "", Validator: "url"}},
		{"inventree/global/CURRENCY_CODES", fsm.SettingDef{
			Registry: "inventree", Scope: "global", Key: "CURRENCY_CODES", Type: fsm.TypeString,
			Name: "Supported Currencies", Description: "List of supported currency codes",
			Default: "AUD,CAD,CNY,EUR,GBP,JPY,NZD,USD", Validator: "currency_codes"}},
		{"inventree/global/INVENTREE_DOWNLOAD_IMAGE_MAX_SIZE", fsm.SettingDef{
			Registry: "inventree", Scope: "global", Key: "INVENTREE_DOWNLOAD_IMAGE_MAX_SIZE", Type: fsm.TypeInteger,
			Name: "Download Size Limit", Description: "Maximum allowable download size for remote image",
			Default: "1", Units: "MB", Min: ptr(1.0), Max: ptr(25.0)}},
		{"inventree/global/STOCK_STALE_DAYS", fsm.SettingDef{
			Registry: "inventree", Scope: "global", Key: "STOCK_STALE_DAYS", Type: fsm.TypeInteger,
			Name: "Stock Stale Time", Description: "Number of days stock items are considered stale before expiring",
			Default: "0", Units: "days"}},
		{"inventree/global/REPORT_DEFAULT_PAGE_SIZE", fsm.SettingDef{
			Registry: "inventree", Scope: "global", Key: "REPORT_DEFAULT_PAGE_SIZE", Type: fsm.TypeChoice,
			Name: "Page Size", Description: "Default page size for PDF reports", Default: "A4",
			Choices: choices("A4", "A4", "A3", "A3", "Legal", "Legal", "Letter", "Letter")}},
		{"inventree/global/SERVER_RESTART_REQUIRED", fsm.SettingDef{
			Registry: "inventree", Scope: "global", Key: "SERVER_RESTART_REQUIRED", Type: fsm.TypeBoolean,
			Name: "Restart required", Description: "A setting has been changed which requires a server restart",
			Default: "False", Hidden: true}},
		{"inventree/user/SEARCH_PREVIEW_RESULTS", fsm.SettingDef{
			Registry: "inventree", Scope: "user", Key: "SEARCH_PREVIEW_RESULTS", Type: fsm.TypeInteger,
			Name: "Search Preview Results", Description: "Number of results to show in each section of the search preview window",
			Default: "10", Min: ptr(1.0)}},
		{"inventree/user/LABEL_INLINE", fsm.SettingDef{
			Registry: "inventree", Scope: "user", Key: "LABEL_INLINE", Type: fsm.TypeBoolean,
			Name: "Inline label display", Description: "Display PDF labels in the browser, instead of downloading as a file",
			Default: "True"}},
		{"inventree/user/DATE_DISPLAY_FORMAT", fsm.SettingDef{
			Registry: "inventree", Scope: "user", Key: "DATE_DISPLAY_FORMAT", Type: fsm.TypeChoice,
			Name: "Date Format", Description: "Preferred format for displaying dates", Default: "YYYY-MM-DD",
			Choices: choices(
				"YYYY-MM-DD", "2022-02-22", "YYYY/MM/DD", "2022/22/22", "DD-MM-YYYY", "22-02-2022",
				"DD/MM/YYYY", "22/02/2022", "MM-DD-YYYY", "02-22-2022", "MM/DD/YYYY", "02/22/2022",
				"MMM DD YYYY", "Feb 22 2022",
			)}},
		{"inventree/notification/NOTIFICATION_METHOD_MAIL", fsm.SettingDef{
			Registry: "inventree", Scope: "notification", Key: "NOTIFICATION_METHOD_MAIL", Type: fsm.TypeBoolean,
			Name: "Enable email notifications", Description: "Allow sending of emails for event notifications",
			Default: "True", Method: "mail"}},
		{"dynprefs/global/exam__duration", fsm.SettingDef{
			Registry: "dynprefs", Scope: "global", Key: "exam__duration", Section: "exam", Type: fsm.TypeDuration, Default: "03:00:00"}},
		{"dynprefs/global/child__BirthDateTime", fsm.SettingDef{
			Registry: "dynprefs", Scope: "global", Key: "child__BirthDateTime", Section: "child", Type: fsm.TypeDateTime,
			Default: "1992-05-04T03:04:10.000150+00:00"}},
		{"dynprefs/global/blog__featured_entry", fsm.SettingDef{
			Registry: "dynprefs", Scope: "global", Key: "blog__featured_entry", Section: "blog", Type: fsm.TypeRelated,
			ModelName: "test_app.blogentry"}},
		{"dynprefs/global/no_section", fsm.SettingDef{
			Registry: "dynprefs", Scope: "global", Key: "no_section", Type: fsm.TypeBoolean, Default: "False"}},
		{"dynprefs/user/user__favorite_vegetables", fsm.SettingDef{
			Registry: "dynprefs", Scope: "user", Key: "user__favorite_vegetables", Section: "user", Type: fsm.TypeMultipleChoice,
			Default: `["C","P"]`,
			Choices: choices("C", "Carrot", "T", "Tomato. I know, it's not a vegetable", "P", "Potato")}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got, ok := all[tt.key]
			if !ok {
				t.Fatalf("not defined")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("definition\n got: %+v\nwant: %+v", got, tt.want)
			}
		})
	}
}

// The default currency's choices are the currencies of CURRENCY_CODES'
// default, named as fsm names them.
func TestDefaultCurrencyChoices(t *testing.T) {
	all := byKey(mustDefault(t))
	codes := strings.Split(all["inventree/global/CURRENCY_CODES"].Default, ",")
	d := all["inventree/global/INVENTREE_DEFAULT_CURRENCY"]
	if d.Type != fsm.TypeChoice || d.Default != "USD" {
		t.Fatalf("INVENTREE_DEFAULT_CURRENCY = %+v, want a choice defaulting to USD", d)
	}
	var got []string
	for _, c := range d.Choices {
		got = append(got, c.Value)
		if want := fsm.CurrencyName(c.Value); c.DisplayName != want {
			t.Errorf("choice %s display name %q, want %q", c.Value, c.DisplayName, want)
		}
	}
	if !slices.Equal(got, codes) {
		t.Errorf("choices %v, want %v", got, codes)
	}
}

// The validators the catalogue expresses behave as the products do.
func TestDefaultValidation(t *testing.T) {
	all := byKey(mustDefault(t))
	tests := []struct {
		key, value, want string
	}{
		{"inventree/user/SEARCH_PREVIEW_RESULTS", "5", ""},
		{"inventree/user/SEARCH_PREVIEW_RESULTS", "0", fsm.ReasonMin},
		{"inventree/user/SEARCH_PREVIEW_RESULTS", "-5", fsm.ReasonMin},
		{"inventree/user/SEARCH_PREVIEW_RESULTS", "not a number", fsm.ReasonType},
		{"inventree/user/DATE_DISPLAY_FORMAT", "MM/DD/YYYY", ""},
		{"inventree/user/DATE_DISPLAY_FORMAT", "cat", fsm.ReasonChoice},
		{"inventree/user/DATE_DISPLAY_FORMAT", "12345", fsm.ReasonChoice},
		{"inventree/global/CURRENCY_CODES", "AUD,USD,GBP", ""},
		{"inventree/global/CURRENCY_CODES", "USD,XYZ", fsm.ReasonValidator},
		{"inventree/global/CURRENCY_CODES", ",,,,,", fsm.ReasonValidator},
		{"inventree/global/INVENTREE_BASE_URL", "", ""},
		{"inventree/global/INVENTREE_BASE_URL", "http://localhost", ""},
		{"inventree/global/INVENTREE_BASE_URL", "inventree", fsm.ReasonValidator},
		{"inventree/global/INVENTREE_DOWNLOAD_IMAGE_MAX_SIZE", "26", fsm.ReasonMax},
		{"inventree/global/INVENTREE_DEFAULT_CURRENCY", "EUR", ""},
		{"inventree/global/INVENTREE_DEFAULT_CURRENCY", "XYZ", fsm.ReasonChoice},
		{"dynprefs/global/user__max_users", "16", ""},
		{"dynprefs/global/user__max_users", "666", ""},
		{"dynprefs/global/user__max_users", "1000", ""},
		{"dynprefs/global/user__max_users", "10010", ""},
		{"dynprefs/global/user__max_users", "-1001", ""},
		{"dynprefs/global/user__max_users", "1", ""},
		{"dynprefs/global/user__max_users", "1001", fsm.ReasonRegex},
		{"dynprefs/global/type__cost", "111.11", ""},
		{"dynprefs/user/user__favorite_vegetable", "P", ""},
		{"dynprefs/user/user__favorite_vegetable", "Z", fsm.ReasonChoice},
		{"dynprefs/user/user__favorite_vegetables", `["C","T"]`, ""},
		{"dynprefs/user/user__favorite_vegetables", `["T","C"]`, fsm.ReasonType},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			d, ok := all[tt.key]
			if !ok {
				t.Fatalf("not defined")
			}
			if got := fsm.ValidateSetting(&d, tt.value); got != tt.want {
				t.Errorf("ValidateSetting(%q) = %q, want %q", tt.value, got, tt.want)
			}
		})
	}
}

// Default hands out a fresh copy each time.
func TestDefaultIsFresh(t *testing.T) {
	a := mustDefault(t)
	a[0].Key = "CHANGED"
	a[7].Choices[0].Value = "CHANGED"
	b := mustDefault(t)
	if b[0].Key == "CHANGED" || b[7].Choices[0].Value == "CHANGED" {
		t.Errorf("a change to one result shows in the next")
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		// want is the number of definitions read, or -1 for an error
		// containing wantErr.
		want    int
		wantErr string
	}{
		{"yaml", `
settings:
  - {registry: inventree, scope: global, key: A, type: boolean, default: "True"}
  - {registry: inventree, scope: user, key: A, type: integer, default: "3", min: 1, max: 5}
  - {registry: dynprefs, scope: global, key: A, type: string, default: ""}
`, 3, ""},
		{"json", `{"settings": [{"registry": "inventree", "scope": "global", "key": "A", "type": "choice",
			"default": "x", "choices": [{"value": "x", "display_name": "X"}]}]}`, 1, ""},
		{"empty list", "settings: []\n", 0, ""},
		{"empty document", "", -1, "empty document"},
		{"no settings list", "{}\n", -1, "no settings list"},
		{"two documents", "settings: []\n---\nsettings: []\n", -1, "more than one document"},
		{"malformed", "settings: [\n", -1, "catalogue: yaml"},
		{"unknown top-level field", "settings: []\nextra: 1\n", -1, "field extra not found"},
		{"unknown field", `
settings:
  - {registry: inventree, scope: global, key: A, type: boolean, default: "True", requires_restart: true}
`, -1, "field requires_restart not found"},
		{"id is not a field", `
settings:
  - {registry: inventree, scope: global, key: A, type: boolean, default: "True", id: 7}
`, -1, "field id not found"},
		{"unknown type", `
settings:
  - {registry: inventree, scope: global, key: OK, type: boolean, default: "True"}
  - {registry: inventree, scope: global, key: BAD_TYPE, type: bool, default: "True"}
`, -1, `setting 2 (inventree/global key "BAD_TYPE"): unknown type "bool"`},
		{"unknown registry", `
settings:
  - {registry: django, scope: global, key: X, type: string}
`, -1, `key "X"): unknown registry "django"`},
		{"bad default", `
settings:
  - {registry: inventree, scope: global, key: BAD_DEFAULT, type: integer, default: "01"}
`, -1, `key "BAD_DEFAULT"): default is not valid: type`},
		{"default below min", `
settings:
  - {registry: inventree, scope: global, key: LOW, type: integer, default: "0", min: 1}
`, -1, `key "LOW"): default is not valid: min`},
		{"choice without choices", `
settings:
  - {registry: inventree, scope: global, key: C, type: choice}
`, -1, `key "C"): a choice setting needs choices`},
		{"wrong field type", `
settings:
  - {registry: inventree, scope: global, key: M, type: integer, min: lots}
`, -1, "cannot unmarshal"},
		{"duplicate key", `
settings:
  - {registry: inventree, scope: global, key: DUP, type: boolean, default: "True"}
  - {registry: inventree, scope: user, key: DUP, type: boolean, default: "True"}
  - {registry: inventree, scope: global, key: DUP, type: string}
`, -1, `setting 3 (inventree/global key "DUP"): defined twice (first as setting 1)`},
		{"duplicate field", `
settings:
  - {registry: inventree, scope: global, key: A, key: B, type: string}
`, -1, "already defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defs, err := catalog.Load(strings.NewReader(tt.doc))
			if tt.want < 0 {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want one containing %q", err, tt.wantErr)
				}
				if defs != nil {
					t.Errorf("Load returned %d definitions with its error", len(defs))
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(defs) != tt.want {
				t.Errorf("Load read %d definitions, want %d", len(defs), tt.want)
			}
		})
	}
}

// Load reads every field of a definition.
func TestLoadAllFields(t *testing.T) {
	defs, err := catalog.Load(strings.NewReader(`
settings:
  - registry: inventree
    scope: notification
    key: K
    type: integer
    section: s
    name: N
    description: D
    default: "5"
    units: days
    min: 1.5
    max: 10
    regex: "[0-9]+"
    hidden: true
    protected: true
    method: mail
  - registry: dynprefs
    scope: user
    key: s__r
    type: related
    model_name: app.model
  - registry: inventree
    scope: global
    key: C
    type: string
    validator: currency_codes
    default: USD
`))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []fsm.SettingDef{
		{Registry: "inventree", Scope: "notification", Key: "K", Type: fsm.TypeInteger, Section: "s", Name: "N",
			Description: "D", Default: "5", Units: "days", Min: ptr(1.5), Max: ptr(10.0), Regex: "[0-9]+",
			Hidden: true, Protected: true, Method: "mail"},
		{Registry: "dynprefs", Scope: "user", Key: "s__r", Type: fsm.TypeRelated, ModelName: "app.model"},
		{Registry: "inventree", Scope: "global", Key: "C", Type: fsm.TypeString, Validator: "currency_codes", Default: "USD"},
	}
	if !reflect.DeepEqual(defs, want) {
		t.Errorf("Load\n got: %+v\nwant: %+v", defs, want)
	}
}

// The default catalogue goes through the state machine as the first leader
// installs it: every definition is accepted, ids follow the file's order,
// and each registry and scope lists its definitions in that order.
func TestDefaultThroughFSM(t *testing.T) {
	defs := mustDefault(t)
	f := fsm.New(nil)
	cmd, err := fsm.Encode(fsm.CmdPutCatalog, fsm.PutCatalog{Defs: defs})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	res, ok := f.Apply(&raft.Log{Index: 1, Term: 1, Type: raft.LogCommand, Data: fsm.Stamp(cmd, 1)}).(fsm.Result)
	if !ok {
		t.Fatalf("Apply did not return an fsm.Result")
	}
	if res.Err != nil {
		t.Fatalf("PutCatalog(Default()): %v", res.Err)
	}
	st := f.State()
	if st.CatalogVersion() != 1 {
		t.Errorf("CatalogVersion = %d, want 1", st.CatalogVersion())
	}
	stored := st.CatalogAll()
	if len(stored) != len(defs) {
		t.Fatalf("state holds %d definitions, want %d", len(stored), len(defs))
	}
	for i, d := range stored {
		want := defs[i]
		want.ID = d.ID
		if !reflect.DeepEqual(*d, want) {
			t.Errorf("definition %d\n got: %+v\nwant: %+v", i, *d, want)
		}
		if i > 0 && d.ID <= stored[i-1].ID {
			t.Errorf("definition %s has id %d, not after %d", d.Key, d.ID, stored[i-1].ID)
		}
	}
	for _, rs := range []struct {
		r fsm.Registry
		s fsm.Scope
	}{
		{fsm.RegistryInvenTree, fsm.ScopeGlobal}, {fsm.RegistryInvenTree, fsm.ScopeUser},
		{fsm.RegistryInvenTree, fsm.ScopeNotification}, {fsm.RegistryDynPrefs, fsm.ScopeGlobal},
		{fsm.RegistryDynPrefs, fsm.ScopeUser},
	} {
		var want []string
		for _, d := range defs {
			if d.Registry == rs.r && d.Scope == rs.s {
				want = append(want, d.Key)
			}
		}
		var got []string
		for _, d := range st.Catalog(rs.r, rs.s) {
			got = append(got, d.Key)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Catalog(%s, %s) = %v, want %v", rs.r, rs.s, got, want)
		}
	}

	// Every default is a value the state machine accepts.
	for _, rs := range []struct {
		r fsm.Registry
		s fsm.Scope
	}{{fsm.RegistryInvenTree, fsm.ScopeGlobal}, {fsm.RegistryDynPrefs, fsm.ScopeGlobal}} {
		var kvs []fsm.KV
		for _, d := range st.Catalog(rs.r, rs.s) {
			kvs = append(kvs, fsm.KV{Key: d.Key, Value: d.Default})
		}
		cmd, err := fsm.Encode(fsm.CmdSetSettings, fsm.SetSettings{Registry: rs.r, Scope: rs.s, Values: kvs})
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		res := f.Apply(&raft.Log{Index: f.Index() + 1, Term: 1, Type: raft.LogCommand, Data: fsm.Stamp(cmd, 2)}).(fsm.Result)
		if res.Err != nil {
			t.Errorf("SetSettings(%s, %s, defaults): %v", rs.r, rs.s, res.Err)
		}
		if got := len(f.State().Settings(0, rs.r, rs.s)); got != len(kvs) {
			t.Errorf("%s/%s: %d values stored, want %d", rs.r, rs.s, got, len(kvs))
		}
	}
}
