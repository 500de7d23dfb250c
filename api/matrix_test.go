package api_test

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/api"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// The authorization matrix of the edX and layout routes: every route ×
// method × caller, with the status the reference (as document 002 amends
// it) answers. A route registered under /api/user/ or /api/users/ without
// rows here fails the test, so a new route cannot go unreviewed.

// callers, in the order of a row's statuses.
var matrixCallers = []string{"anonymous", "wrong token", "owner", "other", "staff", "superuser"}

// matrixRow is one route and method: the statuses for each caller.
type matrixRow struct {
	method string
	route  string // the gin route template
	want   [6]int
}

const (
	mxOwner = "mx_owner"
	mxOther = "mx_other"
	mxStaff = "mx_staff"
)

var (
	edxListRoutes  = []string{"/api/user/v1/preferences/:username", "/api/user/v1/preferences/:username/"}
	edxDetailRoute = "/api/user/v1/preferences/:username/:key"
	layoutRoutes   = []string{"/api/users/preferences/:key/", "/api/users/preferences/:key"}
)

// row makes a row; anonymous callers and wrong tokens always get 401, even
// where the method is not allowed (authentication runs first).
func row(method, route string, owner, other, staff, super int) matrixRow {
	return matrixRow{method: method, route: route, want: [6]int{401, 401, owner, other, staff, super}}
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
	return rows
}

// concrete returns the path, Content-Type and body of a request on a row.
func (r matrixRow) concrete() (path, ctype, body string) {
	switch {
	case r.edx():
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

func (r matrixRow) edx() bool { return strings.HasPrefix(r.route, "/api/user/v1/") }

func TestAuthorizationMatrix(t *testing.T) {
	f := newFixture(t)
	rows := matrixRows()

	// Every edX and layout route must have a row, and every row a route.
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
		if !strings.HasPrefix(ri.Path, "/api/user/") && !strings.HasPrefix(ri.Path, "/api/users/") {
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
	}
	ids := map[string]uint64{}
	st := f.node.FSM().State()
	for _, name := range []string{mxOwner, mxOther, mxStaff, "admin"} {
		u, ok := st.UserByName(name)
		if !ok {
			t.Fatalf("user %s not in the local state", name)
		}
		ids[name] = u.ID
	}
	// reset puts the preferences back as every cell expects them: the owner
	// holds test_key and lk, nobody else holds anything the matrix writes.
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
	for _, r := range rows {
		path, ctype, body := r.concrete()
		for i, caller := range matrixCallers {
			var auth string
			scheme := "Bearer"
			if !r.edx() {
				scheme = "JWT"
			}
			switch caller {
			case "anonymous":
			case "wrong token":
				auth = scheme + " not-a-token"
			default:
				auth = scheme + " " + tokens[caller]
			}
			var b []byte
			if body != "" {
				b = []byte(body)
			}
			resp := f.do(t, r.method, path, auth, ctype, b)
			if resp.status != r.want[i] {
				t.Errorf("%s %s (%s) as %s: status %d, want %d; body %s", r.method, path, r.route, caller, resp.status, r.want[i], resp.body)
			}
			if r.edx() && (resp.status == 403 || resp.status == 404) && len(resp.body) != 0 {
				t.Errorf("%s %s as %s: edX refusal %d has a body: %s", r.method, path, caller, resp.status, resp.body)
			}
			if resp.status >= 200 && resp.status < 300 && r.method != http.MethodGet && r.method != http.MethodHead && r.method != http.MethodOptions {
				reset()
			}
		}
	}
}
