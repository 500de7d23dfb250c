package cluster_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prefsd/prefsd/client"
	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// takeBackup takes a linearizable backup through n and returns it whole.
func takeBackup(t testing.TB, n *testnode.Node) ([]byte, cluster.BackupHeader) {
	t.Helper()
	b, err := n.Backup(opCtx(t), cluster.Linearizable)
	if err != nil {
		t.Fatalf("backup through %s: %v", n.ID(), err)
	}
	var buf bytes.Buffer
	if k, err := b.WriteTo(&buf); err != nil || k != b.Size() || int64(buf.Len()) != b.Size() {
		t.Fatalf("write backup: %d of %d bytes, %v", k, b.Size(), err)
	}
	return buf.Bytes(), b.Header
}

// splitBackup returns a backup's header line (with its newline) and payload.
func splitBackup(t testing.TB, backup []byte) (line, payload []byte) {
	t.Helper()
	i := bytes.IndexByte(backup, '\n')
	if i < 0 {
		t.Fatal("backup without a header line")
	}
	return backup[:i+1], backup[i+1:]
}

// editState rewrites a state encoding: meta edits the state header's meta
// record and keep says which record lines stay. Either may be nil.
func editState(t testing.TB, payload []byte, meta func(map[string]any), keep func(line []byte) bool) []byte {
	t.Helper()
	lines := bytes.SplitAfter(payload, []byte("\n"))
	var h map[string]any
	if err := json.Unmarshal(lines[0], &h); err != nil {
		t.Fatal(err)
	}
	if meta != nil {
		meta(h["meta"].(map[string]any))
	}
	first, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	out := append(first, '\n')
	for _, l := range lines[1:] {
		if len(l) > 0 && (keep == nil || keep(l)) {
			out = append(out, l...)
		}
	}
	return out
}

// stateWithoutIndex is a state encoding with the index left out, to
// compare the states of different indexes.
func stateWithoutIndex(t testing.TB, payload []byte) []byte {
	t.Helper()
	return editState(t, payload, func(m map[string]any) { delete(m, "index") }, nil)
}

// makeBackup wraps a state encoding in a backup header that describes it
// truthfully.
func makeBackup(t testing.TB, payload []byte) []byte {
	t.Helper()
	var h struct {
		Meta struct {
			Index uint64 `json:"index"`
		} `json:"meta"`
	}
	if err := json.NewDecoder(bytes.NewReader(payload)).Decode(&h); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	line, err := json.Marshal(cluster.BackupHeader{
		Format: cluster.BackupFormat, Version: cluster.BackupVersion, NodeID: "crafted",
		Index: h.Meta.Index, Term: 1, Created: "2025-01-01T00:00:00Z",
		Size: int64(len(payload)), SHA256: hex.EncodeToString(sum[:]),
	})
	if err != nil {
		t.Fatal(err)
	}
	return append(append(line, '\n'), payload...)
}

// restoreOnLeader restores a backup through whichever node leads, again
// while leadership moves under it (a restore may be repeated: it sets the
// whole state). It returns the result and the node that restored.
func restoreOnLeader(t testing.TB, nodes []*testnode.Node, backup []byte) (cluster.RestoreResult, *testnode.Node) {
	t.Helper()
	deadline := time.Now().Add(opTimeout)
	for {
		leader := testnode.WaitLeader(t, nodes)
		res, err := leader.RestoreBackup(opCtx(t), bytes.NewReader(backup), int64(len(backup)), false)
		if err == nil {
			return res, leader
		}
		if !retryable(err) || time.Now().After(deadline) {
			t.Fatalf("restore through %s: %v", leader.ID(), err)
		}
		t.Logf("restore through %s: %v; trying again", leader.ID(), err)
	}
}

