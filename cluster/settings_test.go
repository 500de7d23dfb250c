package cluster_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// Typed settings written through followers survive the loss of the leader
// and read back identically on every node; a value the catalogue refuses
// is refused on every node alike and changes nothing.
func TestTypedSettingsSurviveLeaderLoss(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	followers := testnode.Followers(nodes)
	uid := createUser(t, leader, "typed")

	defs := []fsm.SettingDef{
		{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeGlobal, Key: "TEST_FLAG", Type: fsm.TypeBoolean, Default: "False"},
		{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeGlobal, Key: "TEST_COUNT", Type: fsm.TypeInteger, Default: "1", Min: ptr(1.0), Max: ptr(25.0)},
		{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeUser, Key: "TEST_FORMAT", Type: fsm.TypeChoice, Default: "a",
			Choices: []fsm.Choice{{Value: "a", DisplayName: "A"}, {Value: "b", DisplayName: "B"}}},
		{Registry: fsm.RegistryDynPrefs, Scope: fsm.ScopeGlobal, Key: "exam__duration", Section: "exam", Type: fsm.TypeDuration, Default: "03:00:00"},
	}
	mustApply(t, followers[0], fsm.CmdPutCatalog, fsm.PutCatalog{Defs: defs})

	writes := []fsm.SetSettings{
		{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeGlobal, Values: []fsm.KV{{Key: "TEST_FLAG", Value: "True"}, {Key: "TEST_COUNT", Value: "7"}}},
		{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeUser, UserID: uid, Values: []fsm.KV{{Key: "TEST_FORMAT", Value: "b"}}},
		{Registry: fsm.RegistryDynPrefs, Scope: fsm.ScopeGlobal, Values: []fsm.KV{{Key: "exam__duration", Value: "1 02:00:00"}}},
	}
	for i, w := range writes {
		mustApply(t, followers[i%len(followers)], fsm.CmdSetSettings, w)
	}

	// A refused write is refused whole, whichever node takes it.
	refused := []struct {
		name string
		give fsm.SetSettings
		want *fsm.Error
	}{
		{"over max", fsm.SetSettings{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeGlobal,
			Values: []fsm.KV{{Key: "TEST_FLAG", Value: "False"}, {Key: "TEST_COUNT", Value: "26"}}}, fsm.ErrSettingInvalid},
		{"not a choice", fsm.SetSettings{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeUser, UserID: uid,
			Values: []fsm.KV{{Key: "TEST_FORMAT", Value: "c"}}}, fsm.ErrSettingInvalid},
		{"unknown key", fsm.SetSettings{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeGlobal,
			Values: []fsm.KV{{Key: "NOPE", Value: "x"}}}, fsm.ErrSettingUnknown},
	}
	for i, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			res, _, _ := applyRetry(t, nodes[i%len(nodes)], fsm.CmdSetSettings, tt.give)
			if res.Err == nil || !errors.Is(res.Err, tt.want) {
				t.Fatalf("error %v, want %v", res.Err, tt.want)
			}
		})
	}

	leader.Stop()
	survivors := without(nodes, leader)
	testnode.WaitLeader(t, survivors)

	want := map[string]string{
		"global/TEST_FLAG":        "True",
		"global/TEST_COUNT":       "7",
		"user/TEST_FORMAT":        "b",
		"dynprefs/exam__duration": "1 02:00:00",
	}
	for _, n := range survivors {
		st := readLinearizable(t, n)
		got := map[string]string{}
		for _, kv := range st.Settings(0, fsm.RegistryInvenTree, fsm.ScopeGlobal) {
			got["global/"+kv.Key] = kv.Value
		}
		for _, kv := range st.Settings(uid, fsm.RegistryInvenTree, fsm.ScopeUser) {
			got["user/"+kv.Key] = kv.Value
		}
		for _, kv := range st.Settings(0, fsm.RegistryDynPrefs, fsm.ScopeGlobal) {
			got["dynprefs/"+kv.Key] = kv.Value
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("node %s: settings %v, want %v", n.ID(), got, want)
		}
		if d, ok := st.SettingDef(fsm.RegistryInvenTree, fsm.ScopeGlobal, "TEST_COUNT"); !ok || d.Max == nil || *d.Max != 25 {
			t.Errorf("node %s: TEST_COUNT definition %+v", n.ID(), d)
		}
	}

	// The old leader comes back and converges byte for byte.
	back := leader.Restart(t)
	waitConverged(t, survivors[0], []*testnode.Node{back, survivors[1]})
}
