package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/api"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
	"github.com/prefsd/prefsd/jwtauth"
)

// The authorization matrix of the edX, layout, InvenTree and
// dynamic-preferences routes: every route × method × caller, with the
// status the original product answers (as the published edX document
// amends it) or, for InvenTree and
// dynamic-preferences, the dialect and its golden files answer. A route
// registered under one of matrixPrefixes without rows here fails the test,
// so a new route cannot go unreviewed.

// matrixPrefixes are the path prefixes whose every route needs rows.
var matrixPrefixes = []string{"/api/user/", "/api/users/", "/api/settings/", "/api/preferences/"}

// callers, in the order of a row's statuses. "owner" and "other" are plain
// users; "perm" is a plain user holding dynPerm, and only the
// dynamic-preferences rows have its column.
var matrixCallers = []string{"anonymous", "wrong token", "owner", "other", "staff", "superuser", "perm"}

// The JWT callers every row has besides its statuses' callers: an expired
// JWT for the owner, refused with 401 everywhere (authentication runs
// first), and a valid JWT for the owner, answered exactly as the owner's
// opaque token is. Both are sent with the JWT scheme the dialect's clients
// use (jwtScheme).
const (
	mxExpiredJWT = "expired jwt"
	mxOwnerJWT   = "owner jwt"
)

// matrixNow is the fixed clock of the matrix node's JWT verifier: tokens
// are minted relative to it, so that expiry does not depend on how long
// the test runs.
var matrixNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// matrixCell is one caller of a row and the status it must get.
type matrixCell struct {
	caller string
	want   int
}

// cells returns the row's callers with their statuses: those of want, then
// the JWT callers.
func (r matrixRow) cells() []matrixCell {
	var cs []matrixCell
	for i, c := range matrixCallers[:len(r.want)] {
		cs = append(cs, matrixCell{c, r.want[i]})
	}
	return append(cs, matrixCell{mxExpiredJWT, http.StatusUnauthorized}, matrixCell{mxOwnerJWT, r.want[2]})
}

// matrixRow is one route and method: the statuses for each caller, in
// matrixCallers' order (the first len(want) of them).
type matrixRow struct {
	method string
	route  string // the gin route template
	want   []int
}

const (
	mxOwner = "mx_owner"
	mxOther = "mx_other"
	mxStaff = "mx_staff"
	mxPerm  = "mx_perm"

	// dynPerm is the permission django-dynamic-preferences' global viewset
	// checks for every method.
	dynPerm = "dynamic_preferences.change_globalpreferencemodel"

	// The settings the InvenTree and dynamic-preferences rows address,
	// from the test catalogues (itCatalogJSON, dpCatalog).
	mxITGlobalKey = "INVENTREE_INSTANCE"       // a string
	mxITUserKey   = "LABEL_INLINE"             // a boolean
	mxITNotifKey  = "NOTIFICATION_METHOD_MAIL" // a boolean
	mxDynGlobalID = "user__items_per_page"
	mxDynUserID   = "misc__favourite_colour"
)

var (
	edxListRoutes  = []string{"/api/user/v1/preferences/:username", "/api/user/v1/preferences/:username/"}
	edxDetailRoute = "/api/user/v1/preferences/:username/:key"
	layoutRoutes   = []string{"/api/users/preferences/:key/", "/api/users/preferences/:key"}
)

// row makes a row; anonymous callers and wrong tokens always get 401, even
// where the method is not allowed (authentication runs first).
func row(method, route string, owner, other, staff, super int) matrixRow {
	return matrixRow{method: method, route: route, want: []int{401, 401, owner, other, staff, super}}
}

// dynRow makes a dynamic-preferences row, with the perm column.
func dynRow(method, route string, owner, other, staff, super, perm int) matrixRow {
	return matrixRow{method: method, route: route, want: []int{401, 401, owner, other, staff, super, perm}}
}

// bothSlashes returns a route template without and with its trailing slash.
func bothSlashes(route string) []string { return []string{route, route + "/"} }

