package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prefsd/prefsd/api"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// The InvenTree dialect's answers, recorded in testdata/inventree/*.golden.
// The cases follow InvenTree's own settings API tests, case by case, read
// as API version 327 answers them
// (values are strings), then the authorization rows and Django REST
// framework's conventions.
//
// Ids depend on the order in which a node allocates them, so the golden
// files show them symbolically: <id:owner> is the case's owner's user id,
// <pk:KEY> a global setting's pk (its definition id), <pk:owner:KEY> the pk
// of the owner's user or notification setting. A symbol appears only where
// the number is exactly that id (or pk = userID<<20 | definition id), so
// the golden files check the pk formula too.

// itHost is the Host header of every golden request, so that absolute URLs
// are stable.
const itHost = "inventree.test"

// itCatalogJSON defines the settings the tests use: InvenTree's own keys,
// names, descriptions, defaults and validators (reference section 5),
// installed through the admin API.
const itCatalogJSON = `[
 {"registry": "inventree", "scope": "global", "key": "INVENTREE_INSTANCE", "type": "string", "name": "Server Instance Name", "description": "String descriptor for the server instance", "default": "InvenTree"},
 {"registry": "inventree", "scope": "global", "key": "INVENTREE_INSTANCE_TITLE", "type": "boolean", "name": "Use instance name", "description": "Use the instance name in the title-bar", "default": "False"},
 {"registry": "inventree", "scope": "global", "key": "INVENTREE_INSTANCE_ID", "type": "string", "name": "Instance ID", "description": "Unique identifier for this InvenTree instance", "default": "", "hidden": true},
 {"registry": "inventree", "scope": "global", "key": "INVENTREE_ANNOUNCE_ID", "type": "boolean", "name": "Announce ID", "description": "Announce the instance ID of the server in the server status info (unauthenticated)", "default": "False"},
 {"registry": "inventree", "scope": "global", "key": "INVENTREE_RESTRICT_ABOUT", "type": "boolean", "name": "Restrict showing ` + "`about`" + `", "description": "Show the ` + "`about`" + ` modal only to superusers", "default": "False"},
 {"registry": "inventree", "scope": "global", "key": "INVENTREE_COMPANY_NAME", "type": "string", "name": "Company name", "description": "Internal company name", "default": "My company name"},
 {"registry": "inventree", "scope": "global", "key": "INVENTREE_BASE_URL", "type": "string", "name": "Base URL", "description": "Base URL for server instance", "default": "", "validator": "url"},
 {"registry": "inventree", "scope": "global", "key": "INVENTREE_DEFAULT_CURRENCY", "type": "choice", "name": "Default Currency", "description": "Select base currency for pricing calculations", "default": "USD",
  "choices": [{"value": "AUD", "display_name": "Australian Dollar"}, {"value": "CAD", "display_name": "Canadian Dollar"}, {"value": "CNY", "display_name": "Yuan Renminbi"}, {"value": "EUR", "display_name": "Euro"},
   {"value": "GBP", "display_name": "Pound Sterling"}, {"value": "JPY", "display_name": "Yen"}, {"value": "NZD", "display_name": "New Zealand Dollar"}, {"value": "USD", "display_name": "US Dollar"}]},
 {"registry": "inventree", "scope": "global", "key": "CURRENCY_CODES", "type": "string", "name": "Supported Currencies", "description": "List of supported currency codes", "default": "AUD,CAD,CNY,EUR,GBP,JPY,NZD,USD", "validator": "currency_codes"},
 {"registry": "inventree", "scope": "global", "key": "CURRENCY_UPDATE_INTERVAL", "type": "integer", "name": "Currency Update Interval", "description": "How often to update exchange rates (set to zero to disable)", "default": "1", "units": "days", "min": 0},
 {"registry": "inventree", "scope": "global", "key": "CURRENCY_UPDATE_PLUGIN", "type": "string", "name": "Currency Update Plugin", "description": "Currency update plugin to use", "default": "inventreecurrencyexchange"},
 {"registry": "inventree", "scope": "global", "key": "INVENTREE_DOWNLOAD_IMAGE_MAX_SIZE", "type": "integer", "name": "Download Size Limit", "description": "Maximum allowable download size for remote image", "default": "1", "units": "MB", "min": 1, "max": 25},
 {"registry": "inventree", "scope": "global", "key": "REPORT_DEFAULT_PAGE_SIZE", "type": "choice", "name": "Page Size", "description": "Default page size for PDF reports", "default": "A4",
  "choices": [{"value": "A4", "display_name": "A4"}, {"value": "A3", "display_name": "A3"}, {"value": "Legal", "display_name": "Legal"}, {"value": "Letter", "display_name": "Letter"}]},
 {"registry": "inventree", "scope": "global", "key": "STOCK_STALE_DAYS", "type": "integer", "name": "Stock Stale Time", "description": "Number of days stock items are considered stale before expiring", "default": "0", "units": "days"},
 {"registry": "inventree", "scope": "global", "key": "SERVER_RESTART_REQUIRED", "type": "boolean", "name": "Restart required", "description": "A setting has been changed which requires a server restart", "default": "False", "hidden": true},
 {"registry": "inventree", "scope": "global", "key": "_PENDING_MIGRATIONS", "type": "integer", "name": "Pending migrations", "description": "Number of pending database migrations", "default": "0"},
 {"registry": "inventree", "scope": "user", "key": "LABEL_INLINE", "type": "boolean", "name": "Inline label display", "description": "Display PDF labels in the browser, instead of downloading as a file", "default": "True"},
 {"registry": "inventree", "scope": "user", "key": "SEARCH_PREVIEW_SHOW_PARTS", "type": "boolean", "name": "Search Parts", "description": "Display parts in search preview window", "default": "True"},
 {"registry": "inventree", "scope": "user", "key": "SEARCH_PREVIEW_SHOW_CATEGORIES", "type": "boolean", "name": "Search Categories", "description": "Display part categories in search preview window", "default": "False"},
 {"registry": "inventree", "scope": "user", "key": "SEARCH_PREVIEW_SHOW_STOCK", "type": "boolean", "name": "Search Stock", "description": "Display stock items in search preview window", "default": "True"},
 {"registry": "inventree", "scope": "user", "key": "SEARCH_PREVIEW_RESULTS", "type": "integer", "name": "Search Preview Results", "description": "Number of results to show in each section of the search preview window", "default": "10", "min": 1},
 {"registry": "inventree", "scope": "user", "key": "SEARCH_REGEX", "type": "boolean", "name": "Regex Search", "description": "Enable regular expressions in search queries", "default": "False"},
 {"registry": "inventree", "scope": "user", "key": "DATE_DISPLAY_FORMAT", "type": "choice", "name": "Date Format", "description": "Preferred format for displaying dates", "default": "YYYY-MM-DD",
  "choices": [{"value": "YYYY-MM-DD", "display_name": "2022-02-22"}, {"value": "YYYY/MM/DD", "display_name": "2022/22/22"}, {"value": "DD-MM-YYYY", "display_name": "22-02-2022"}, {"value": "DD/MM/YYYY", "display_name": "22/02/2022"},
   {"value": "MM-DD-YYYY", "display_name": "02-22-2022"}, {"value": "MM/DD/YYYY", "display_name": "02/22/2022"}, {"value": "MMM DD YYYY", "display_name": "Feb 22 2022"}]},
 {"registry": "inventree", "scope": "notification", "key": "NOTIFICATION_METHOD_MAIL", "type": "boolean", "name": "Enable email notifications", "description": "Allow sending of emails for event notifications", "default": "True", "method": "mail"}
]`

