package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// A user's quota holds under concurrent writes through every node: the
// limit is checked inside Apply, on the replicated usage, so exactly as
// many writes succeed as the quota admits, however they race, and every
// replica agrees on the result.
func TestQuotaEnforcedUnderConcurrency(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	testnode.WaitLeader(t, nodes)

	const (
		workers = 24
		admit   = 50
		// Every key is len("g00-k000") = 8 bytes and every value 12, so
		// each write adds 20 bytes.
		valueLen = 12
		perWrite = 8 + valueLen
	)
	tests := []struct {
		name    string
		quota   fsm.QuotaPatch
		wantErr *fsm.Error
		limit   int64
	}{
		{"max_preferences", fsm.QuotaPatch{MaxPreferences: ptr[int64](admit)}, fsm.ErrTooManyPreferences, admit},
		{"max_total_bytes", fsm.QuotaPatch{MaxTotalBytes: ptr[int64](admit * perWrite)}, fsm.ErrTooManyBytes, admit * perWrite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			uid := createUser(t, nodes[0], "quota-"+tc.name)
			mustApply(t, nodes[1], fsm.CmdSetUserQuota, fsm.SetUserQuota{UserID: uid, Quota: tc.quota})

			var (
				mu       sync.Mutex
				accepted = map[string]bool{}
				// unknown holds writes whose fate is unknown: a leader
				// change during the run may leave some, which may or may
				// not have been applied.
				unknown  = map[string]bool{}
				refused  int
				failures []string
				wg       sync.WaitGroup
			)
			for g := range workers {
				n := nodes[g%len(nodes)]
				wg.Go(func() {
					mine := 0
					for k := 0; ; k++ {
						if mine > admit {
							mu.Lock()
							failures = append(failures, fmt.Sprintf("worker %d: more than %d writes admitted", g, admit))
							mu.Unlock()
							return
						}
						key := fmt.Sprintf("g%02d-k%03d", g, k)
						cmd, err := fsm.Encode(fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: key, Value: strings.Repeat("v", valueLen)}}})
						if err != nil {
							panic(err)
						}
						ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
						res, _, err := n.Apply(ctx, cmd)
						cancel()
						mu.Lock()
						done := true
						switch {
						case err != nil && retryable(err):
							unknown[key] = true
							done = false
						case err != nil:
							failures = append(failures, fmt.Sprintf("worker %d via %s, key %s: %v", g, n.ID(), key, err))
						case res.Err == nil:
							accepted[key] = true
							mine++
							done = false
						case isFSMError(res.Err, tc.wantErr) && res.Err.Limit == tc.limit:
							refused++
						default:
							failures = append(failures, fmt.Sprintf("worker %d via %s, key %s: refused with %v (limit %d), want %v (limit %d)",
								g, n.ID(), key, res.Err, res.Err.Limit, tc.wantErr, tc.limit))
						}
						mu.Unlock()
						if done {
							return
						}
					}
				})
			}
			wg.Wait()
			for _, f := range failures {
				t.Error(f)
			}
			if len(unknown) == 0 {
				if len(accepted) != admit {
					t.Errorf("%d writes succeeded, want exactly %d", len(accepted), admit)
				}
			} else {
				// Some writes may have been applied without their writer
				// hearing so; the state is still checked exactly below.
				t.Logf("%d writes of unknown outcome", len(unknown))
				if len(accepted) > admit {
					t.Errorf("%d writes succeeded, want at most %d", len(accepted), admit)
				}
			}
			if refused != workers {
				t.Errorf("%d writes refused, want %d (one per worker)", refused, workers)
			}

			for _, n := range nodes {
				st := readLinearizable(t, n)
				u, ok := st.UserByID(uid)
				if !ok {
					t.Fatalf("node %s: user %d missing", n.ID(), uid)
				}
				prefs := st.Prefs(uid)
				if u.PrefCount != admit || len(prefs) != admit {
					t.Errorf("node %s: PrefCount %d, %d preferences; want %d", n.ID(), u.PrefCount, len(prefs), admit)
				}
				if u.PrefBytes != admit*perWrite {
					t.Errorf("node %s: PrefBytes %d, want %d", n.ID(), u.PrefBytes, admit*perWrite)
				}
				// The preferences held are the writes acknowledged, and
				// only those but for writes of unknown outcome: no refused
				// write left a trace, no acknowledged one is lost.
				held := map[string]bool{}
				for _, kv := range prefs {
					held[kv.Key] = true
					if !accepted[kv.Key] && !unknown[kv.Key] {
						t.Errorf("node %s holds %s, which was refused", n.ID(), kv.Key)
					}
				}
				for k := range accepted {
					if !held[k] {
						t.Errorf("node %s lost acknowledged write %s", n.ID(), k)
					}
				}
			}
			waitConverged(t, nodes[0], nodes[1:])
		})
	}
}
