package cluster_test

import (
	"fmt"
	"testing"

	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

func TestMetrics(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	uid := createUser(t, leader, "metrics")
	const writes = 5
	for i := range writes {
		setPref(t, leader, uid, fmt.Sprintf("k%d", i), "v")
	}
	// A refused write, so that the quota refusal counter moves too.
	mustApply(t, leader, fsm.CmdSetUserQuota, fsm.SetUserQuota{UserID: uid, Quota: fsm.QuotaPatch{MaxPreferences: ptr[int64](writes)}})
	res, _, err := leader.Apply(opCtx(t), encode(t, fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: "over", Value: "v"}}}))
	if err != nil || !isFSMError(res.Err, fsm.ErrTooManyPreferences) {
		t.Fatalf("write over quota: %v, %v", res.Err, err)
	}
	reg := leader.Registry

	// Every family the cluster layer exports is there on the leader.
	for _, name := range []string{
		"prefsd_raft_is_leader", "prefsd_raft_has_leader", "prefsd_raft_state", "prefsd_raft_term",
		"prefsd_raft_commit_index", "prefsd_raft_applied_index", "prefsd_raft_last_log_index",
		"prefsd_raft_num_peers", "prefsd_fsm_index", "prefsd_fsm_commands_total",
		"prefsd_raft_leader_changes_total", "prefsd_raft_apply_duration_seconds",
		"prefsd_forwarded_requests_total", "prefsd_fsm_quota_refusals_total",
	} {
		if n, err := seriesCount(reg, name); err != nil || n == 0 {
			t.Errorf("leader's registry has %d series of %s (%v)", n, name, err)
		}
	}

	tests := []struct {
		name   string
		labels map[string]string
		check  func(float64) bool
		want   string
	}{
		{"prefsd_raft_is_leader", nil, func(v float64) bool { return v == 1 }, "= 1"},
		{"prefsd_raft_has_leader", nil, func(v float64) bool { return v == 1 }, "= 1"},
		{"prefsd_raft_state", map[string]string{"state": "Leader"}, func(v float64) bool { return v == 1 }, "= 1"},
		{"prefsd_raft_state", map[string]string{"state": "Follower"}, func(v float64) bool { return v == 0 }, "= 0"},
		{"prefsd_raft_num_peers", nil, func(v float64) bool { return v == 2 }, "= 2"},
		{"prefsd_fsm_commands_total", map[string]string{"command": "patch_prefs", "result": "ok"}, func(v float64) bool { return v >= writes }, fmt.Sprintf(">= %d", writes)},
		{"prefsd_fsm_commands_total", map[string]string{"command": "patch_prefs", "result": "too_many_preferences"}, func(v float64) bool { return v == 1 }, "= 1"},
		{"prefsd_fsm_quota_refusals_total", map[string]string{"limit": "too_many_preferences"}, func(v float64) bool { return v == 1 }, "= 1"},
		{"prefsd_raft_leader_changes_total", nil, func(v float64) bool { return v >= 1 }, ">= 1"},
		{"prefsd_raft_apply_duration_seconds", map[string]string{"command": "patch_prefs"}, func(v float64) bool { return v >= writes+1 }, fmt.Sprintf("count >= %d", writes+1)},
		{"prefsd_fsm_index", nil, func(v float64) bool { return v > 0 && v == float64(leader.FSM().Index()) }, "= the FSM's index"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s%v", tc.name, tc.labels), func(t *testing.T) {
			v := mustMetric(t, reg, tc.name, tc.labels)
			if !tc.check(v) {
				t.Errorf("%s%v = %v, want %s", tc.name, tc.labels, v, tc.want)
			}
		})
	}

	t.Run("followers", func(t *testing.T) {
		for _, f := range testnode.Followers(nodes) {
			if v := mustMetric(t, f.Registry, "prefsd_raft_is_leader", nil); v != 0 {
				t.Errorf("follower %s: is_leader = %v", f.ID(), v)
			}
			// Followers apply the same entries, so they count the same
			// commands.
			testnode.Eventually(t, convergeFor, func() error {
				want := mustMetric(t, reg, "prefsd_fsm_commands_total", map[string]string{"command": "patch_prefs", "result": "ok"})
				if got := mustMetric(t, f.Registry, "prefsd_fsm_commands_total", map[string]string{"command": "patch_prefs", "result": "ok"}); got != want {
					return fmt.Errorf("follower %s counted %v patch_prefs, leader %v", f.ID(), got, want)
				}
				return nil
			})
			if _, err := metricValue(f.Registry, "prefsd_raft_last_contact_seconds", nil); err != nil {
				t.Errorf("follower %s: %v", f.ID(), err)
			}
		}
	})
}