// itMatrixRows are the InvenTree rows. Django REST framework runs
// authentication, then permissions, then the method check: every caller
// but an anonymous one or a wrong token may read every settings view; the
// global views let only staff use an unsafe method (so a plain user's POST
// is 403, a staff member's 405); user settings are always the caller's own;
// a notification setting's pk names its owner, and another user's is 403,
// whoever asks.
func itMatrixRows() []matrixRow {
	var rows []matrixRow
	for _, r := range bothSlashes("/api/settings/global") {
		rows = append(rows,
			row(http.MethodGet, r, 200, 200, 200, 200),
			row(http.MethodHead, r, 200, 200, 200, 200),
			row(http.MethodOptions, r, 200, 200, 200, 200),
			row(http.MethodPost, r, 403, 403, 405, 405),
			row(http.MethodPut, r, 403, 403, 405, 405),
			row(http.MethodPatch, r, 403, 403, 405, 405),
			row(http.MethodDelete, r, 403, 403, 405, 405),
		)
	}
	for _, r := range bothSlashes("/api/settings/global/:key") {
		rows = append(rows,
			row(http.MethodGet, r, 200, 200, 200, 200),
			row(http.MethodHead, r, 200, 200, 200, 200),
			row(http.MethodOptions, r, 200, 200, 200, 200),
			row(http.MethodPut, r, 403, 403, 200, 200),
			row(http.MethodPatch, r, 403, 403, 200, 200),
			row(http.MethodPost, r, 403, 403, 405, 405),
			row(http.MethodDelete, r, 403, 403, 405, 405),
		)
	}
	for _, scope := range []string{"user", "notification"} {
		for _, r := range bothSlashes("/api/settings/" + scope) {
			rows = append(rows,
				row(http.MethodGet, r, 200, 200, 200, 200),
				row(http.MethodHead, r, 200, 200, 200, 200),
				row(http.MethodOptions, r, 200, 200, 200, 200),
				row(http.MethodPost, r, 405, 405, 405, 405),
				row(http.MethodPut, r, 405, 405, 405, 405),
				row(http.MethodPatch, r, 405, 405, 405, 405),
				row(http.MethodDelete, r, 405, 405, 405, 405),
			)
		}
	}
	for _, r := range bothSlashes("/api/settings/user/:key") {
		rows = append(rows,
			row(http.MethodGet, r, 200, 200, 200, 200),
			row(http.MethodHead, r, 200, 200, 200, 200),
			row(http.MethodOptions, r, 200, 200, 200, 200),
			row(http.MethodPut, r, 200, 200, 200, 200),
			row(http.MethodPatch, r, 200, 200, 200, 200),
			row(http.MethodPost, r, 405, 405, 405, 405),
			row(http.MethodDelete, r, 405, 405, 405, 405),
		)
	}
	for _, r := range bothSlashes("/api/settings/notification/:pk") {
		// The pk is the owner's; OPTIONS does not look the object up.
		rows = append(rows,
			row(http.MethodGet, r, 200, 403, 403, 403),
			row(http.MethodHead, r, 200, 403, 403, 403),
			row(http.MethodOptions, r, 200, 200, 200, 200),
			row(http.MethodPut, r, 200, 403, 403, 403),
			row(http.MethodPatch, r, 200, 403, 403, 403),
			row(http.MethodPost, r, 405, 405, 405, 405),
			row(http.MethodDelete, r, 405, 405, 405, 405),
		)
	}
	return rows
}

// dynMatrixRows are the dynamic-preferences rows. Authentication, then the
// permission (the global viewset wants dynPerm for every method, which a
// superuser holds and staff status does not give), then the method check;
// user preferences are always the caller's own.
func dynMatrixRows() []matrixRow {
	var rows []matrixRow
	for _, scope := range []string{"global", "user"} {
		// ok makes a row whose callers may all use the view: in the global
		// scope only the superuser and the permission holder may.
		ok := func(method, route string, status int) matrixRow {
			if scope == "global" {
				return dynRow(method, route, 403, 403, 403, status, status)
			}
			return dynRow(method, route, status, status, status, status, status)
		}
		prefix := "/api/preferences/" + scope
		for _, r := range bothSlashes(prefix) {
			rows = append(rows,
				ok(http.MethodGet, r, 200),
				ok(http.MethodHead, r, 200),
				ok(http.MethodOptions, r, 200),
				ok(http.MethodPost, r, 405),
				ok(http.MethodPut, r, 405),
				ok(http.MethodPatch, r, 405),
				ok(http.MethodDelete, r, 405),
			)
		}
		for _, r := range bothSlashes(prefix + "/:pk") {
			rows = append(rows,
				ok(http.MethodGet, r, 200),
				ok(http.MethodHead, r, 200),
				ok(http.MethodOptions, r, 200),
				ok(http.MethodPut, r, 200),
				ok(http.MethodPatch, r, 200),
				ok(http.MethodPost, r, 405),
				ok(http.MethodDelete, r, 405),
			)
		}
		for _, r := range bothSlashes(prefix + "/bulk") {
			rows = append(rows,
				ok(http.MethodPost, r, 200),
				ok(http.MethodOptions, r, 200),
				ok(http.MethodGet, r, 405),
				ok(http.MethodHead, r, 405),
				ok(http.MethodPut, r, 405),
				ok(http.MethodPatch, r, 405),
				ok(http.MethodDelete, r, 405),
			)
		}
	}
	return rows
}