// itCatalog returns the test catalogue's definitions.
func itCatalog(t testing.TB) []fsm.SettingDef {
	t.Helper()
	var defs []fsm.SettingDef
	if err := json.Unmarshal([]byte(itCatalogJSON), &defs); err != nil {
		t.Fatalf("test catalogue: %v", err)
	}
	return defs
}

// installITCatalog adds the test catalogue to the node's catalogue.
func installITCatalog(t testing.TB, f *fixture, defs []fsm.SettingDef) {
	t.Helper()
	f.admin(t, http.MethodPut, "/api/admin/catalog", map[string]any{"replace": false, "settings": defs}, http.StatusOK)
}

// ---------------------------------------------------------------------------
// The golden runner

// superNonStaff is a superuser without staff status.
const superNonStaff role = "supernonstaff"

// itStep is one request of an InvenTree golden case.
type itStep struct {
	// setup steps must succeed (2xx) and are recorded by request line and
	// status only.
	setup bool
	as    role
	// auth, if set, is the raw Authorization header and as is ignored.
	auth   string
	method string
	// path may hold {owner}, {other}, {staff} (usernames) and
	// {pk:<role>:<KEY>} (the pk of that user's notification setting).
	path  string
	ctype string
	body  string
	// accept is the Accept header, if set.
	accept string
	status int
	note   string
}

type itCase struct {
	name string
	ref  string
	// scheme is the Authorization scheme; "Token" unless set.
	scheme string
	steps  []itStep
}

func itGet(as role, path string, status int) itStep {
	return itStep{as: as, method: http.MethodGet, path: path, status: status}
}

func itPatch(as role, path, body string, status int) itStep {
	return itStep{as: as, method: http.MethodPatch, path: path, ctype: ctJSON, body: body, status: status}
}

func itPut(as role, path, body string, status int) itStep {
	return itStep{as: as, method: http.MethodPut, path: path, ctype: ctJSON, body: body, status: status}
}

func itDo(as role, method, path string, status int) itStep {
	return itStep{as: as, method: method, path: path, status: status}
}

func itNote(s itStep, note string) itStep {
	s.note = note
	return s
}

// itSetup returns s as a setup step.
func itSetup(s itStep) itStep {
	s.setup = true
	return s
}

// itValue is a PATCH of {"value": <json>}.
func itValue(as role, path, jsonValue string, status int) itStep {
	return itPatch(as, path, `{"value": `+jsonValue+`}`, status)
}

// itRunner runs golden cases against one node.
type itRunner struct {
	f *fixture
	// admin is the built-in superuser's id.
	admin uint64
}

func newITRunner(t *testing.T) *itRunner {
	t.Helper()
	f := newFixture(t)
	installITCatalog(t, f, itCatalog(t))
	u, ok := f.node.FSM().State().UserByName("admin")
	if !ok {
		t.Fatal("no admin user")
	}
	return &itRunner{f: f, admin: u.ID}
}

