package cluster_test

import (
	"context"
	"fmt"
	"sort"
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
				refused  int
				failures []string
				wg       sync.WaitGroup
			)
			ctx, cancel := context.WithTimeout(context.Background(), 2*opTimeout)
			defer cancel()
			for g := range workers {
				n := nodes[g%len(nodes)]
				wg.Go(func() {
					for k := 0; ; k++ {
						key := fmt.Sprintf("g%02d-k%03d", g, k)
						if k > admit {
							mu.Lock()
							failures = append(failures, fmt.Sprintf("worker %d: more than %d writes admitted", g, admit))
							mu.Unlock()
							return
						}
						cmd, err := fsm.Encode(fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: key, Value: strings.Repeat("v", valueLen)}}})
						if err != nil {
							panic(err)
						}
						res, _, err := n.Apply(ctx, cmd)
						mu.Lock()
						switch {
						case err != nil:
							failures = append(failures, fmt.Sprintf("worker %d via %s, key %s: %v", g, n.ID(), key, err))
						case res.Err == nil:
							accepted[key] = true
						case isFSMError(res.Err, tc.wantErr) && res.Err.Limit == tc.limit:
							refused++
						default:
							failures = append(failures, fmt.Sprintf("worker %d via %s, key %s: refused with %v (limit %d), want %v (limit %d)",
								g, n.ID(), key, res.Err, res.Err.Limit, tc.wantErr, tc.limit))
						}
						mu.Unlock()
						if err != nil || res.Err != nil {
							return
						}
					}
				})
			}
			wg.Wait()
			for _, f := range failures {
				t.Error(f)
			}
			if len(accepted) != admit {
				t.Errorf("%d writes succeeded, want exactly %d", len(accepted), admit)
			}
			if refused != workers {
				t.Errorf("%d writes refused, want %d (one per worker)", refused, workers)
			}

			wantKeys := make([]string, 0, len(accepted))
			for k := range accepted {
				wantKeys = append(wantKeys, k)
			}
			sort.Strings(wantKeys)
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
				// The preferences held are exactly the writes acknowledged:
				// no refused write left a trace, no acknowledged one is lost.
				got := make([]string, len(prefs))
				for i, kv := range prefs {
					got[i] = kv.Key
				}
				if strings.Join(got, ",") != strings.Join(wantKeys, ",") {
					t.Errorf("node %s holds keys\n%v\nbut the acknowledged writes were\n%v", n.ID(), got, wantKeys)
				}
			}
			waitConverged(t, nodes[0], nodes[1:])
		})
	}
}
