package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// startCluster starts three nodes and waits for the superuser.
func startCluster(t *testing.T) []*testnode.Node {
	t.Helper()
	nodes := testnode.StartCluster(t, 3, func(c *config.Config) {
		// Production timing: a restore installs the state on every node
		// of this one process, under the race detector.
		c.HeartbeatTimeout = 500 * time.Millisecond
		c.ElectionTimeout = 500 * time.Millisecond
	})
	testnode.Eventually(t, 20*time.Second, func() error {
		for _, n := range nodes {
			if _, ok := n.FSM().State().UserByName("admin"); !ok {
				return fmt.Errorf("%s has no superuser yet", n.ID())
			}
		}
		return nil
	})
	return nodes
}

// apply commits a command through n, failing the test on any error.
func apply(t *testing.T, n *testnode.Node, typ fsm.CmdType, body any) fsm.Result {
	t.Helper()
	cmd, err := fsm.Encode(typ, body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, _, err := n.Apply(ctx, cmd)
	if err != nil || res.Err != nil {
		t.Fatalf("apply %s: %v %v", typ, err, res.Err)
	}
	return res
}

// envFor points the commands at nodes, in order.
func envFor(nodes ...*testnode.Node) map[string]string {
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.URL)
	}
	return map[string]string{"PREFSD_ADDR": strings.Join(addrs, ","), "PREFSD_TOKEN": testnode.AdminToken}
}

// TestSnapshotSaveInspectRestore saves a backup through one follower,
// inspects it, writes more, restores it through the other follower, and
// checks every node's state; broken files are refused before any upload.
func TestSnapshotSaveInspectRestore(t *testing.T) {
	nodes := startCluster(t)
	leader := testnode.WaitLeader(t, nodes)
	followers := testnode.Followers(nodes)
	uid := apply(t, leader, fsm.CmdCreateUser, fsm.CreateUser{Username: "frank"}).ID
	apply(t, leader, fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: "theme", Value: "dark"}}})

	dir := t.TempDir()
	file := filepath.Join(dir, "cluster.backup")
	res := prefsd(t, envFor(followers[0]), "snapshot", "save", file)
	if res.code != 0 {
		t.Fatalf("snapshot save: %+v", res)
	}
	if !regexp.MustCompile(`^saved a backup of index \d+ \(term \d+\) from ` + followers[0].ID() + ` to .*cluster\.backup\nsize\s+\S+ \S+ \(\d+ bytes\)\nsha256\s+[0-9a-f]{64}\n$`).MatchString(res.stdout) {
		t.Fatalf("snapshot save printed:\n%s", res.stdout)
	}
	if !regexp.MustCompile(`(?m)^download .* 100%.* in \S+$`).MatchString(res.stderr) {
		t.Fatalf("no final progress line on stderr:\n%s", res.stderr)
	}
	saved, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := cluster.VerifyBackup(bytes.NewReader(saved))
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("snapshot save left %d files behind", len(entries))
	}

	var inspected cluster.BackupHeader
	mustJSON(t, []byte(prefsd(t, nil, "snapshot", "inspect", "--json", file).stdout), &inspected)
	if inspected != hdr {
		t.Fatalf("inspect --json: %+v, want %+v", inspected, hdr)
	}
	if res := prefsd(t, nil, "snapshot", "inspect", file); res.code != 0 || !strings.Contains(res.stdout, "checked") || !strings.Contains(res.stdout, hdr.SHA256) {
		t.Fatalf("inspect: %+v", res)
	}
	var toStdout bytes.Buffer
	res = prefsd(t, envFor(leader), "snapshot", "save", "--quiet", "-")
	toStdout.WriteString(res.stdout)
	if res.code != 0 || !strings.HasPrefix(res.stderr, "saved a backup of index") {
		t.Fatalf("snapshot save -: %+v", res)
	}
	if _, err := cluster.VerifyBackup(&toStdout); err != nil {
		t.Fatalf("the backup written to stdout: %v", err)
	}

	// Broken files never leave this machine.
	truncated := filepath.Join(dir, "truncated.backup")
	if err := os.WriteFile(truncated, saved[:len(saved)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"snapshot", "restore", truncated}, {"snapshot", "inspect", truncated}} {
		res := prefsd(t, envFor(followers[1]), args...)
		if res.code != 1 || !strings.Contains(res.stderr, "truncated: ") {
			t.Fatalf("%v: %+v", args, res)
		}
	}
	if res := prefsd(t, envFor(followers[1]), "snapshot", "restore", filepath.Join(dir, "none")); res.code != 1 || !strings.Contains(res.stderr, "no such file") {
		t.Fatalf("restore of a missing file: %+v", res)
	}

	apply(t, leader, fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: "theme", Value: "light"}}})
	apply(t, leader, fsm.CmdCreateUser, fsm.CreateUser{Username: "later"})

	var restored struct {
		NodeID string               `json:"node_id"`
		Backup cluster.BackupHeader `json:"backup"`
		Index  uint64               `json:"index"`
	}
	res = prefsd(t, envFor(followers[1]), "snapshot", "restore", "--json", file)
	for tries := 0; res.code == 1 && (strings.Contains(res.stderr, " 503 ") || strings.Contains(res.stderr, " 504 ")) && tries < 5; tries++ {
		t.Logf("restore: %s; trying again", res.stderr)
		res = prefsd(t, envFor(followers[1]), "snapshot", "restore", "--json", file)
	}
	if res.code != 0 {
		t.Fatalf("snapshot restore: %+v", res)
	}
	mustJSON(t, []byte(res.stdout), &restored)
	if restored.Backup != hdr || restored.Index <= hdr.Index || restored.NodeID == "" {
		t.Fatalf("restore --json: %+v", restored)
	}
	if !regexp.MustCompile(`(?m)^upload .* 100%`).MatchString(res.stderr) {
		t.Fatalf("no upload progress on stderr:\n%s", res.stderr)
	}
	testnode.Eventually(t, 20*time.Second, func() error {
		for _, n := range nodes {
			st := n.FSM().State()
			if v, _ := st.Pref(uid, "theme"); v != "dark" {
				return fmt.Errorf("%s: theme %q", n.ID(), v)
			}
			if _, ok := st.UserByName("later"); ok {
				return fmt.Errorf("%s still has the user created after the backup", n.ID())
			}
		}
		return nil
	})
	// The table form, once more through the leader.
	res = prefsd(t, envFor(testnode.WaitLeader(t, nodes)), "snapshot", "restore", "--quiet", file)
	if res.code != 0 || !regexp.MustCompile(`^restored the backup of index \d+ taken from \S+ at \S+\nleader\s+n\d\nstate index\s+\d+\nterm\s+\d+\n$`).MatchString(res.stdout) {
		t.Fatalf("snapshot restore: %+v", res)
	}
}

