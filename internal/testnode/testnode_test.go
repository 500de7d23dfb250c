package testnode_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/prefsd/prefsd/config/catalog"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// waitCatalog waits until n's state holds a catalogue and returns it.
func waitCatalog(t *testing.T, n *testnode.Node) *fsm.State {
	t.Helper()
	var st *fsm.State
	testnode.Eventually(t, 10*time.Second, func() error {
		st = n.FSM().State()
		if st.CatalogVersion() == 0 {
			return errors.New("no catalogue installed yet")
		}
		return nil
	})
	return st
}

// A test node starts with the default catalogue, installed once by its
// first leader, and keeps an operator's later catalogue across a restart.
func TestStartInstallsDefaultCatalog(t *testing.T) {
	want, err := catalog.Default()
	if err != nil {
		t.Fatalf("catalog.Default: %v", err)
	}
	n := testnode.Start(t, testnode.Options{})
	testnode.WaitLeader(t, []*testnode.Node{n})
	st := waitCatalog(t, n)

	if v := st.CatalogVersion(); v != 1 {
		t.Errorf("CatalogVersion = %d, want 1", v)
	}
	got := st.CatalogAll()
	if len(got) != len(want) {
		t.Fatalf("state holds %d definitions, want the default's %d", len(got), len(want))
	}
	for i, d := range got {
		if d.ID == 0 {
			t.Errorf("definition %s has no id", d.Key)
		}
		w := want[i]
		w.ID = d.ID
		if !reflect.DeepEqual(*d, w) {
			t.Errorf("definition %d\n got: %+v\nwant: %+v", i, *d, w)
		}
	}
	if d, ok := st.SettingDef(fsm.RegistryInvenTree, fsm.ScopeUser, "SEARCH_PREVIEW_RESULTS"); !ok || d.Default != "10" {
		t.Errorf("SettingDef(inventree, user, SEARCH_PREVIEW_RESULTS) = %+v, %v", d, ok)
	}

	// An operator narrows the catalogue; a restarted leader must not put
	// the default back.
	keep := *got[0]
	cmd, err := fsm.Encode(fsm.CmdPutCatalog, fsm.PutCatalog{Replace: true, Defs: []fsm.SettingDef{keep}})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, _, err := n.Apply(ctx, cmd)
	if err != nil || res.Err != nil {
		t.Fatalf("PutCatalog(replace): %v, %v", err, res.Err)
	}

	n = n.Restart(t)
	testnode.WaitLeader(t, []*testnode.Node{n})
	// Housekeeping runs right after the leader is ready; give a wrongful
	// reinstall the time to show.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		st = n.FSM().State()
		if v, all := st.CatalogVersion(), st.CatalogAll(); v != 2 || len(all) != 1 || all[0].Key != keep.Key {
			t.Fatalf("after a restart: catalogue version %d with %d definitions, want the operator's version 2 with 1", v, len(all))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