// statusWithToken GETs url with a token and returns the status.
func statusWithToken(t testing.TB, url, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(opCtx(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// checkDirectory checks that every node's member directory lists exactly
// the nodes at their own API addresses.
func checkDirectory(t testing.TB, nodes []*testnode.Node) {
	t.Helper()
	for _, n := range nodes {
		st := n.FSM().State()
		var got, want []string
		for _, m := range st.Members() {
			got = append(got, m.NodeID+"="+m.APIAddr)
		}
		for _, m := range nodes {
			want = append(want, m.ID()+"="+m.Addr)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s's member directory: %v, want %v", n.ID(), got, want)
		}
	}
}

// TestBackupAndRestore saves the state through a follower, writes more,
// restores through the leader, and checks that every node ends with the
// saved state, that consistent reads see it at once everywhere, and that
// the cluster goes on working.
func TestBackupAndRestore(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	followers := testnode.Followers(nodes)
	alice := createUser(t, leader, "alice")
	setPref(t, followers[0], alice, "theme", "dark")
	setPref(t, followers[1], alice, "lang", "fr")

	saved, hdr := takeBackup(t, followers[0])
	line, payload := splitBackup(t, saved)
	if got, err := cluster.VerifyBackup(bytes.NewReader(saved)); err != nil || got != hdr {
		t.Fatalf("VerifyBackup: %+v, %v; the backup says %+v", got, err, hdr)
	}
	if hdr.Format != cluster.BackupFormat || hdr.Version != cluster.BackupVersion || hdr.NodeID != followers[0].ID() ||
		hdr.Size != int64(len(payload)) || hdr.Term == 0 || !strings.HasSuffix(string(line), "}\n") {
		t.Fatalf("header %+v", hdr)
	}
	// The payload is the state's encoding, so its SHA-256 is the state's
	// digest at the backup's index.
	st, err := fsm.ReadSnapshot(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := st.Digest(); d != hdr.SHA256 || st.Index() != hdr.Index {
		t.Fatalf("state digest %s at %d, header says %s at %d", d, st.Index(), hdr.SHA256, hdr.Index)
	}
	if _, ok := st.UserByName("alice"); !ok {
		t.Fatal("the backup lacks alice")
	}

	// Writes after the backup, which the restore must undo.
	setPref(t, leader, alice, "theme", "light")
	createUser(t, followers[1], "bob")
	lastBefore := leader.Raft().LastIndex()

	res, leader := restoreOnLeader(t, nodes, saved)
	followers = testnode.Followers(nodes)
	if res.NodeID != leader.ID() || res.Backup != hdr || res.Index <= lastBefore || len(res.Warnings) != 0 {
		t.Fatalf("restore result %+v (last index before %d)", res, lastBefore)
	}
	// A consistent read anywhere sees the restored state as soon as the
	// restore has answered.
	for _, n := range nodes {
		st := readLinearizable(t, n)
		if _, ok := st.UserByName("bob"); ok {
			t.Errorf("%s still serves bob after the restore", role(n))
		}
		if v, _ := st.Pref(alice, "theme"); v != "dark" {
			t.Errorf("%s serves theme %q after the restore, want dark", role(n), v)
		}
	}
	waitConverged(t, leader, nodes)
	if got := stateWithoutIndex(t, stateBytes(t, leader.FSM().State())); !bytes.Equal(got, stateWithoutIndex(t, payload)) {
		t.Fatalf("restored state differs from the saved one:\n%s\nvs\n%s", got, stateWithoutIndex(t, payload))
	}
	checkDirectory(t, nodes)
	for _, n := range nodes {
		if code := statusWithToken(t, n.URL+"/api/cluster/digest", testnode.AdminToken); code != http.StatusOK {
			t.Errorf("the admin token gets %d from %s after the restore", code, n.ID())
		}
	}

	// The cluster goes on: a write through a follower reaches everyone.
	setPref(t, followers[0], alice, "after", "restore")
	waitConverged(t, leader, nodes)
	if v, _ := followers[1].FSM().State().Pref(alice, "after"); v != "restore" {
		t.Fatalf("a write after the restore: %q", v)
	}
}

// TestRestoreRefusesBadBackups uploads broken and foreign files and checks
// that each is refused as ErrBadBackup and that nothing changed.
func TestRestoreRefusesBadBackups(t *testing.T) {
	nodes := testnode.StartCluster(t, 1, nil)
	n := nodes[0]
	uid := createUser(t, n, "carol")
	setPref(t, n, uid, "k", strings.Repeat("v", 1000))
	good, hdr := takeBackup(t, n)
	line, payload := splitBackup(t, good)
	createUser(t, n, "dave") // the state now differs from the backup

	flipped := bytes.Clone(good)
	flipped[len(line)+len(payload)/2] ^= 0x20
	reheader := func(edit func(*cluster.BackupHeader)) []byte {
		h := hdr
		edit(&h)
		l, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		return append(append(l, '\n'), payload...)
	}
	// A payload with the right checksum that the state machine refuses: a
	// token of a user that does not exist.
	orphan := makeBackup(t, append(bytes.Clone(payload), []byte(`{"token":{"id":999,"user_id":4242,"name":"x","digest":"AAAA","created":0}}`+"\n")...))

	tests := []struct {
		name string
		file []byte
		want string
		// fileOK says the file itself is sound (VerifyBackup passes): only
		// decoding the state shows the fault.
		fileOK bool
	}{
		{"empty", nil, "no complete first line", false},
		{"truncated", good[:len(good)-100], "truncated", false},
		{"header only", line, "truncated", false},
		{"extended", append(bytes.Clone(good), "more\n"...), "data after", false},
		{"corrupted", flipped, "checksum mismatch", false},
		{"foreign text", []byte("hello, world\nthis is not a backup\n"), "not a prefsd backup", false},
		{"foreign JSON", []byte(`{"format":"something-else","version":1}` + "\n{}\n"), "not a prefsd backup", false},
		{"huge first line", append(bytes.Repeat([]byte("x"), 10<<10), '\n'), "longer than", false},
		{"newer version", reheader(func(h *cluster.BackupHeader) { h.Version = 2 }), "version 2", false},
		{"bad checksum field", reheader(func(h *cluster.BackupHeader) { h.SHA256 = "abc" }), "not a hex SHA-256", false},
		{"header index not the state's", reheader(func(h *cluster.BackupHeader) { h.Index++ }), "the header says index", true},
		{"state the machine refuses", orphan, "unknown user 4242", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := n.FSM().State()
			lastIndex := n.Raft().LastIndex()
			_, err := n.RestoreBackup(opCtx(t), bytes.NewReader(tt.file), int64(len(tt.file)), false)
			if !errors.Is(err, cluster.ErrBadBackup) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("restore: %v, want ErrBadBackup saying %q", err, tt.want)
			}
			if after := n.FSM().State(); after != before || n.Raft().LastIndex() != lastIndex {
				t.Fatalf("a refused restore changed the node: index %d → %d, raft %d → %d",
					before.Index(), after.Index(), lastIndex, n.Raft().LastIndex())
			}
			if _, err := cluster.VerifyBackup(bytes.NewReader(tt.file)); (err == nil) != tt.fileOK {
				t.Fatalf("VerifyBackup: %v; want the file judged sound: %v", err, tt.fileOK)
			}
		})
	}
	if _, ok := n.FSM().State().UserByName("dave"); !ok {
		t.Fatal("dave is gone")
	}
}

// TestRestoreForeignBackup restores a backup of another cluster, which
// lacks the superuser and the catalogue, and checks that the leader
// reconciles what it does on winning an election: the member directory
// lists this cluster's nodes, the default catalogue and the superuser with
// this cluster's admin token are back.
func TestRestoreForeignBackup(t *testing.T) {
	other := testnode.Start(t, testnode.Options{ID: "b1"})
	testnode.WaitLeader(t, []*testnode.Node{other})
	createUser(t, other, "zed")
	var adminID uint64
	testnode.Eventually(t, convergeFor, func() error {
		u, ok := other.FSM().State().UserByName(cluster.AdminUsername)
		if !ok {
			return errors.New("no superuser yet")
		}
		adminID = u.ID
		return nil
	})
	mustApply(t, other, fsm.CmdDeleteUser, fsm.DeleteUser{UserID: adminID})
	saved, _ := takeBackup(t, other)
	_, payload := splitBackup(t, saved)
	// An older cluster that never had a catalogue.
	payload = editState(t, payload,
		func(m map[string]any) { delete(m, "catalog_version") },
		func(l []byte) bool { return !bytes.HasPrefix(l, []byte(`{"def":`)) })
	foreign := makeBackup(t, payload)

	nodes := testnode.StartCluster(t, 3, nil)
	res, leader := restoreOnLeader(t, nodes, foreign)
	if len(res.Warnings) != 0 {
		t.Fatalf("restore: %+v", res)
	}
	waitConverged(t, leader, nodes)
	checkDirectory(t, nodes)
	st := leader.FSM().State()
	if _, ok := st.UserByName("zed"); !ok {
		t.Fatal("the restored state lacks zed")
	}
	if st.CatalogVersion() == 0 || len(st.CatalogAll()) == 0 {
		t.Fatalf("no catalogue after the restore: version %d", st.CatalogVersion())
	}
	admin, ok := st.UserByName(cluster.AdminUsername)
	if !ok || !admin.IsSuperuser {
		t.Fatalf("superuser %+v, %v", admin, ok)
	}
	for _, n := range nodes {
		if code := statusWithToken(t, n.URL+"/api/admin/users", testnode.AdminToken); code != http.StatusOK {
			t.Errorf("the admin token gets %d from %s after the restore", code, n.ID())
		}
	}
}

// adminClient returns a client that calls nodes with the superuser's token.
func adminClient(t testing.TB, nodes ...*testnode.Node) *client.Client {
	t.Helper()
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.URL)
	}
	c, err := client.New(addrs, client.Options{Token: testnode.AdminToken})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bigRestores gives raft the production timing: installing megabytes of
// state on three nodes in one process under the race detector can starve
// heartbeats past the tests' usual 150ms.
func bigRestores(c *config.Config) {
	c.HeartbeatTimeout = 500 * time.Millisecond
	c.ElectionTimeout = 500 * time.Millisecond
}

// restoreRetry uploads a backup through c, again while the answer is that
// no leader took it or its outcome is unknown: a restore may be repeated,
// since it sets the whole state.
func restoreRetry(t testing.TB, c *client.Client, backup []byte) client.RestoreResult {
	t.Helper()
	open := func() (io.Reader, error) { return bytes.NewReader(backup), nil }
	deadline := time.Now().Add(opTimeout)
	for {
		res, err := c.Restore(opCtx(t), open, int64(len(backup)))
		var ce *client.Error
		if err == nil || !errors.As(err, &ce) || (ce.Status != http.StatusServiceUnavailable && ce.Status != http.StatusGatewayTimeout) || time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			return res
		}
		t.Logf("restore: %v; trying again", err)
	}
}

