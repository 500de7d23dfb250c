package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// Every sentinel has its own code and its status, however it is wrapped,
// and the body survives a JSON round trip.
func TestEncodeError(t *testing.T) {
	tests := []struct {
		err    error
		code   string
		status int
	}{
		{cluster.ErrNotLeader, "not_leader", http.StatusServiceUnavailable},
		{cluster.ErrNoLeader, "no_leader", http.StatusServiceUnavailable},
		{cluster.ErrUnknownOutcome, "unknown_outcome", http.StatusGatewayTimeout},
		{cluster.ErrTimeout, "timeout", http.StatusGatewayTimeout},
		{cluster.ErrShutdown, "shutdown", http.StatusServiceUnavailable},
		{cluster.ErrBadKey, "bad_cluster_key", http.StatusForbidden},
		{cluster.ErrNotFound, "not_found", http.StatusNotFound},
		{cluster.ErrBadRequest, "bad_request", http.StatusBadRequest},
	}
	codes := map[string]bool{}
	for _, tc := range tests {
		if codes[tc.code] {
			t.Fatalf("code %q used twice", tc.code)
		}
		codes[tc.code] = true
		wraps := map[string]error{
			"bare":    tc.err,
			"wrapped": fmt.Errorf("context: %w", tc.err),
			"twice":   fmt.Errorf("outer: %w", fmt.Errorf("%w: inner", tc.err)),
			"joined":  errors.Join(tc.err, errors.New("detail")),
		}
		for how, err := range wraps {
			t.Run(tc.code+"/"+how, func(t *testing.T) {
				status, body := cluster.EncodeError(err)
				if status != tc.status || body.Code != tc.code {
					t.Fatalf("EncodeError(%v) = %d %q, want %d %q", err, status, body.Code, tc.status, tc.code)
				}
				if body.Message != err.Error() {
					t.Errorf("message %q, want %q", body.Message, err.Error())
				}
				if got := cluster.StatusOf(err); got != tc.status {
					t.Errorf("StatusOf = %d, want %d", got, tc.status)
				}
				raw, err := json.Marshal(body)
				if err != nil {
					t.Fatal(err)
				}
				var back cluster.ErrorBody
				if err := json.Unmarshal(raw, &back); err != nil || back != body {
					t.Fatalf("ErrorBody round trip: %s -> %+v, %v", raw, back, err)
				}
			})
		}
	}
	t.Run("other", func(t *testing.T) {
		for _, err := range []error{errors.New("boom"), context.DeadlineExceeded, fsm.ErrUserExists} {
			status, body := cluster.EncodeError(err)
			if status != http.StatusInternalServerError || body.Code != "internal" || body.Message != err.Error() {
				t.Errorf("EncodeError(%v) = %d %+v, want 500 internal", err, status, body)
			}
			if got := cluster.StatusOf(err); got != http.StatusInternalServerError {
				t.Errorf("StatusOf(%v) = %d, want 500", err, got)
			}
		}
	})
}

// The node-to-node endpoints answer errors as an ErrorBody carrying the
// sentinel's code with its status, so a calling node can tell them apart.
func TestWireErrorsOverHTTP(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	follower := testnode.Followers(nodes)[0]
	cmd := encode(t, fsm.CmdCreateUser, fsm.CreateUser{Username: "wire"})

	tests := []struct {
		name   string
		node   *testnode.Node
		method string
		path   string
		key    string
		body   []byte
		status int
		code   string // "" for success
	}{
		{"apply-no-key", leader, http.MethodPost, cluster.PathApply, "", cmd, http.StatusForbidden, "bad_cluster_key"},
		{"apply-wrong-key", leader, http.MethodPost, cluster.PathApply, "wrong", cmd, http.StatusForbidden, "bad_cluster_key"},
		{"apply-empty", leader, http.MethodPost, cluster.PathApply, testnode.ClusterKey, nil, http.StatusBadRequest, "bad_request"},
		{"apply-on-follower", follower, http.MethodPost, cluster.PathApply, testnode.ClusterKey, cmd, http.StatusServiceUnavailable, "not_leader"},
		{"readindex-on-follower", follower, http.MethodGet, cluster.PathReadIndex, testnode.ClusterKey, nil, http.StatusServiceUnavailable, "not_leader"},
		{"readindex-unverified-on-follower", follower, http.MethodGet, cluster.PathReadIndex + "?verify=false", testnode.ClusterKey, nil, http.StatusServiceUnavailable, "not_leader"},
		{"readindex-wrong-key", leader, http.MethodGet, cluster.PathReadIndex, "wrong", nil, http.StatusForbidden, "bad_cluster_key"},
		{"term-wrong-key", follower, http.MethodGet, cluster.PathTerm, "wrong", nil, http.StatusForbidden, "bad_cluster_key"},
		{"term-on-follower", follower, http.MethodGet, cluster.PathTerm, testnode.ClusterKey, nil, http.StatusOK, ""},
		{"remove-unknown-on-leader", leader, http.MethodDelete, cluster.PathNodes + "nope", testnode.ClusterKey, nil, http.StatusNotFound, "not_found"},
		// The follower forwards to the leader and relays its answer.
		{"remove-unknown-on-follower", follower, http.MethodDelete, cluster.PathNodes + "nope", testnode.ClusterKey, nil, http.StatusNotFound, "not_found"},
		{"join-malformed", follower, http.MethodPost, cluster.PathJoin, testnode.ClusterKey, []byte("{"), http.StatusBadRequest, "bad_request"},
		{"join-incomplete", follower, http.MethodPost, cluster.PathJoin, testnode.ClusterKey, []byte(`{"node_id":"x"}`), http.StatusBadRequest, "bad_request"},
		{"readindex-on-leader", leader, http.MethodGet, cluster.PathReadIndex, testnode.ClusterKey, nil, http.StatusOK, ""},
		{"apply-on-leader", leader, http.MethodPost, cluster.PathApply, testnode.ClusterKey, cmd, http.StatusOK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(opCtx(t), tc.method, tc.node.URL+tc.path, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.key != "" {
				req.Header.Set(cluster.KeyHeader, tc.key)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			data, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s", res.StatusCode, tc.status, data)
			}
			if tc.code == "" {
				return
			}
			var eb cluster.ErrorBody
			if err := json.Unmarshal(data, &eb); err != nil {
				t.Fatalf("error body %s: %v", data, err)
			}
			if eb.Code != tc.code {
				t.Errorf("code %q, want %q (body %s)", eb.Code, tc.code, data)
			}
		})
	}
}