func (r *itRunner) run(t *testing.T, dir string, cases []itCase) {
	t.Helper()
	seen := map[string]bool{}
	for _, gc := range cases {
		if seen[gc.name] {
			t.Fatalf("duplicate case %q", gc.name)
		}
		seen[gc.name] = true
		t.Run(gc.name, func(t *testing.T) {
			checkGolden(t, filepath.Join("testdata", dir, gc.name+".golden"), r.runCase(t, gc))
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.golden"))
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".golden")
		if !seen[name] {
			if *update {
				_ = os.Remove(file)
				continue
			}
			t.Errorf("%s has no case; run with -update to remove it", file)
		}
	}
}

var (
	itPlaceholder = regexp.MustCompile(`\{pk:([a-z]+):([A-Z_]+)\}`)
	itIDField     = regexp.MustCompile(`"(pk|user)":(\d+)`)
)

func (r *itRunner) runCase(t *testing.T, gc itCase) []byte {
	t.Helper()
	f := r.f
	scheme := gc.scheme
	if scheme == "" {
		scheme = "Token"
	}
	users := map[role]string{}
	ids := map[role]uint64{superuser: r.admin}
	ensure := func(ro role) string {
		if name, ok := users[ro]; ok {
			return name
		}
		name := gc.name + "_" + string(ro)
		if ro == superNonStaff {
			f.admin(t, http.MethodPost, "/api/admin/users", map[string]any{"username": name, "is_superuser": true}, http.StatusCreated)
			tok := f.newToken(t, name)
			f.mu.Lock()
			f.tokens[name] = tok
			f.mu.Unlock()
		} else {
			f.createUser(t, name, ro == staff)
		}
		u, ok := f.node.FSM().State().UserByName(name)
		if !ok {
			t.Fatalf("user %s not in the local state", name)
		}
		users[ro], ids[ro] = name, u.ID
		return name
	}
	expand := func(p string) string {
		for _, ro := range []role{owner, other, staff} {
			if ph := "{" + string(ro) + "}"; strings.Contains(p, ph) {
				p = strings.ReplaceAll(p, ph, ensure(ro))
			}
		}
		return itPlaceholder.ReplaceAllStringFunc(p, func(m string) string {
			sub := itPlaceholder.FindStringSubmatch(m)
			ro := role(sub[1])
			if ro != superuser {
				ensure(ro)
			}
			d, ok := f.node.FSM().State().SettingDef(fsm.RegistryInvenTree, fsm.ScopeNotification, sub[2])
			if !ok {
				t.Fatalf("placeholder %s: no notification setting %s", m, sub[2])
			}
			return strconv.FormatUint(ids[ro]<<20|d.ID, 10)
		})
	}
	// symbols names every id a body may show.
	symbols := func() map[string]string {
		out := map[string]string{}
		st := f.node.FSM().State()
		for ro, id := range ids {
			out[strconv.FormatUint(id, 10)] = "<id:" + string(ro) + ">"
		}
		for _, d := range st.Catalog(fsm.RegistryInvenTree, fsm.ScopeGlobal) {
			out[strconv.FormatUint(d.ID, 10)] = "<pk:" + d.Key + ">"
		}
		for _, sc := range []fsm.Scope{fsm.ScopeUser, fsm.ScopeNotification} {
			for _, d := range st.Catalog(fsm.RegistryInvenTree, sc) {
				out[strconv.FormatUint(d.ID, 10)] = "<id:" + d.Key + ">"
				for ro, id := range ids {
					out[strconv.FormatUint(id<<20|d.ID, 10)] = "<pk:" + string(ro) + ":" + d.Key + ">"
				}
			}
		}
		for ro, id := range ids {
			for _, kv := range st.Settings(id, fsm.RegistryInvenTree, fsm.ScopeUser) {
				out[strconv.FormatUint(api.InvenTreeObsoletePK(id, kv.Key), 10)] = "<obsolete:" + string(ro) + ":" + kv.Key + ">"
			}
		}
		for _, kv := range st.Settings(0, fsm.RegistryInvenTree, fsm.ScopeGlobal) {
			out[strconv.FormatUint(api.InvenTreeObsoletePK(0, kv.Key), 10)] = "<obsolete:" + kv.Key + ">"
		}
		return out
	}

	r.resetGlobals(t)
	var out bytes.Buffer
	fmt.Fprintf(&out, "# case: %s\n# reference: %s\n", gc.name, gc.ref)
	for i, s := range gc.steps {
		path := expand(s.path)
		auth, shown := s.auth, s.auth
		switch {
		case s.auth != "":
		case s.as == anonymous || s.as == "":
			shown = "(none)"
		case s.as == superuser:
			auth = scheme + " " + testnode.AdminToken
			shown = scheme + " <token of the superuser admin>"
		default:
			name := ensure(s.as)
			f.mu.Lock()
			auth = scheme + " " + f.tokens[name]
			f.mu.Unlock()
			shown = fmt.Sprintf("%s <token of %s>", scheme, s.as)
		}
		var body []byte
		if s.body != "" || s.ctype != "" {
			body = []byte(s.body)
		}
		resp := r.do(t, s, path, auth, body)
		// Golden files show the path with its placeholders, so that ids
		// do not leak into them; failures name the expanded path.
		ex := exchange{n: i + 1, method: s.method, path: s.path, as: s.as, note: s.note,
			shownAuth: shown, ctype: s.ctype, accept: s.accept, body: s.body, hasBody: body != nil}
		if s.setup {
			recordSetup(t, &out, ex, resp)
			continue
		}
		failEx := ex
		failEx.path = path
		checkStepStatus(t, failEx, resp, s.status)
		recordExchange(&out, ex, resp)
		syms := symbols()
		shownBody := itIDField.ReplaceAllStringFunc(string(resp.body), func(m string) string {
			sub := itIDField.FindStringSubmatch(m)
			if sym, ok := syms[sub[2]]; ok {
				return `"` + sub[1] + `":` + sym
			}
			return m
		})
		if len(resp.body) == 0 {
			shownBody = "(empty)"
		} else {
			shownBody = quoteIfNeeded(shownBody)
		}
		fmt.Fprintf(&out, "<<< body: %s\n", shownBody)
	}
	return out.Bytes()
}

// resetGlobals writes every global InvenTree setting back to its default,
// so that each case starts from the same state whatever ran before it.
// A value equal to the default answers as a value never written does.
func (r *itRunner) resetGlobals(t *testing.T) {
	t.Helper()
	cmd := fsm.SetSettings{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeGlobal}
	for _, d := range r.f.node.FSM().State().Catalog(fsm.RegistryInvenTree, fsm.ScopeGlobal) {
		if fsm.ValidateSetting(d, d.Default) == "" {
			cmd.Values = append(cmd.Values, fsm.KV{Key: d.Key, Value: d.Default})
		}
	}
	c, err := fsm.Encode(fsm.CmdSetSettings, cmd)
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := r.f.node.Apply(context.Background(), c)
	if err != nil || res.Err != nil {
		t.Fatalf("resetting the global settings: %v %v", err, res.Err)
	}
}

// do sends one golden request with the fixed Host header.
func (r *itRunner) do(t *testing.T, s itStep, path, auth string, body []byte) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(s.method, r.f.node.URL+path, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", s.method, path, err)
	}
	req.Host = itHost
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if s.ctype != "" {
		req.Header.Set("Content-Type", s.ctype)
	}
	if s.accept != "" {
		req.Header.Set("Accept", s.accept)
	}
	resp, err := r.f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", s.method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", s.method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// ---------------------------------------------------------------------------
// The cases

const (
	itGlobal = "/api/settings/global/"
	itUser   = "/api/settings/user/"
	itNotif  = "/api/settings/notification/"
)

func itCases() []itCase {
	gk := func(key string) string { return itGlobal + key + "/" }
	uk := func(key string) string { return itUser + key + "/" }
	var boolTrue, boolFalse, boolJunk []itStep
	for _, v := range []string{"true", "True", "1", "y", "TRUE"} {
		boolTrue = append(boolTrue, itValue(owner, uk("SEARCH_PREVIEW_SHOW_PARTS"), strconv.Quote(v), 200))
	}
	for _, v := range []string{"false", "False", "0", "n", "FalSe"} {
		boolFalse = append(boolFalse, itValue(owner, uk("SEARCH_PREVIEW_SHOW_PARTS"), strconv.Quote(v), 200))
	}
	for _, v := range []string{"x", "", "invalid", "None", "-1", "abcde"} {
		boolJunk = append(boolJunk, itSetup(itValue(owner, uk("SEARCH_PREVIEW_SHOW_PARTS"), `"True"`, 0)),
			itValue(owner, uk("SEARCH_PREVIEW_SHOW_PARTS"), strconv.Quote(v), 200))
	}
	return []itCase{
		// GlobalSettingsApiTest
		{name: "g01-global-settings-api-list", ref: "6 GlobalSettingsApiTest.test_global_settings_api_list: a plain array of every key not starting with _ (searched here, so that the file does not follow the default catalogue; TestInvenTreeListCounts checks the whole list)", steps: []itStep{
			itGet(owner, itGlobal+"?search=INVENTREE_INSTANCE", 200),
		}},
		{name: "g02-currency-settings", ref: "6 GlobalSettingsApiTest.test_currency_settings", steps: []itStep{
			itValue(staff, gk("CURRENCY_CODES"), `"USD,XYZ"`, 400),
			itValue(staff, gk("CURRENCY_CODES"), `"AUD,USD, AUD,AUD,"`, 400),
			itValue(staff, gk("CURRENCY_CODES"), `",,,,,"`, 400),
			itValue(staff, gk("CURRENCY_CODES"), `"AUD,USD,GBP"`, 200),
			itGet(staff, gk("CURRENCY_CODES"), 200),
		}},
		{name: "g03-company-name", ref: "6 GlobalSettingsApiTest.test_company_name", steps: []itStep{
			itSetup(itValue(staff, gk("INVENTREE_COMPANY_NAME"), `"test"`, 0)),
			itGet(owner, gk("INVENTREE_COMPANY_NAME"), 200),
			itSetup(itValue(staff, gk("INVENTREE_COMPANY_NAME"), `123`, 0)),
			itNote(itGet(owner, gk("INVENTREE_COMPANY_NAME"), 200), "the number 123 was stored as the string \"123\""),
			itSetup(itValue(staff, gk("INVENTREE_COMPANY_NAME"), `"My company nam3"`, 0)),
			itGet(owner, gk("INVENTREE_COMPANY_NAME"), 200),
			itValue(staff, gk("INVENTREE_COMPANY_NAME"), `"cat"`, 200),
			itValue(staff, gk("INVENTREE_COMPANY_NAME"), `"hat"`, 200),
			itValue(staff, gk("INVENTREE_COMPANY_NAME"), `"bat"`, 200),
			itValue(staff, gk("INVENTREE_COMPANY_NAME"), `"mat"`, 200),
			itGet(owner, gk("INVENTREE_COMPANY_NAME"), 200),
		}},
		{name: "g04-api-detail", ref: "6 GlobalSettingsApiTest.test_api_detail", steps: []itStep{
			itGet(staff, gk("apple"), 404),
			itGet(staff, gk("carrot"), 404),
			itGet(staff, gk("dog"), 404),
			itNote(itGet(staff, gk("INVENTREE_INSTANCE"), 200), "never written: the default"),
			itValue(staff, gk("INVENTREE_INSTANCE"), `"My new title"`, 200),
			itGet(staff, gk("INVENTREE_INSTANCE"), 200),
		}},
		{name: "g05-cast", ref: "6 GlobalSettingsApiTest.test_cast, as API 327 answers: strings, not native values", steps: []itStep{
			itNote(itGet(owner, itGlobal+"?search=INVENTREE_RESTRICT_ABOUT", 200), "never written: \"False\""),
			itValue(staff, gk("INVENTREE_RESTRICT_ABOUT"), `true`, 200),
			itGet(owner, gk("INVENTREE_RESTRICT_ABOUT"), 200),
			itValue(staff, gk("INVENTREE_RESTRICT_ABOUT"), `false`, 200),
			itGet(owner, gk("INVENTREE_RESTRICT_ABOUT"), 200),
		}},

		// UserSettingsApiTest
		{name: "u01-unauthenticated-user", ref: "6 UserSettingsApiTest.test_unauthenticated_user", steps: []itStep{
			itGet(anonymous, itUser, 401),
			itGet(anonymous, uk("LABEL_INLINE"), 401),
		}},
		{name: "u02-user-settings-api-list", ref: "6 UserSettingsApiTest.test_user_settings_api_list", steps: []itStep{
			itGet(owner, itUser+"?search=SEARCH_PREVIEW_SHOW", 200),
		}},
		{name: "u03-user-setting-invalid", ref: "6 UserSettingsApiTest.test_user_setting_invalid", steps: []itStep{
			itGet(owner, uk("DONKEY"), 404),
		}},
		{name: "u04-user-setting-init", ref: "6 UserSettingsApiTest.test_user_setting_init", steps: []itStep{
			itNote(itGet(owner, uk("LABEL_INLINE"), 200), "never written: \"True\""),
			itValue(owner, uk("LABEL_INLINE"), `"False"`, 200),
			itGet(owner, uk("LABEL_INLINE"), 200),
		}},
		{name: "u05-user-setting-boolean", ref: "6 UserSettingsApiTest.test_user_setting_boolean: truthy words, the rest False, never 400", steps: append(append(append([]itStep{
			itGet(owner, uk("SEARCH_PREVIEW_SHOW_PARTS"), 200)},
			boolTrue...), boolFalse...), append(boolJunk,
			itNote(itValue(owner, uk("SEARCH_PREVIEW_SHOW_PARTS"), `true`, 200), "JSON true is str()'d to \"True\""),
			itNote(itValue(owner, uk("SEARCH_PREVIEW_SHOW_PARTS"), `null`, 200), "null is \"\": False"),
			itNote(itValue(owner, uk("SEARCH_PREVIEW_SHOW_PARTS"), `" yes"`, 200), "no trimming: False"),
		)...)},
		{name: "u06-user-setting-choice", ref: "6 UserSettingsApiTest.test_user_setting_choice", steps: []itStep{
			itGet(owner, uk("DATE_DISPLAY_FORMAT"), 200),
			itValue(owner, uk("DATE_DISPLAY_FORMAT"), `"YYYY-MM-DD"`, 200),
			itValue(owner, uk("DATE_DISPLAY_FORMAT"), `"DD-MM-YYYY"`, 200),
			itValue(owner, uk("DATE_DISPLAY_FORMAT"), `"MM/DD/YYYY"`, 200),
			itValue(owner, uk("DATE_DISPLAY_FORMAT"), `"cat"`, 400),
			itValue(owner, uk("DATE_DISPLAY_FORMAT"), `"dog"`, 400),
			itValue(owner, uk("DATE_DISPLAY_FORMAT"), `12345`, 400),
			itNote(itValue(owner, uk("DATE_DISPLAY_FORMAT"), `""`, 400), "\"\" is not among the choices"),
			itGet(owner, uk("DATE_DISPLAY_FORMAT"), 200),
		}},
		{name: "u07-user-setting-integer", ref: "6 UserSettingsApiTest.test_user_setting_integer", steps: []itStep{
			itNote(itGet(owner, uk("SEARCH_PREVIEW_RESULTS"), 200), "default 10"),
			itSetup(itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `1`, 0)),
			itGet(owner, uk("SEARCH_PREVIEW_RESULTS"), 200),
			itSetup(itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `9`, 0)),
			itGet(owner, uk("SEARCH_PREVIEW_RESULTS"), 200),
			itSetup(itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `99`, 0)),
			itGet(owner, uk("SEARCH_PREVIEW_RESULTS"), 200),
			itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `5`, 200),
			itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `"15"`, 200),
			itNote(itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `" +0_25 "`, 200), "Python's int(): white space, sign, underscores"),
			itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `0`, 400),
			itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `-1`, 400),
			itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `"-5"`, 400),
			itNote(itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `5.0`, 400), "str(5.0) is \"5.0\": not an integer"),
			itNote(itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `99999999999999999999`, 400), "outside 64 bits"),
			itGet(owner, uk("SEARCH_PREVIEW_RESULTS"), 200),
		}},
		{name: "u08-cast", ref: "6 UserSettingsApiTest.test_cast, as API 327 answers: strings", steps: []itStep{
			itNote(itGet(owner, itUser+"?search=SEARCH_PREVIEW_RESULTS", 200), "never written: \"10\""),
			itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `"not a number"`, 400),
			itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `0`, 400),
			itSetup(itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `1`, 0)),
			itGet(owner, uk("SEARCH_PREVIEW_RESULTS"), 200),
			itSetup(itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `2`, 0)),
			itGet(owner, uk("SEARCH_PREVIEW_RESULTS"), 200),
			itSetup(itValue(owner, uk("SEARCH_PREVIEW_RESULTS"), `3`, 0)),
			itGet(owner, uk("SEARCH_PREVIEW_RESULTS"), 200),
		}},

		// NotificationUserSettingsApiTest (API <= 372)
		{name: "n01-notification-api-list", ref: "6 NotificationUserSettingsApiTest.test_api_list", steps: []itStep{
			itGet(owner, itNotif, 200),
		}},
		{name: "n02-notification-setting", ref: "6 NotificationUserSettingsApiTest.test_setting: set NOTIFICATION_METHOD_MAIL for a user", steps: []itStep{
			itValue(owner, itNotif+"{pk:owner:NOTIFICATION_METHOD_MAIL}/", `false`, 200),
			itValue(owner, itNotif+"{pk:owner:NOTIFICATION_METHOD_MAIL}/", `true`, 200),
			itGet(owner, itNotif+"{pk:owner:NOTIFICATION_METHOD_MAIL}/", 200),
			itPut(owner, itNotif+"{pk:owner:NOTIFICATION_METHOD_MAIL}", `{"value": "off"}`, 200),
			itGet(owner, itNotif, 200),
		}},

		// Model-level tests that constrain the API (SettingsTest)
		{name: "m01-case-insensitive", ref: "6 SettingsTest: lookup is case-insensitive", steps: []itStep{
			itGet(owner, gk("iNvEnTrEE_inSTanCE"), 200),
			itValue(owner, uk("label_inline"), `"no"`, 200),
			itGet(owner, uk("LABEL_INLINE"), 200),
		}},
		{name: "m02-setting-type-and-units", ref: "6 SettingsTest: setting_type string / integer; units days or \"\"", steps: []itStep{
			itGet(owner, gk("INVENTREE_INSTANCE"), 200),
			itGet(owner, gk("STOCK_STALE_DAYS"), 200),
		}},
		{name: "m03-choices", ref: "6 SettingsTest: is_choice for REPORT_DEFAULT_PAGE_SIZE", steps: []itStep{
			itGet(owner, gk("REPORT_DEFAULT_PAGE_SIZE"), 200),
			itValue(staff, gk("REPORT_DEFAULT_PAGE_SIZE"), `"Letter"`, 200),
			itValue(staff, gk("REPORT_DEFAULT_PAGE_SIZE"), `"A5"`, 400),
		}},
		{name: "m04-hidden-and-internal", ref: "6 SettingsTest: hidden settings are listed by the API; keys starting with _ never", steps: []itStep{
			itGet(owner, itGlobal+"?search=INVENTREE_INSTANCE_ID", 200),
			itGet(owner, itGlobal+"?search=SERVER_RESTART", 200),
			itGet(owner, itGlobal+"?search=MIGRATIONS", 200),
			itGet(owner, gk("_PENDING_MIGRATIONS"), 404),
		}},
		{name: "m05-defaults-round-trip", ref: "6 SettingsTest: setting every key to its default round-trips", steps: []itStep{
			itValue(staff, gk("INVENTREE_INSTANCE"), `"InvenTree"`, 200),
			itValue(staff, gk("INVENTREE_INSTANCE_TITLE"), `"False"`, 200),
			itValue(staff, gk("CURRENCY_CODES"), `"AUD,CAD,CNY,EUR,GBP,JPY,NZD,USD"`, 200),
			itValue(staff, gk("CURRENCY_UPDATE_INTERVAL"), `"1"`, 200),
			itValue(staff, gk("INVENTREE_DEFAULT_CURRENCY"), `"USD"`, 200),
			itValue(staff, gk("INVENTREE_BASE_URL"), `""`, 200),
		}},
		{name: "m06-min-max", ref: "6 Django's MinValueValidator / MaxValueValidator messages", steps: []itStep{
			itValue(staff, gk("INVENTREE_DOWNLOAD_IMAGE_MAX_SIZE"), `25`, 200),
			itValue(staff, gk("INVENTREE_DOWNLOAD_IMAGE_MAX_SIZE"), `26`, 400),
			itValue(staff, gk("INVENTREE_DOWNLOAD_IMAGE_MAX_SIZE"), `0`, 400),
			itValue(staff, gk("CURRENCY_UPDATE_INTERVAL"), `0`, 200),
			itValue(staff, gk("STOCK_STALE_DAYS"), `-30`, 200),
		}},
		{name: "m07-base-url", ref: "6 common/setting/tests.py: BaseURLValidator", steps: []itStep{
			itValue(staff, gk("INVENTREE_BASE_URL"), `""`, 200),
			itValue(staff, gk("INVENTREE_BASE_URL"), `"http://localhost"`, 200),
			itValue(staff, gk("INVENTREE_BASE_URL"), `"https://inventree"`, 200),
			itValue(staff, gk("INVENTREE_BASE_URL"), `"inventree"`, 400),
			itValue(staff, gk("INVENTREE_BASE_URL"), `"ftp://inventree"`, 400),
			itValue(staff, gk("INVENTREE_BASE_URL"), `"https://inventree.example.com:8443/"`, 200),
		}},

		// Authorization
		{name: "a01-anonymous", ref: "4: 401 with WWW-Authenticate: Token, before the method check", steps: []itStep{
			itGet(anonymous, itGlobal, 401),
			itGet(anonymous, gk("INVENTREE_INSTANCE"), 401),
			itValue(anonymous, gk("INVENTREE_INSTANCE"), `"x"`, 401),
			itGet(anonymous, itNotif, 401),
			itGet(anonymous, itNotif+"1/", 401),
			itNote(itDo(anonymous, http.MethodPost, itGlobal, 401), "authentication runs before the method check"),
			itNote(itDo(anonymous, http.MethodDelete, uk("LABEL_INLINE"), 401), "authentication runs before the method check"),
		}},
		{name: "a02-refused-credentials", ref: "4: DRF's token authentication failures", steps: []itStep{
			{auth: "Token", method: http.MethodGet, path: itUser, status: 401, note: "no token"},
			{auth: "Token a b", method: http.MethodGet, path: itUser, status: 401, note: "a token with spaces"},
			{auth: "Token not-a-token", method: http.MethodGet, path: itUser, status: 401, note: "unknown token"},
			{auth: "token not-a-token", method: http.MethodGet, path: itUser, status: 401, note: "the keyword is case-insensitive"},
			{auth: "Bearer not-a-token", method: http.MethodGet, path: itUser, status: 401},
			{auth: "Basic YWRtaW46cGFzcw==", method: http.MethodGet, path: itUser, status: 401, note: "Basic with unknown credentials: DRF's Invalid username/password."},
			{auth: "Token not-a-token", method: http.MethodGet, path: "/api/", status: 401, note: "even where anyone may call"},
		}},
		{name: "a03-non-staff-global", ref: "1 GlobalSettingsPermissions: any user reads, only staff write; the permission check runs before the method check", steps: []itStep{
			itGet(owner, gk("INVENTREE_COMPANY_NAME"), 200),
			itValue(owner, gk("INVENTREE_COMPANY_NAME"), `"mine"`, 403),
			itPut(owner, gk("INVENTREE_COMPANY_NAME"), `{"value": "mine"}`, 403),
			itNote(itValue(owner, gk("apple"), `"x"`, 403), "permission before lookup"),
			itNote(itDo(owner, http.MethodPost, gk("INVENTREE_COMPANY_NAME"), 403), "403, not 405"),
			itNote(itDo(owner, http.MethodDelete, itGlobal, 403), "403, not 405"),
			itNote(itValue(superNonStaff, gk("INVENTREE_COMPANY_NAME"), `"mine"`, 403), "a superuser without staff status"),
			itGet(owner, gk("INVENTREE_COMPANY_NAME"), 200),
		}},
		{name: "a04-staff-global", ref: "1: staff write global settings; other methods 405", steps: []itStep{
			itValue(staff, gk("INVENTREE_COMPANY_NAME"), `"Acme"`, 200),
			itPut(superuser, gk("INVENTREE_COMPANY_NAME"), `{"value": "Acme Ltd", "key": "OTHER", "pk": 1}`, 200),
			itNote(itValue(staff, gk("apple"), `"x"`, 404), "unknown key"),
			itDo(staff, http.MethodPost, gk("INVENTREE_COMPANY_NAME"), 405),
			itDo(staff, http.MethodDelete, gk("INVENTREE_COMPANY_NAME"), 405),
			itDo(staff, http.MethodPatch, itGlobal, 405),
			itGet(owner, gk("INVENTREE_COMPANY_NAME"), 200),
		}},
		{name: "a05-user-isolation", ref: "1 UserSettingsPermissions: each user reaches only their own settings", steps: []itStep{
			itValue(owner, uk("LABEL_INLINE"), `false`, 200),
			itNote(itGet(other, uk("LABEL_INLINE"), 200), "another user still has the default"),
			itValue(other, uk("DATE_DISPLAY_FORMAT"), `"DD/MM/YYYY"`, 200),
			itGet(owner, itUser+"?search=LABEL_INLINE", 200),
			itGet(other, itUser+"?search=LABEL_INLINE", 200),
			itGet(owner, itUser+"?search=DATE_DISPLAY", 200),
			itGet(other, itUser+"?search=DATE_DISPLAY", 200),
			itNote(itGet(staff, uk("LABEL_INLINE"), 200), "staff see their own too"),
			itDo(owner, http.MethodPost, itUser, 405),
			itDo(owner, http.MethodDelete, uk("LABEL_INLINE"), 405),
		}},
		{name: "a06-notification-pk-of-another-user", ref: "1 notification detail by pk: own only; 403 for another user's, 404 for none", steps: []itStep{
			itGet(owner, itNotif+"{pk:owner:NOTIFICATION_METHOD_MAIL}/", 200),
			itGet(other, itNotif+"{pk:owner:NOTIFICATION_METHOD_MAIL}/", 403),
			itValue(other, itNotif+"{pk:owner:NOTIFICATION_METHOD_MAIL}/", `false`, 403),
			itGet(owner, itNotif+"{pk:owner:NOTIFICATION_METHOD_MAIL}/", 200),
			itNote(itGet(owner, itNotif+"1/", 404), "no such pk"),
			itNote(itGet(owner, itNotif+"99999999999999999999999/", 404), "beyond 64 bits"),
			itNote(itGet(owner, itNotif+"mail/", 404), "not an integer: the API catch-all"),
			itDo(owner, http.MethodDelete, itNotif+"{pk:owner:NOTIFICATION_METHOD_MAIL}/", 405),
		}},

		// Django REST framework's conventions
		{name: "c01-pagination", ref: "3: LimitOffsetPagination with absolute links; no limit, a plain array", steps: []itStep{
			itGet(owner, itGlobal+"?search=INVENTREE_INSTANCE&limit=2", 200),
			itGet(owner, itGlobal+"?search=INVENTREE_INSTANCE&limit=2&offset=2", 200),
			itGet(owner, itGlobal+"?offset=1&limit=1&search=INVENTREE_INSTANCE&format=json&x=a%20b", 200),
			itGet(owner, itGlobal+"?search=INVENTREE_INSTANCE&limit=2&offset=9", 200),
			itNote(itGet(owner, itGlobal+"?search=INVENTREE_INSTANCE&limit=0", 200), "limit 0: no pagination"),
			itNote(itGet(owner, itGlobal+"?search=INVENTREE_INSTANCE&limit=x&offset=1", 200), "an invalid limit: no pagination"),
			itNote(itGet(owner, itUser+"?limit=1&offset=-3&search=SEARCH_PREVIEW_SHOW", 200), "an invalid offset is 0"),
		}},
		{name: "c02-search", ref: "3: search on key (case-insensitive substring), search_regex, search_whole", steps: []itStep{
			itGet(owner, itGlobal+"?search=currency", 200),
			itNote(itGet(owner, itGlobal+"?search=currency+codes", 200), "every term must match"),
			itNote(itGet(owner, itGlobal+"?search=^curr&search_regex=true", 200), "a regular expression"),
			itNote(itGet(owner, itGlobal+"?search=currency&search_whole=1", 200), "whole words without regex: nothing"),
			itNote(itGet(owner, itGlobal+"?search=currency_codes&search_whole=1&search_regex=1", 200), "whole words"),
			itNote(itGet(owner, itGlobal+"?search=[&search_regex=1", 200), "a pattern that does not compile"),
			itNote(itGet(owner, itUser+"?search=%20,SEARCH_PREVIEW_SHOW_PARTS,,%09&consistency=stale", 200), "blank terms are dropped"),
		}},
		{name: "c03-ordering", ref: "3: ordering on pk, key, name, with -", steps: []itStep{
			itGet(owner, itUser+"?search=SEARCH_PREVIEW_SHOW&ordering=key", 200),
			itGet(owner, itUser+"?search=SEARCH_PREVIEW_SHOW&ordering=-name", 200),
			itGet(owner, itUser+"?search=SEARCH_PREVIEW_SHOW&ordering=-pk", 200),
			itNote(itGet(owner, itUser+"?search=SEARCH_PREVIEW_SHOW&ordering=value,-key", 200), "unknown fields are ignored"),
			itNote(itGet(owner, itUser+"?search=SEARCH_PREVIEW_SHOW&ordering=nonsense", 200), "no valid field: pk order"),
		}},
		{name: "c04-negotiation", ref: "3, 4: format=json accepted, another format 404, an Accept without JSON 406", steps: []itStep{
			itValue(owner, uk("LABEL_INLINE")+"?format=json", `"1"`, 200),
			itGet(owner, uk("LABEL_INLINE")+"?format=api", 404),
			itNote(itGet(anonymous, uk("LABEL_INLINE")+"?format=xml", 404), "negotiation runs before authentication"),
			{as: owner, method: http.MethodGet, path: uk("LABEL_INLINE"), accept: "text/html", status: 406},
			{as: owner, method: http.MethodGet, path: uk("LABEL_INLINE"), accept: "text/html, application/*;q=0.9", status: 200},
		}},
		{name: "c05-api-catch-all", ref: "1: a key outside \\w reaches InvenTree's API catch-all, for anyone", steps: []itStep{
			itGet(anonymous, gk("BAD-KEY"), 404),
			itNote(itValue(owner, uk("label.inline"), `"x"`, 404), "any method"),
			itGet(owner, gk("a%20b")+"?q=%C3%A9&x=<y>", 404),
			itDo(anonymous, http.MethodHead, gk("BAD-KEY"), 404),
			itNote(itGet(owner, gk("%C3%89T%C3%89"), 404), "a Unicode word is \\w: an unknown key"),
		}},
		{name: "c06-write-bodies", ref: "2 write path: only value is writable; PUT requires it", steps: []itStep{
			itNote(itPut(owner, uk("DATE_DISPLAY_FORMAT"), `{}`, 400), "PUT without value"),
			itNote(itPatch(owner, uk("DATE_DISPLAY_FORMAT"), `{}`, 200), "PATCH without value: no change"),
			itNote(itPatch(owner, uk("DATE_DISPLAY_FORMAT"), `{"name": "x", "value_": 1}`, 200), "other fields are ignored"),
			itNote(itStep{as: owner, method: http.MethodPatch, path: uk("DATE_DISPLAY_FORMAT"), status: 200}, "no body"),
			itNote(itPatch(owner, uk("DATE_DISPLAY_FORMAT"), `[{"value": "DD/MM/YYYY"}]`, 400), "not an object"),
			itPatch(owner, uk("DATE_DISPLAY_FORMAT"), `"DD/MM/YYYY"`, 400),
			itPatch(owner, uk("DATE_DISPLAY_FORMAT"), `null`, 400),
			itPatch(owner, uk("DATE_DISPLAY_FORMAT"), `{"value": `, 400),
			itNote(itStep{as: owner, method: http.MethodPatch, path: uk("DATE_DISPLAY_FORMAT"), ctype: "text/plain", body: `value=x`, status: 415}, "an unsupported media type"),
			itNote(itStep{as: owner, method: http.MethodPatch, path: uk("DATE_DISPLAY_FORMAT"), body: `{"value": "x"}`, status: 415}, "a body without Content-Type"),
			itNote(itStep{as: owner, method: http.MethodPatch, path: uk("DATE_DISPLAY_FORMAT"), ctype: "application/x-www-form-urlencoded", body: `value=DD%2FMM%2FYYYY`, status: 200}, "a form"),
			itNote(itStep{as: owner, method: http.MethodPatch, path: uk("DATE_DISPLAY_FORMAT"), ctype: "multipart/form-data; boundary=XyZ",
				body: "--XyZ\r\nContent-Disposition: form-data; name=\"value\"\r\n\r\nMMM DD YYYY\r\n--XyZ--\r\n", status: 200}, "multipart"),
			itNote(itStep{as: owner, method: http.MethodPatch, path: uk("DATE_DISPLAY_FORMAT"), ctype: "multipart/form-data", body: "--XyZ--\r\n", status: 400}, "multipart without a boundary"),
			itNote(itValue(owner, uk("SEARCH_REGEX"), `{"a": [1, 2.5]}`, 200), "str() of an object: a truthy word? no: False"),
			itNote(itPut(superuser, gk("INVENTREE_INSTANCE"), `{"value": {"a": [1, 2.5, null, true]}}`, 200), "a string setting stores str() of the object"),
			itNote(itPut(superuser, gk("INVENTREE_INSTANCE"), `{"value": null}`, 200), "null is \"\""),
			itNote(itValue(superuser, gk("INVENTREE_INSTANCE"), `"`+strings.Repeat("é", 2001)+`"`, 400), "2001 characters"),
			itNote(itValue(superuser, gk("INVENTREE_INSTANCE"), `"`+strings.Repeat("x", 2000)+`"`, 200), "2000 characters"),
			itNote(itValue(superuser, gk("CURRENCY_UPDATE_INTERVAL"), `"`+strings.Repeat("x", 2001)+`"`, 400), "too long and not an integer: both errors"),
		}},
		{name: "c07-no-trailing-slash", ref: "both URL forms, no redirect", steps: []itStep{
			itGet(owner, strings.TrimSuffix(itGlobal, "/")+"?search=COMPANY", 200),
			itGet(owner, strings.TrimSuffix(uk("LABEL_INLINE"), "/"), 200),
			itValue(owner, strings.TrimSuffix(uk("LABEL_INLINE"), "/"), `"off"`, 200),
			itGet(owner, strings.TrimSuffix(itNotif, "/"), 200),
		}},
		{name: "c08-options-and-head", ref: "4: DRF metadata and Allow headers; HEAD", steps: []itStep{
			itDo(owner, http.MethodOptions, itGlobal, 200),
			itDo(owner, http.MethodOptions, gk("INVENTREE_INSTANCE"), 200),
			itDo(owner, http.MethodOptions, itUser, 200),
			itDo(owner, http.MethodOptions, itNotif+"{pk:owner:NOTIFICATION_METHOD_MAIL}/", 200),
			itDo(owner, http.MethodHead, uk("LABEL_INLINE"), 200),
			itDo(owner, http.MethodHead, uk("NOPE"), 404),
			itDo(anonymous, http.MethodOptions, itUser, 401),
		}},
		{name: "c09-server-info", ref: "4 client bootstrap: GET /api/ without authentication", steps: []itStep{
			itGet(anonymous, "/api/", 200),
			itGet(owner, "/api", 200),
			itSetup(itValue(staff, gk("INVENTREE_INSTANCE"), `"Wärehouse \"7\""`, 0)),
			itSetup(itValue(staff, gk("INVENTREE_INSTANCE_ID"), `"5d2ac4c1-3f2b-4a4e-9c55-0e8f0d7f7e11"`, 0)),
			itSetup(itValue(staff, gk("INVENTREE_ANNOUNCE_ID"), `true`, 0)),
			itNote(itGet(anonymous, "/api/", 200), "the instance name, and the id once announced"),
			itDo(anonymous, http.MethodPost, "/api/", 405),
			itDo(anonymous, http.MethodOptions, "/api/", 200),
		}},
	}
}

