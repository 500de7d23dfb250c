package cluster_test

import (
	"context"
	"testing"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

func TestSmokeThreeNodes(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	f := testnode.Followers(nodes)
	cmd, _ := fsm.Encode(fsm.CmdCreateUser, fsm.CreateUser{Username: "bob"})
	res, idx, err := f[0].Apply(context.Background(), cmd)
	if err != nil || res.Err != nil {
		t.Fatalf("apply: %v %v", err, res.Err)
	}
	st, err := f[1].Read(context.Background(), cluster.Linearizable)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.UserByName("bob"); !ok || st.Index() < idx {
		t.Fatalf("bob missing at index %d (write %d)", st.Index(), idx)
	}
}
