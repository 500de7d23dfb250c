package cluster

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/raft"

	"github.com/prefsd/prefsd/fsm"
)

// watchLeadership reacts to leadership changes. On winning, it waits for a
// barrier, so that every entry of earlier terms is applied, before it marks
// the node ready to serve consistent reads; then it records its own API
// address in the member directory and makes sure the built-in superuser
// holds this node's admin token.
func (n *Node) watchLeadership(notify <-chan bool) {
	defer n.wg.Done()
	stopLeading := func() {}
	defer func() { stopLeading() }()
	for {
		select {
		case <-n.stop:
			return
		case leader := <-notify:
			stopLeading()
			stopLeading = func() {}
			n.metrics.leaderChanged(leader)
			if !leader {
				n.readyTerm.Store(0)
				n.log.Info("lost leadership")
				continue
			}
			stopLeading = n.goEstablishLeadership()
		}
	}
}

// goEstablishLeadership starts establishLeadership and returns a function
// that stops it and waits for it to end.
func (n *Node) goEstablishLeadership() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.establishLeadership(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// establishLeadership runs on a new leader until it is ready or ctx ends.
func (n *Node) establishLeadership(ctx context.Context) {
	term := n.raft.CurrentTerm()
	for {
		err := n.raft.Barrier(n.cfg.ApplyTimeout).Error()
		if err == nil {
			break
		}
		if !n.IsLeader() || n.raft.CurrentTerm() != term {
			return
		}
		n.log.Warn("leader barrier failed; retrying", "err", err)
		if n.pause(ctx, 100*time.Millisecond) != nil {
			return
		}
	}
	if n.raft.CurrentTerm() != term || !n.IsLeader() {
		return
	}
	n.readyTerm.Store(term)
	n.log.Info("became leader", "term", term)

	st := n.fsm.State()
	if m, ok := st.Member(n.cfg.NodeID); !ok || m.APIAddr != n.cfg.AdvertiseHTTP {
		n.applyHousekeeping(ctx, fsm.CmdSetMember, fsm.SetMember{NodeID: n.cfg.NodeID, APIAddr: n.cfg.AdvertiseHTTP})
	}
	if len(n.catalog) > 0 && st.CatalogVersion() == 0 {
		n.applyHousekeeping(ctx, fsm.CmdPutCatalog, fsm.PutCatalog{Defs: n.catalog})
	}
	if len(n.admin) > 0 {
		if _, ok := st.UserByName(AdminUsername); !ok {
			n.applyHousekeeping(ctx, fsm.CmdEnsureAdmin, fsm.EnsureAdmin{Username: AdminUsername, TokenName: "bootstrap", Digest: n.admin})
		}
	}
}

// AdminUsername is the built-in superuser's name.
const AdminUsername = "admin"

// applyHousekeeping applies a command the leader issues on its own, logging
// rather than returning failures: the next leader will try again.
func (n *Node) applyHousekeeping(ctx context.Context, t fsm.CmdType, body any) {
	if err := n.applyOwn(ctx, t, body); err != nil {
		n.log.Warn("leader housekeeping failed", "command", t.String(), "err", err)
	}
}

// applyOwn applies a command this node issues itself, a refusal counting
// as an error.
func (n *Node) applyOwn(ctx context.Context, t fsm.CmdType, body any) error {
	cmd, err := fsm.Encode(t, body)
	if err != nil {
		return err
	}
	res, _, err := n.Apply(ctx, cmd)
	if err != nil {
		return err
	}
	if res.Err != nil { // a typed nil must not become a non-nil error
		return res.Err
	}
	return nil
}

// Join adds a node to the cluster as a voter. On a follower it forwards the
// request to the leader. Joining again with the same id and address is a
// no-op; the same id at a new address, or a new id at a known address,
// replaces the old entry.
func (n *Node) Join(ctx context.Context, req JoinRequest) error {
	if req.NodeID == "" || req.RaftAddr == "" || req.APIAddr == "" {
		return fmt.Errorf("%w: node_id, raft_addr and api_addr are required", ErrBadRequest)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return n.onLeader(ctx, "join",
		func(ctx context.Context) error { return n.joinLocal(ctx, req) },
		func(ctx context.Context, addr string) error {
			return n.call(ctx, http.MethodPost, addr, PathJoin, "application/json", body, nil)
		})
}

func (n *Node) joinLocal(ctx context.Context, req JoinRequest) error {
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return raftErr(err)
	}
	id, addr := raft.ServerID(req.NodeID), raft.ServerAddress(req.RaftAddr)
	member := false
	for _, s := range cf.Configuration().Servers {
		switch {
		case s.ID == id && s.Address == addr:
			member = true
		case s.ID == id || s.Address == addr:
			if err := n.raft.RemoveServer(s.ID, 0, 0).Error(); err != nil {
				return raftErr(err)
			}
			n.log.Info("removed stale member entry before join", "node_id", s.ID, "raft_addr", s.Address)
			if s.ID != id {
				if err := n.forgetMember(ctx, string(s.ID)); err != nil {
					return err
				}
			}
		}
	}
	if !member {
		if err := n.raft.AddVoter(id, addr, 0, 0).Error(); err != nil {
			return raftErr(err)
		}
		n.log.Info("node joined", "node_id", req.NodeID, "raft_addr", req.RaftAddr, "api_addr", req.APIAddr)
	}
	if m, ok := n.fsm.State().Member(req.NodeID); ok && m.APIAddr == req.APIAddr {
		return nil
	}
	cmd, err := fsm.Encode(fsm.CmdSetMember, fsm.SetMember{NodeID: req.NodeID, APIAddr: req.APIAddr})
	if err != nil {
		return err
	}
	resp, err := n.applyLocal(ctx, cmd)
	if err == nil && resp.Result.Err != nil {
		err = resp.Result.Err
	}
	return err
}

// Remove takes a node out of the cluster. On a follower it forwards the
// request to the leader.
func (n *Node) Remove(ctx context.Context, nodeID string) error {
	return n.onLeader(ctx, "remove",
		func(ctx context.Context) error { return n.removeLocal(ctx, nodeID) },
		func(ctx context.Context, addr string) error {
			return n.call(ctx, http.MethodDelete, addr, PathNodes+nodeID, "", nil, nil)
		})
}

// onLeader runs local if this node leads, or forward with the leader's
// HTTP address otherwise, until one of them does not answer ErrNotLeader
// or the apply timeout passes.
func (n *Node) onLeader(ctx context.Context, kind string, local func(context.Context) error, forward func(context.Context, string) error) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	for {
		addr, self, err := n.waitLeader(ctx)
		if err != nil {
			return err
		}
		if self {
			err = local(ctx)
		} else {
			err = forward(ctx, addr)
			n.metrics.observeForward(kind, err)
		}
		if !errors.Is(err, ErrNotLeader) {
			return err
		}
		if perr := n.pause(ctx, 50*time.Millisecond); perr != nil {
			return fmt.Errorf("%w: %v", ErrNoLeader, err)
		}
	}
}