func matrixRows() []matrixRow {
	var rows []matrixRow
	for _, r := range edxListRoutes {
		rows = append(rows,
			row(http.MethodGet, r, 200, 404, 200, 200),
			row(http.MethodHead, r, 200, 404, 200, 200),
			row(http.MethodOptions, r, 200, 200, 200, 200),
			row(http.MethodPatch, r, 204, 404, 403, 403),
			row(http.MethodPost, r, 405, 405, 405, 405),
			row(http.MethodPut, r, 405, 405, 405, 405),
			row(http.MethodDelete, r, 405, 405, 405, 405),
		)
	}
	rows = append(rows,
		row(http.MethodGet, edxDetailRoute, 200, 404, 200, 200),
		row(http.MethodHead, edxDetailRoute, 200, 404, 200, 200),
		row(http.MethodOptions, edxDetailRoute, 200, 200, 200, 200),
		row(http.MethodPut, edxDetailRoute, 204, 404, 403, 403),
		row(http.MethodDelete, edxDetailRoute, 204, 404, 403, 403),
		row(http.MethodPost, edxDetailRoute, 405, 405, 405, 405),
		row(http.MethodPatch, edxDetailRoute, 405, 405, 405, 405),
	)
	for _, r := range layoutRoutes {
		// The layout URL names no user: every caller reads and writes its
		// own preferences, and only the owner holds the key.
		rows = append(rows,
			row(http.MethodGet, r, 200, 404, 404, 404),
			row(http.MethodHead, r, 200, 404, 404, 404),
			row(http.MethodOptions, r, 200, 200, 200, 200),
			row(http.MethodPost, r, 201, 201, 201, 201),
			row(http.MethodDelete, r, 204, 404, 404, 404),
			row(http.MethodPut, r, 405, 405, 405, 405),
			row(http.MethodPatch, r, 405, 405, 405, 405),
		)
	}
	rows = append(rows, itMatrixRows()...)
	rows = append(rows, dynMatrixRows()...)
	return rows
}

// concrete returns the path, Content-Type and body of a request on a row;
// notifPK is the pk of the owner's notification setting.
func (r matrixRow) concrete(notifPK string) (path, ctype, body string) {
	write := r.method == http.MethodPost || r.method == http.MethodPut || r.method == http.MethodPatch
	switch r.dialect() {
	case "inventree":
		key := mxITGlobalKey
		value := `{"value": "mx"}`
		if !strings.HasPrefix(r.route, "/api/settings/global") {
			key, value = mxITUserKey, `{"value": "False"}`
		}
		path = strings.NewReplacer(":key", key, ":pk", notifPK).Replace(r.route)
		if write {
			return path, ctJSON, value
		}
		return path, "", ""
	case "dynprefs":
		id := mxDynGlobalID
		if strings.HasPrefix(r.route, "/api/preferences/user") {
			id = mxDynUserID
		}
		path = strings.Replace(r.route, ":pk", id, 1)
		switch {
		case !write:
			return path, "", ""
		case strings.Contains(r.route, "/bulk"):
			return path, ctJSON, `{"` + id + `": "7"}`
		}
		return path, ctJSON, `{"value": "7"}`
	case "edx":
		path = strings.NewReplacer(":username", mxOwner, ":key", "test_key").Replace(r.route)
	default:
		path = strings.Replace(r.route, ":key", "lk", 1)
	}
	switch {
	case !r.edx():
		if r.method == http.MethodPost || r.method == http.MethodPut || r.method == http.MethodPatch {
			return path, ctJSON, `{"preferences": "v"}`
		}
	case r.method == http.MethodPatch:
		return path, ctMergePatch, `{"mk": "v"}`
	case r.method == http.MethodPut || r.method == http.MethodPost:
		return path, ctJSON, `"v"`
	}
	return path, "", ""
}