func TestInvenTreeGolden(t *testing.T) {
	r := newITRunner(t)
	r.run(t, "inventree", itCases())
}

// ---------------------------------------------------------------------------
// Checks that are not golden

// The global list holds every defined key not starting with "_", and the
// user list every user key, each once, in pk order; the pks follow the
// documented formula.
func TestInvenTreeListCounts(t *testing.T) {
	f := newFixture(t)
	installITCatalog(t, f, itCatalog(t))
	tok := f.createUser(t, "itc_owner", false)
	st := f.node.FSM().State()
	u, _ := st.UserByName("itc_owner")

	for _, tc := range []struct {
		scope fsm.Scope
		path  string
	}{
		{fsm.ScopeGlobal, itGlobal},
		{fsm.ScopeUser, itUser},
		{fsm.ScopeNotification, itNotif},
	} {
		var want []uint64
		for _, d := range st.Catalog(fsm.RegistryInvenTree, tc.scope) {
			switch {
			case strings.HasPrefix(d.Key, "_"):
			case tc.scope == fsm.ScopeGlobal:
				want = append(want, d.ID)
			default:
				want = append(want, u.ID<<20|d.ID)
			}
		}
		r := f.do(t, http.MethodGet, tc.path, "Token "+tok, "", nil)
		mustStatus(t, "GET "+tc.path, r, http.StatusOK)
		var rows []struct {
			PK   uint64 `json:"pk"`
			Key  string `json:"key"`
			User uint64 `json:"user"`
		}
		if err := json.Unmarshal(r.body, &rows); err != nil {
			t.Fatalf("GET %s: not an array: %v: %s", tc.path, err, r.body)
		}
		if len(rows) != len(want) {
			t.Errorf("GET %s: %d rows, want %d", tc.path, len(rows), len(want))
			continue
		}
		for i, row := range rows {
			if row.PK != want[i] {
				t.Errorf("GET %s: row %d (%s) pk %d, want %d", tc.path, i, row.Key, row.PK, want[i])
			}
			if tc.scope == fsm.ScopeUser && row.User != u.ID {
				t.Errorf("GET %s: row %d user %d, want %d", tc.path, i, row.User, u.ID)
			}
		}
	}
}