func (n *Node) removeLocal(ctx context.Context, nodeID string) error {
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return raftErr(err)
	}
	found := false
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == nodeID {
			found = true
		}
	}
	if _, ok := n.fsm.State().Member(nodeID); !found && !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, nodeID)
	}
	if found {
		if err := n.raft.RemoveServer(raft.ServerID(nodeID), 0, 0).Error(); err != nil {
			return raftErr(err)
		}
		n.log.Info("node removed", "node_id", nodeID)
	}
	if nodeID == n.cfg.NodeID {
		// The leader removed itself and is stepping down; the next
		// leader's directory still lists it until an operator retries.
		return nil
	}
	return n.forgetMember(ctx, nodeID)
}

// forgetMember drops a node from the member directory.
func (n *Node) forgetMember(ctx context.Context, nodeID string) error {
	cmd, err := fsm.Encode(fsm.CmdRemoveMember, fsm.RemoveMember{NodeID: nodeID})
	if err != nil {
		return err
	}
	_, err = n.applyLocal(ctx, cmd)
	return err
}

// raftErr maps a raft membership error onto the cluster's sentinels.
func raftErr(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %v", ErrShutdown, err)
	}
	return err
}

// JoinCluster asks the members at addrs, in turn, to add this node, until
// one succeeds or ctx ends. Any member will do: a follower forwards the
// request to the leader. A node that already has raft state does not join
// again; it rejoins from its own state.
func (n *Node) JoinCluster(ctx context.Context, addrs []string) error {
	if n.HasExistingState() {
		ok, why := n.knownAsAdvertised()
		if ok {
			n.log.Info("not joining: the node has state of its own")
			return nil
		}
		n.log.Info("joining again: the cluster knows this node at another address", "why", why)
	}
	body, err := json.Marshal(JoinRequest{NodeID: n.cfg.NodeID, RaftAddr: n.RaftAddr(), APIAddr: n.cfg.AdvertiseHTTP})
	if err != nil {
		return err
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var lastErr error
		for _, addr := range addrs {
			if addr == n.cfg.AdvertiseHTTP || addr == n.cfg.HTTPAddr {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
			lastErr = n.call(cctx, http.MethodPost, addr, PathJoin, "application/json", body, nil)
			cancel()
			if lastErr == nil {
				n.log.Info("joined the cluster", "via", addr)
				return nil
			}
			if errors.Is(lastErr, ErrBadKey) {
				return fmt.Errorf("join through %s: %w (check --cluster-key)", addr, lastErr)
			}
		}
		n.log.Warn("join failed; retrying", "attempt", attempt, "err", lastErr, "retry_in", backoff)
		if err := n.pause(ctx, backoff); err != nil {
			return fmt.Errorf("join: %w (last error: %v)", err, lastErr)
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// knownAsAdvertised reports whether the latest configuration this node
// holds lists it at its advertised raft address, and the member directory
// at its advertised HTTP address. A node that restarts on its data under a
// new address (a rescheduled container with a new IP) is not, and must
// join again so that the others reach it at the new one.
func (n *Node) knownAsAdvertised() (bool, string) {
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return true, "" // no configuration to compare: keep the old behaviour
	}
	id, raftAddr := raft.ServerID(n.cfg.NodeID), raft.ServerAddress(n.RaftAddr())
	for _, s := range cf.Configuration().Servers {
		if s.ID != id {
			continue
		}
		if s.Address != raftAddr {
			return false, fmt.Sprintf("raft address %s, advertised %s", s.Address, raftAddr)
		}
		if m, ok := n.fsm.State().Member(n.cfg.NodeID); ok && m.APIAddr != n.cfg.AdvertiseHTTP {
			return false, fmt.Sprintf("HTTP address %s, advertised %s", m.APIAddr, n.cfg.AdvertiseHTTP)
		}
		return true, ""
	}
	// Not in the configuration: removed while it was away. It stays out
	// until an operator adds it again (with an empty data directory).
	return true, ""
}

// Status is a node's view of the cluster.
type Status struct {
	NodeID       string         `json:"node_id"`
	State        string         `json:"state"`
	LeaderID     string         `json:"leader_id"`
	LeaderAddr   string         `json:"leader_api_addr"`
	Term         uint64         `json:"term"`
	CommitIndex  uint64         `json:"commit_index"`
	AppliedIndex uint64         `json:"applied_index"`
	FSMIndex     uint64         `json:"fsm_index"`
	LastContact  string         `json:"last_contact,omitempty"`
	Members      []MemberStatus `json:"members"`
}

// MemberStatus describes one member of the raft configuration.
type MemberStatus struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
}

// Status reports the node's view of the cluster from its local state.
func (n *Node) Status() (Status, error) {
	leaderID, leaderAddr := n.LeaderInfo()
	st := Status{
		NodeID:       n.cfg.NodeID,
		State:        n.raft.State().String(),
		LeaderID:     leaderID,
		LeaderAddr:   leaderAddr,
		Term:         n.raft.CurrentTerm(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.raft.AppliedIndex(),
		FSMIndex:     n.fsm.Index(),
		Members:      []MemberStatus{},
	}
	if lc := n.raft.LastContact(); !lc.IsZero() && !n.IsLeader() {
		st.LastContact = time.Since(lc).Round(time.Millisecond).String()
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return st, raftErr(err)
	}
	fs := n.fsm.State()
	for _, s := range cf.Configuration().Servers {
		m, _ := fs.Member(string(s.ID))
		st.Members = append(st.Members, MemberStatus{
			NodeID:   string(s.ID),
			RaftAddr: string(s.Address),
			APIAddr:  m.APIAddr,
			Suffrage: s.Suffrage.String(),
			Leader:   string(s.ID) == leaderID,
		})
	}
	return st, nil
}

// Ready reports whether the node can serve: it knows a leader and has
// applied what the leader had committed when it last heard from it.
func (n *Node) Ready() error {
	if n.IsLeader() {
		if n.readyTerm.Load() != n.raft.CurrentTerm() {
			return errors.New("leader has not applied earlier terms yet")
		}
		return nil
	}
	if _, _, ok := n.leaderAPI(); !ok {
		return errors.New("no known leader")
	}
	if applied, commit := n.raft.AppliedIndex(), n.raft.CommitIndex(); applied < commit {
		return fmt.Errorf("catching up: applied %d of %d", applied, commit)
	}
	return nil
}

// Freshness says whether this node knows a leader and how long ago it last
// heard from it; the leader reports zero.
func (n *Node) Freshness() (leaderKnown bool, lastContact time.Duration) {
	addr, _ := n.raft.LeaderWithID()
	if n.IsLeader() {
		return true, 0
	}
	if lc := n.raft.LastContact(); !lc.IsZero() {
		lastContact = time.Since(lc)
	}
	return addr != "", lastContact
}

// CheckKey reports whether presented is the cluster key. It compares
// digests in constant time, and refuses every key when none is configured.
func (n *Node) CheckKey(presented string) bool {
	if n.cfg.ClusterKey == "" {
		return false
	}
	want := sha256.Sum256([]byte(n.cfg.ClusterKey))
	got := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}

// Digest fingerprints a node's state machine, so that tests and operators
// can check that replicas converged.
type Digest struct {
	NodeID string `json:"node_id"`
	// FSMIndex is the index of the last entry the state reflects.
	FSMIndex uint64 `json:"fsm_index"`
	// SHA256 is the hex SHA-256 of the state's snapshot encoding.
	SHA256 string `json:"sha256"`
}

// StateDigest returns the digest of the state the node holds now.
func (n *Node) StateDigest() (Digest, error) {
	st := n.fsm.State()
	sum, err := st.Digest()
	if err != nil {
		return Digest{}, fmt.Errorf("state digest: %w", err)
	}
	return Digest{NodeID: n.cfg.NodeID, FSMIndex: st.Index(), SHA256: sum}, nil
}