func (r matrixRow) edx() bool { return r.dialect() == "edx" }

// dialect names the dialect serving the row's route.
func (r matrixRow) dialect() string {
	switch {
	case strings.HasPrefix(r.route, "/api/user/v1/"):
		return "edx"
	case strings.HasPrefix(r.route, "/api/users/"):
		return "layout"
	case strings.HasPrefix(r.route, "/api/settings/"):
		return "inventree"
	case strings.HasPrefix(r.route, "/api/preferences/"):
		return "dynprefs"
	}
	return ""
}

// scheme is the Authorization scheme the dialect's clients send.
func (r matrixRow) scheme() string {
	switch r.dialect() {
	case "edx":
		return "Bearer"
	case "layout":
		return "JWT"
	}
	return "Token"
}

// jwtScheme is the Authorization scheme the dialect's clients send a JWT
// with: edX's JwtAuthentication takes Bearer, djangorestframework-jwt (the
// layout, InvenTree and dynamic-preferences dialects) takes JWT; the Token
// scheme never carries a JWT.
func (r matrixRow) jwtScheme() string {
	if r.edx() {
		return "Bearer"
	}
	return "JWT"
}

// expiredBody is the body every dialect answers an expired JWT with, nil
// where there is none (HEAD).
func (r matrixRow) expiredBody() map[string]any {
	switch {
	case r.method == http.MethodHead:
		return nil
	case r.edx():
		return map[string]any{"error_code": "token_expired", "developer_message": "The provided access token has expired and is no longer valid."}
	}
	return map[string]any{"detail": "Signature has expired."}
}