// A value whose definition was removed shows in the list as InvenTree
// shows an obsolete row; related, protected and float settings render as
// the serializer renders them; a definition removed between the handler's
// checks and the write is a 404.
func TestInvenTreeCatalogChanges(t *testing.T) {
	f := newFixture(t)
	defs := itCatalog(t)
	extra := []fsm.SettingDef{
		{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeGlobal, Key: "TEST_RELATED_USER", Type: fsm.TypeRelated,
			Name: "Related user", ModelName: "auth.user"},
		{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeGlobal, Key: "TEST_PROTECTED", Type: fsm.TypeString,
			Name: "Protected", Default: "secret", Protected: true},
		{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeUser, Key: "TEST_RATIO", Type: fsm.TypeFloat,
			Name: "Ratio", Default: "0.5"},
		{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeUser, Key: "TEST_GONE", Type: fsm.TypeString,
			Name: "Soon gone", Default: ""},
	}
	installITCatalog(t, f, append(defs, extra...))
	tok := f.createUser(t, "itcc_owner", true)
	auth := "Token " + tok
	patch := func(path, body string, want int) response {
		t.Helper()
		r := f.do(t, http.MethodPatch, path, auth, ctJSON, []byte(body))
		mustStatus(t, "PATCH "+path+" "+body, r, want)
		return r
	}
	one := func(r response) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
		return m
	}

	r := patch(itGlobal+"TEST_RELATED_USER/", `{"value": 7}`, 200)
	sameJSON(t, "related", r.body, fmt.Sprintf(`{"pk":%d,"key":"TEST_RELATED_USER","value":"7","name":"Related user","description":"","type":"related field","units":"","choices":[],"model_name":"auth.user","api_url":"/api/user/","typ":"inventree"}`,
		uint64(one(r)["pk"].(float64))))
	r = patch(itGlobal+"TEST_PROTECTED/", `{"value": "hunter2"}`, 200)
	if v := one(r)["value"]; v != "***" {
		t.Errorf("protected value shown as %v", v)
	}
	st := f.node.FSM().State()
	if v, _ := st.Setting(0, fsm.RegistryInvenTree, fsm.ScopeGlobal, "TEST_PROTECTED"); v != "hunter2" {
		t.Errorf("protected value stored as %q", v)
	}
	r = patch(itUser+"TEST_RATIO/", `{"value": 1.25}`, 200)
	if m := one(r); m["value"] != "1.25" || m["type"] != "string" {
		t.Errorf("float setting: %s", r.body)
	}
	r = patch(itUser+"TEST_RATIO/", `{"value": "abc"}`, 400)
	sameJSON(t, "float refusal", r.body, `{"non_field_errors":["Provided value is not a valid float"]}`)
	patch(itUser+"TEST_GONE/", `{"value": "kept"}`, 200)
	r = f.do(t, http.MethodPatch, itGlobal+"INVENTREE_COMPANY_NAME/", auth, ctJSON, []byte(`{"value": "Kept Inc"}`))
	mustStatus(t, "PATCH company", r, 200)

	// Remove TEST_GONE and INVENTREE_COMPANY_NAME from the catalogue.
	var keep []fsm.SettingDef
	for _, d := range append(defs, extra...) {
		if d.Key != "TEST_GONE" && d.Key != "INVENTREE_COMPANY_NAME" {
			keep = append(keep, d)
		}
	}
	f.admin(t, http.MethodPut, "/api/admin/catalog", map[string]any{"replace": true, "settings": keep}, http.StatusOK)

	u, _ := f.node.FSM().State().UserByName("itcc_owner")
	for _, tc := range []struct {
		path, key string
		userID    uint64
		want      string
	}{
		{itUser + "?search=TEST_GONE", "TEST_GONE", u.ID,
			`[{"pk":%d,"key":"TEST_GONE","value":"kept","name":"","description":"","user":%d,"type":"string","units":"","choices":[],"model_name":null,"api_url":null,"typ":"user"}]`},
		{itGlobal + "?search=COMPANY", "INVENTREE_COMPANY_NAME", 0,
			`[{"pk":%d,"key":"INVENTREE_COMPANY_NAME","value":"Kept Inc","name":"","description":"","type":"string","units":"","choices":[],"model_name":null,"api_url":null,"typ":"inventree"}]`},
	} {
		r := f.do(t, http.MethodGet, tc.path, auth, "", nil)
		mustStatus(t, "GET "+tc.path, r, 200)
		pk := api.InvenTreeObsoletePK(tc.userID, tc.key)
		want := fmt.Sprintf(tc.want, pk, tc.userID)
		if tc.userID == 0 {
			want = fmt.Sprintf(tc.want, pk)
		}
		sameJSON(t, "obsolete "+tc.key, r.body, want)
		if pk < 1<<52 || pk >= 1<<53 {
			t.Errorf("obsolete pk %d outside [2^52, 2^53)", pk)
		}
	}
	// An obsolete row is listed, not reachable one by one.
	mustStatus(t, "GET obsolete", f.do(t, http.MethodGet, itUser+"TEST_GONE/", auth, "", nil), 404)
	mustStatus(t, "PATCH obsolete", f.do(t, http.MethodPatch, itGlobal+"INVENTREE_COMPANY_NAME/", auth, ctJSON, []byte(`{"value": "x"}`)), 404)
	// The full list ends with the obsolete rows.
	r = f.do(t, http.MethodGet, itUser, auth, "", nil)
	mustStatus(t, "GET user list", r, 200)
	var rows []map[string]any
	if err := json.Unmarshal(r.body, &rows); err != nil || len(rows) == 0 {
		t.Fatalf("user list %s: %v", r.body, err)
	}
	if last := rows[len(rows)-1]; last["key"] != "TEST_GONE" {
		t.Errorf("last row %v, want the obsolete TEST_GONE", last["key"])
	}
	// Defining the key again shows the stored value under the new
	// definition, with a new pk.
	f.admin(t, http.MethodPut, "/api/admin/catalog", map[string]any{"replace": false, "settings": []fsm.SettingDef{
		{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeUser, Key: "TEST_GONE", Type: fsm.TypeString, Name: "Back"},
	}}, http.StatusOK)
	r = f.do(t, http.MethodGet, itUser+"TEST_GONE/", auth, "", nil)
	mustStatus(t, "GET redefined", r, 200)
	if m := one(r); m["value"] != "kept" || m["name"] != "Back" {
		t.Errorf("redefined: %s", r.body)
	}
}

