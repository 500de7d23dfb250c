package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prefsd/prefsd/internal/testbin"
)

// settingWrite is one typed-setting write and where to read it back.
type settingWrite struct {
	method, path string
	body         any
	// read is the URL path that shows the value; field extracts it.
	read  string
	want  any
	field func(map[string]any) any
}

// inventreeValue and dynprefsValue extract a setting's value from each
// dialect's serialized object.
func inventreeValue(m map[string]any) any { return m["value"] }
func dynprefsValue(m map[string]any) any  { return m["value"] }

// TestTypedSettingsThreeNodes writes typed settings through followers in
// the InvenTree and dynamic-preferences dialects, kills the leader with
// SIGKILL, writes again through a survivor, restarts the killed node, and
// reads every acknowledged value back from every node.
func TestTypedSettingsThreeNodes(t *testing.T) {
	testbin.Prefsd(t)
	n1, n2, n3 := NewNode(t, "n1"), NewNode(t, "n2"), NewNode(t, "n3")
	nodes := []*Node{n1, n2, n3}
	for _, n := range nodes {
		n.Env = clusterEnv()
	}
	n1.Start(n1.Flags("--bootstrap")...)
	n2.Start(n2.Flags("--join", n1.HTTPAddr)...)
	n3.Start(n3.Flags("--join", n1.HTTPAddr)...)
	leader := waitCluster(t, nodes, nodes, 30*time.Second)
	followers := without(nodes, leader)

	// A staff user who may change dynamic-preferences' global preferences.
	mustStatus(t, "create ops", http.StatusCreated, func() (testbin.Response, error) {
		return testbin.Do(http.MethodPost, followers[0].URL("/api/admin/users"), "Token "+adminToken, "application/json",
			map[string]any{"username": "ops", "is_staff": true,
				"permissions": []string{"dynamic_preferences.change_globalpreferencemodel"}})
	})
	token, res, err := createToken(followers[1], "ops", "t")
	if err != nil || token == "" {
		t.Fatalf("token: %v %v", res, err)
	}
	auth := "Token " + token

	writes := []settingWrite{
		{http.MethodPatch, "/api/settings/global/INVENTREE_COMPANY_NAME/", map[string]any{"value": "Acme Widgets"},
			"/api/settings/global/INVENTREE_COMPANY_NAME/", "Acme Widgets", inventreeValue},
		{http.MethodPut, "/api/settings/global/currency_update_interval/", map[string]any{"value": 3},
			"/api/settings/global/CURRENCY_UPDATE_INTERVAL/", "3", inventreeValue},
		{http.MethodPatch, "/api/settings/user/DATE_DISPLAY_FORMAT/", map[string]any{"value": "DD-MM-YYYY"},
			"/api/settings/user/DATE_DISPLAY_FORMAT/", "DD-MM-YYYY", inventreeValue},
		{http.MethodPatch, "/api/settings/user/LABEL_INLINE/", map[string]any{"value": false},
			"/api/settings/user/LABEL_INLINE/", "False", inventreeValue},
		{http.MethodPatch, "/api/preferences/global/user__max_users/", map[string]any{"value": 42},
			"/api/preferences/global/user__max_users/", 42.0, dynprefsValue},
		{http.MethodPatch, "/api/preferences/global/exam__duration/", map[string]any{"value": "P1DT2H"},
			"/api/preferences/global/exam__duration/", "1 02:00:00", dynprefsValue},
		{http.MethodPatch, "/api/preferences/user/misc__is_zombie/", map[string]any{"value": false},
			"/api/preferences/user/misc__is_zombie/", false, dynprefsValue},
	}
	for i, w := range writes {
		n := followers[i%len(followers)]
		mustStatus(t, fmt.Sprintf("%s %s through %s", w.method, w.path, n.ID), http.StatusOK, func() (testbin.Response, error) {
			return testbin.Do(w.method, n.URL(w.path), auth, "application/json", w.body)
		})
	}

	// Bad values are refused in each dialect's shape and change nothing.
	refused := []struct {
		path string
		body any
		want string
	}{
		{"/api/settings/user/SEARCH_PREVIEW_RESULTS/", map[string]any{"value": 0}, `"non_field_errors"`},
		{"/api/settings/global/DATE_DISPLAY_FORMAT_NOPE/", map[string]any{"value": "x"}, `"detail"`},
		{"/api/preferences/global/user__max_users/", map[string]any{"value": "abc"}, `"value"`},
	}
	for _, r := range refused {
		res, err := testbin.Do(http.MethodPatch, followers[0].URL(r.path), auth, "application/json", r.body)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status/100 != 4 || !json.Valid(res.Body) || !strings.Contains(string(res.Body), r.want) {
			t.Errorf("PATCH %s %v: %v, want a 4xx with %s", r.path, r.body, res, r.want)
		}
	}

	// Kill the leader; a write through a survivor must still be acknowledged.
	leader.Kill()
	survivors := followers
	extra := settingWrite{http.MethodPatch, "/api/settings/global/INVENTREE_COMPANY_NAME/", map[string]any{"value": "Acme after failover"},
		"/api/settings/global/INVENTREE_COMPANY_NAME/", "Acme after failover", inventreeValue}
	if _, err := retryWrite(failoverWriteBound, http.StatusOK, func() (testbin.Response, error) {
		return testbin.Do(extra.method, survivors[0].URL(extra.path), auth, "application/json", extra.body)
	}); err != nil {
		t.Fatalf("write after the leader's death: %v", err)
	}
	writes[0] = extra
	waitCluster(t, survivors, nodes, 30*time.Second)

	leader.Restart()
	waitCluster(t, nodes, nodes, 30*time.Second)

	for _, n := range nodes {
		for _, w := range writes {
			res, err := testbin.Do(http.MethodGet, n.URL(w.read+"?consistency=linearizable"), auth, "", nil)
			if err != nil {
				t.Fatalf("GET %s on %s: %v", w.read, n.ID, err)
			}
			var m map[string]any
			if res.Status != http.StatusOK || json.Unmarshal(res.Body, &m) != nil {
				t.Fatalf("GET %s on %s: %v", w.read, n.ID, res)
			}
			if got := w.field(m); fmt.Sprint(got) != fmt.Sprint(w.want) {
				t.Errorf("GET %s on %s: value %v, want %v", w.read, n.ID, got, w.want)
			}
		}
	}
}
