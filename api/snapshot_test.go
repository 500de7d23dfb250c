package api_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/internal/testnode"
)

// TestSnapshotEndpoints downloads a backup, restores it and refuses broken
// uploads, and transfers leadership in a cluster of one, checking each
// answer (TestMain checks them against the OpenAPI document too).
func TestSnapshotEndpoints(t *testing.T) {
	f := newFixture(t)
	f.createUser(t, "gina", false)

	r := f.do(t, http.MethodGet, "/api/cluster/snapshot", adminAuth, "", nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != cluster.BackupMediaType ||
		r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) || r.header.Get("X-Prefsd-Consistency") != "linearizable" {
		t.Fatalf("GET snapshot: %d %v", r.status, r.header)
	}
	hdr, err := cluster.VerifyBackup(bytes.NewReader(r.body))
	if err != nil || strconv.FormatUint(hdr.Index, 10) != r.header.Get("X-Prefsd-Index") {
		t.Fatalf("downloaded backup %+v: %v", hdr, err)
	}
	backup := r.body

	tests := []struct {
		name, method, path, auth, ctype string
		body                            []byte
		status                          int
		want                            string // in the body
	}{
		{"stale backup", "GET", "/api/cluster/snapshot?consistency=stale", adminAuth, "", nil, 200, `"format":"prefsd-backup"`},
		{"backup at a bad level", "GET", "/api/cluster/snapshot?consistency=eventual", adminAuth, "", nil, 400, `"code":"bad_request"`},
		{"backup without a superuser", "GET", "/api/cluster/snapshot", "Token " + f.createUser(t, "hank", true), "", nil, 403, `"code":"bad_cluster_key"`},
		{"backup without credentials", "GET", "/api/cluster/snapshot", "", "", nil, 403, `"code":"bad_cluster_key"`},
		{"restore", "POST", "/api/cluster/snapshot/restore", adminAuth, cluster.BackupMediaType, backup, 200, `"sha256":"` + hdr.SHA256 + `"`},
		{"restore a truncated file", "POST", "/api/cluster/snapshot/restore", adminAuth, "application/octet-stream", backup[:len(backup)-1], 400, `"code":"bad_backup"`},
		{"restore something else", "POST", "/api/cluster/snapshot/restore", adminAuth, "application/json", []byte("{\"users\":[]}\n"), 400, `not a prefsd backup`},
		{"restore nothing", "POST", "/api/cluster/snapshot/restore", adminAuth, "", nil, 400, `"code":"bad_backup"`},
		{"transfer with no one to take it", "POST", "/api/cluster/transfer-leadership", adminAuth, "", nil, 400, `no other voter`},
		{"transfer to the leader", "POST", "/api/cluster/transfer-leadership", adminAuth, "application/json", []byte(`{"to":"n1"}`), 200, `{"previous_leader":"n1","leader":"n1"}`},
		{"transfer to a stranger", "POST", "/api/cluster/transfer-leadership", adminAuth, "application/json", []byte(`{"to":"n9"}`), 404, `"code":"not_found"`},
		{"transfer with a bad body", "POST", "/api/cluster/transfer-leadership", adminAuth, "application/json", []byte(`{"to":`), 400, `"code":"bad_request"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, tt.method, tt.path, tt.auth, tt.ctype, tt.body)
			if r.status != tt.status || !strings.Contains(string(r.body), tt.want) {
				t.Fatalf("%s %s: %d %s; want %d with %s", tt.method, tt.path, r.status, r.body, tt.status, tt.want)
			}
		})
	}
	if _, ok := f.node.FSM().State().UserByName("hank"); ok {
		t.Fatal("the restore kept a user created after the backup")
	}
}

// TestRestoreBeyondBodyLimit checks that a backup larger than the node's
// body limit for requests is restored all the same: backups outgrow any
// sensible limit on API requests.
func TestRestoreBeyondBodyLimit(t *testing.T) {
	f := newFixtureWith(t, testnode.Options{Configure: func(c *config.Config) { c.MaxBodyBytes = 2048 }})
	for i := range 20 {
		f.createUser(t, "user"+strconv.Itoa(i), false)
	}
	r := f.do(t, http.MethodGet, "/api/cluster/snapshot", adminAuth, "", nil)
	if r.status != http.StatusOK || len(r.body) <= 2048 {
		t.Fatalf("GET snapshot: %d, %d bytes", r.status, len(r.body))
	}
	f.createUser(t, "after-backup", false)
	res := f.do(t, http.MethodPost, "/api/cluster/snapshot/restore", adminAuth, cluster.BackupMediaType, r.body)
	if res.status != http.StatusOK {
		t.Fatalf("restore of %d bytes with a body limit of 2048: %d %s", len(r.body), res.status, res.body)
	}
	st := f.node.FSM().State()
	if _, ok := st.UserByName("after-backup"); ok {
		t.Error("the restore kept a user created after the backup")
	}
	if _, ok := st.UserByName("user19"); !ok {
		t.Error("the restore lost a user the backup holds")
	}
}