// Every route of the dialect is registered with and without its slash, and
// every method answers in the dialect's shape (never a gin default).
func TestInvenTreeRoutes(t *testing.T) {
	f := newFixture(t)
	installITCatalog(t, f, itCatalog(t))
	tok := f.createUser(t, "itr_staff", true)
	paths := []string{"/api", "/api/", itGlobal, itGlobal + "INVENTREE_INSTANCE", itUser, itUser + "LABEL_INLINE/", itNotif, itNotif + "1"}
	for _, p := range paths {
		for _, p := range []string{p, strings.TrimSuffix(p, "/")} {
			for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
				r := f.do(t, m, p, "Token "+tok, ctJSON, []byte(`{}`))
				if r.status >= 500 {
					t.Errorf("%s %s: %d %s", m, p, r.status, r.body)
				}
				if r.header.Get("Content-Type") != "application/json" && m != http.MethodHead {
					t.Errorf("%s %s: Content-Type %q", m, p, r.header.Get("Content-Type"))
				}
				if r.header.Get("Allow") == "" {
					t.Errorf("%s %s: no Allow header", m, p)
				}
				if r.status == http.StatusMethodNotAllowed && !strings.HasPrefix(string(r.body), `{"detail":"Method \"`+m+`\" not allowed."}`) {
					t.Errorf("%s %s: 405 body %s", m, p, r.body)
				}
			}
		}
	}
}