// TestClusterMembershipCommands moves leadership with transfer-leadership,
// removes a node and joins it back.
func TestClusterMembershipCommands(t *testing.T) {
	nodes := startCluster(t)
	leader := testnode.WaitLeader(t, nodes)
	followers := testnode.Followers(nodes)
	target := followers[0]

	res := prefsd(t, envFor(followers[1]), "transfer-leadership", "--to", target.ID())
	if res.code != 0 || res.stdout != fmt.Sprintf("leadership moved from %s to %s\n", leader.ID(), target.ID()) {
		t.Fatalf("transfer-leadership: %+v", res)
	}
	if now := testnode.WaitLeader(t, nodes); now != target {
		t.Fatalf("%s leads, want %s", now.ID(), target.ID())
	}
	res = prefsd(t, envFor(target), "transfer-leadership", "--json")
	var moved struct {
		Previous string `json:"previous_leader"`
		Leader   string `json:"leader"`
	}
	mustJSON(t, []byte(res.stdout), &moved)
	if res.code != 0 || moved.Previous != target.ID() || moved.Leader == target.ID() {
		t.Fatalf("transfer-leadership --json: %+v", res)
	}
	if res := prefsd(t, envFor(target), "transfer-leadership", "--to", "n9"); res.code != 1 || !strings.Contains(res.stderr, `404 Not Found: cluster: no such node: "n9"`) {
		t.Fatalf("transfer to an unknown node: %+v", res)
	}

	leader = testnode.WaitLeader(t, nodes)
	victim := testnode.Followers(nodes)[0]
	rest := []*testnode.Node{leader, testnode.Followers(nodes)[1]}
	if res := prefsd(t, envFor(rest...), "remove", victim.ID()); res.code != 0 || res.stdout != "removed "+victim.ID()+"\n" {
		t.Fatalf("remove: %+v", res)
	}
	res = prefsd(t, envFor(rest...), "members", "--json")
	var members []struct {
		NodeID string `json:"node_id"`
	}
	mustJSON(t, []byte(res.stdout), &members)
	if len(members) != 2 {
		t.Fatalf("members after remove: %s", res.stdout)
	}

	back := victim.Restart(t)
	res = prefsd(t, envFor(rest...), "join", back.ID(), back.RaftAddr(), back.Addr)
	if res.code != 0 || res.stdout != fmt.Sprintf("%s is a member (raft %s, API %s)\n", back.ID(), back.RaftAddr(), back.Addr) {
		t.Fatalf("join: %+v", res)
	}
	all := append(rest, back)
	testnode.Eventually(t, 20*time.Second, func() error {
		res := prefsd(t, envFor(back), "members")
		if res.code != 0 || strings.Count(res.stdout, "Voter") != 3 {
			return fmt.Errorf("members as %s sees them: %+v", back.ID(), res)
		}
		for _, n := range all {
			if n.FSM().Index() != leader.FSM().Index() {
				return errors.New("not converged yet")
			}
		}
		return nil
	})
}