// TestRestoreThroughFollower downloads a backup of several megabytes from
// one follower over HTTP and restores it by uploading it to the other,
// which streams it on to the leader; a truncated upload is refused with
// the leader's message and changes nothing.
func TestRestoreThroughFollower(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, bigRestores)
	leader := testnode.WaitLeader(t, nodes)
	followers := testnode.Followers(nodes)
	for u := range 3 {
		uid := createUser(t, leader, fmt.Sprintf("user%d", u))
		for k := range 12 {
			setPref(t, followers[k%2], uid, fmt.Sprintf("blob%02d", k), strings.Repeat(string(rune('a'+k)), 100_000))
		}
	}

	dl, err := adminClient(t, followers[0]).Snapshot(opCtx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	saved, err := io.ReadAll(dl.Body)
	dl.Body.Close()
	if err != nil || int64(len(saved)) != dl.Size || dl.Size < 3<<20 {
		t.Fatalf("download: %d bytes of %d announced, %v", len(saved), dl.Size, err)
	}
	hdr, err := cluster.VerifyBackup(bytes.NewReader(saved))
	if err != nil || hdr.NodeID != followers[0].ID() || dl.Index != hdr.Index {
		t.Fatalf("downloaded backup %+v (index header %d): %v", hdr, dl.Index, err)
	}
	_, payload := splitBackup(t, saved)

	gone := createUser(t, followers[1], "gone")
	setPref(t, leader, gone, "k", "v")

	via := adminClient(t, followers[1])
	open := func(b []byte) func() (io.Reader, error) {
		return func() (io.Reader, error) { return bytes.NewReader(b), nil }
	}
	before := leader.FSM().State()
	truncated := saved[:len(saved)-4096]
	_, err = via.Restore(opCtx(t), open(truncated), int64(len(truncated)))
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest || ce.Code != "bad_backup" || !strings.Contains(ce.Message, "truncated") {
		t.Fatalf("truncated upload: %v, want the leader's 400 bad_backup", err)
	}
	if leader.FSM().State() != before {
		t.Fatal("a refused restore changed the leader's state")
	}

	res := restoreRetry(t, via, saved)
	// Consistent reads see the restored state at once on every node, even
	// on one still installing it.
	for _, n := range nodes {
		if _, ok := readLinearizable(t, n).UserByName("gone"); ok {
			t.Errorf("%s serves a user created after the backup once the restore answered", role(n))
		}
	}
	leader = testnode.WaitLeader(t, nodes)
	if res.NodeID == "" || res.Backup.SHA256 != hdr.SHA256 || res.Index <= hdr.Index {
		t.Fatalf("restore result %+v", res)
	}
	waitConverged(t, leader, nodes)
	if got := stateWithoutIndex(t, stateBytes(t, leader.FSM().State())); !bytes.Equal(got, stateWithoutIndex(t, payload)) {
		t.Fatal("the restored state differs from the saved one")
	}
	digests := map[string]bool{}
	for _, n := range nodes {
		d, err := adminClient(t, n).Digest(opCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		digests[fmt.Sprintf("%d/%s", d.FSMIndex, d.SHA256)] = true
	}
	if len(digests) != 1 {
		t.Fatalf("nodes disagree after the restore: %v", digests)
	}
	if _, ok := followers[0].FSM().State().UserByName("gone"); ok {
		t.Fatal("a user created after the backup survived the restore")
	}
	checkDirectory(t, nodes)
}

// TestTransferLeadership hands leadership to a named node and to any
// node, through the leader and through followers.
func TestTransferLeadership(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	followers := testnode.Followers(nodes)
	target := followers[1]

	res, err := adminClient(t, followers[0]).TransferLeadership(opCtx(t), target.ID())
	if err != nil || res.Previous != leader.ID() || res.Leader != target.ID() {
		t.Fatalf("transfer to %s through %s: %+v, %v", target.ID(), followers[0].ID(), res, err)
	}
	if now := testnode.WaitLeader(t, nodes); now != target {
		t.Fatalf("%s leads, want %s", now.ID(), target.ID())
	}

	res, err = adminClient(t, target).TransferLeadership(opCtx(t), "")
	if err != nil || res.Previous != target.ID() || res.Leader == target.ID() {
		t.Fatalf("transfer away from %s: %+v, %v", target.ID(), res, err)
	}
	now := testnode.WaitLeader(t, nodes)

	refusals := []struct {
		to     string
		status int
		want   string
	}{
		{"n9", http.StatusNotFound, `no such node: "n9"`},
	}
	for _, r := range refusals {
		_, err := adminClient(t, now).TransferLeadership(opCtx(t), r.to)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != r.status || !strings.Contains(ce.Message, r.want) {
			t.Fatalf("transfer to %q: %v, want %d %q", r.to, err, r.status, r.want)
		}
	}
	if res, err := now.TransferLeadership(opCtx(t), now.ID()); err != nil || res.Leader != now.ID() {
		t.Fatalf("transfer to the leader itself: %+v, %v", res, err)
	}

	single := testnode.StartCluster(t, 1, nil)[0]
	testnode.Eventually(t, convergeFor, func() error {
		if _, ok := single.FSM().State().UserByName(cluster.AdminUsername); !ok {
			return errors.New("no superuser yet")
		}
		return nil
	})
	_, err = adminClient(t, single).TransferLeadership(opCtx(t), "")
	if !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), "no other voter") {
		t.Fatalf("transfer in a cluster of one: %v", err)
	}
}
