package cluster_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

func TestZZDebugIsolation(t *testing.T) {
	for attempt := range 15 {
		logs := &syncBuffer{}
		dbg := func(c *config.Config) { c.LogLevel = "debug" }
		n1 := testnode.Start(t, testnode.Options{ID: "n1", Logs: logs, Configure: dbg})
		testnode.WaitLeader(t, []*testnode.Node{n1})
		n2 := testnode.Start(t, testnode.Options{ID: "n2", Join: []string{n1.Addr}, Logs: logs, Configure: dbg})
		n3 := testnode.Start(t, testnode.Options{ID: "n3", Join: []string{n1.Addr}, Logs: logs, Configure: dbg})
		nodes := []*testnode.Node{n1, n2, n3}
		testnode.Eventually(t, 20*time.Second, func() error {
			for _, n := range nodes {
				if len(n.FSM().State().Members()) != 3 || n.Ready() != nil {
					return fmt.Errorf("not ready")
				}
			}
			return nil
		})
		leader := testnode.WaitLeader(t, nodes)
		uid := createUser(t, leader, "isolated")
		setPref(t, leader, uid, "k", "before")
		for _, f := range testnode.Followers(nodes) {
			f.Stop()
			fmt.Fprintf(logs, "%s TEST stopped %s\n", time.Now().Format("15:04:05.000000"), f.ID())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		done := make(chan struct{})
		go func() {
			defer close(done)
			cmd, _ := fsm.Encode(fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: "k", Value: "after"}}})
			leader.Apply(ctx, cmd)
		}()
		fmt.Fprintf(logs, "%s TEST read start\n", time.Now().Format("15:04:05.000000"))
		_, err := leader.Read(ctx, cluster.Linearizable)
		fmt.Fprintf(logs, "%s TEST read done %v\n", time.Now().Format("15:04:05.000000"), err)
		<-done
		cancel()
		for _, n := range nodes {
			n.Stop()
		}
		if err == nil {
			os.WriteFile("/tmp/iso.log", []byte(logs.String()), 0o644)
			t.Fatalf("attempt %d: served", attempt)
		}
	}
}