// newMatrixFixture is newFixture with a node that verifies HS256 JWTs
// signed with jwtSecret, on matrixNow's clock and the default leeway.
func newMatrixFixture(t *testing.T) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwt-secret")
	if err := os.WriteFile(path, []byte(jwtSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := jwtauth.New(jwtauth.Config{HS256SecretFile: path, Leeway: jwtauth.DefaultLeeway, Now: func() time.Time { return matrixNow }})
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureWith(t, testnode.Options{JWT: v})
}

// matrixRouted reports whether a registered path needs rows.
func matrixRouted(path string) bool {
	for _, p := range matrixPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

func TestAuthorizationMatrix(t *testing.T) {
	f := newMatrixFixture(t)
	installDynCatalog(t, f)
	installITCatalog(t, f, itCatalog(t))
	rows := matrixRows()

	// Every route under matrixPrefixes must have a row, and every row a
	// route.
	h := api.New(api.Options{Cluster: f.node.Node, MaxBodyBytes: 1 << 20})
	engine, ok := h.(*gin.Engine)
	if !ok {
		t.Fatalf("api.New returned %T, not *gin.Engine", h)
	}
	have := map[string]bool{}
	for _, r := range rows {
		k := r.method + " " + r.route
		if have[k] {
			t.Fatalf("two rows for %s", k)
		}
		have[k] = true
	}
	registered := map[string]bool{}
	for _, ri := range engine.Routes() {
		if !matrixRouted(ri.Path) {
			continue
		}
		k := ri.Method + " " + ri.Path
		registered[k] = true
		if !have[k] {
			t.Errorf("route %s is registered but has no row in the authorization matrix", k)
		}
	}
	for _, k := range sortedKeys(have) {
		if !registered[k] {
			t.Errorf("the matrix has a row for %s, which is not registered", k)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	tokens := map[string]string{
		"owner":     f.createUser(t, mxOwner, false),
		"other":     f.createUser(t, mxOther, false),
		"staff":     f.createUser(t, mxStaff, true),
		"superuser": testnode.AdminToken,
		"perm":      f.createUser(t, mxPerm, false),
		// The owner's JWTs, as the identity provider would sign them: one
		// that expired beyond the leeway, one valid on the verifier's clock.
		mxExpiredJWT: mintJWT(t, mxOwner,
			"iat", matrixNow.Add(-2*time.Hour).Unix(),
			"exp", matrixNow.Add(-jwtauth.DefaultLeeway-time.Minute).Unix()),
		mxOwnerJWT: mintJWT(t, mxOwner,
			"iat", matrixNow.Add(-time.Minute).Unix(),
			"exp", matrixNow.Add(time.Hour).Unix()),
	}
	f.admin(t, http.MethodPatch, "/api/admin/users/"+mxPerm, map[string]any{"permissions": []string{dynPerm}}, http.StatusOK)
	ids := map[string]uint64{}
	st := f.node.FSM().State()
	for _, name := range []string{mxOwner, mxOther, mxStaff, mxPerm, "admin"} {
		u, ok := st.UserByName(name)
		if !ok {
			t.Fatalf("user %s not in the local state", name)
		}
		ids[name] = u.ID
	}
	notif, ok := st.SettingDef(fsm.RegistryInvenTree, fsm.ScopeNotification, mxITNotifKey)
	if !ok {
		t.Fatalf("no InvenTree notification setting %s", mxITNotifKey)
	}
	notifPK := strconv.FormatUint(ids[mxOwner]<<20|notif.ID, 10)
	// reset puts the preferences back as every cell expects them: the owner
	// holds test_key and lk, nobody else holds anything the matrix writes.
	// The InvenTree and dynamic-preferences rows need no reset: they write
	// the same valid value every time, and no status depends on it.
	touched := []string{"test_key", "lk", "mk"}
	reset := func() {
		t.Helper()
		for name, id := range ids {
			p := fsm.PatchPrefs{UserID: id, Delete: touched}
			if name == mxOwner {
				p = fsm.PatchPrefs{UserID: id, Delete: []string{"mk"},
					Set: []fsm.KV{{Key: "test_key", Value: "test_value"}, {Key: "lk", Value: "layout"}}}
			}
			cmd, err := fsm.Encode(fsm.CmdPatchPrefs, p)
			if err != nil {
				t.Fatal(err)
			}
			res, _, err := f.node.Apply(context.Background(), cmd)
			if err != nil || res.Err != nil {
				t.Fatalf("reset: %v %v", err, res.Err)
			}
		}
	}
	reset()

	sort.SliceStable(rows, func(i, j int) bool { return rows[i].route < rows[j].route })
	cells := 0
	for _, r := range rows {
		path, ctype, body := r.concrete(notifPK)
		for _, cell := range r.cells() {
			caller := cell.caller
			cells++
			var auth string
			scheme := r.scheme()
			switch caller {
			case "anonymous":
			case "wrong token":
				auth = scheme + " not-a-token"
			case mxExpiredJWT, mxOwnerJWT:
				auth = r.jwtScheme() + " " + tokens[caller]
			default:
				auth = scheme + " " + tokens[caller]
			}
			var b []byte
			if body != "" {
				b = []byte(body)
			}
			resp := f.do(t, r.method, path, auth, ctype, b)
			if resp.status != cell.want {
				t.Errorf("%s %s (%s) as %s: status %d, want %d; body %s", r.method, path, r.route, caller, resp.status, cell.want, resp.body)
			}
			if caller == mxExpiredJWT && resp.status == http.StatusUnauthorized {
				want := r.expiredBody()
				var got map[string]any
				switch {
				case want == nil:
					if len(resp.body) != 0 {
						t.Errorf("%s %s as %s: body %s, want none", r.method, path, caller, resp.body)
					}
				case json.Unmarshal(resp.body, &got) != nil || !reflect.DeepEqual(got, want):
					t.Errorf("%s %s (%s dialect) as %s: body %s, want %v", r.method, path, r.dialect(), caller, resp.body, want)
				}
			}
			if r.edx() && (resp.status == 403 || resp.status == 404) && len(resp.body) != 0 {
				t.Errorf("%s %s as %s: edX refusal %d has a body: %s", r.method, path, caller, resp.status, resp.body)
			}
			if (r.dialect() == "edx" || r.dialect() == "layout") && resp.status >= 200 && resp.status < 300 &&
				r.method != http.MethodGet && r.method != http.MethodHead && r.method != http.MethodOptions {
				reset()
			}
		}
	}
	t.Logf("authorization matrix: %d rows (route × method), %d cells", len(rows), cells)
}
