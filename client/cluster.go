package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Status is a node's view of the cluster (GET /api/cluster/status).
type Status struct {
	NodeID       string   `json:"node_id"`
	State        string   `json:"state"`
	LeaderID     string   `json:"leader_id"`
	LeaderAddr   string   `json:"leader_api_addr"`
	Term         uint64   `json:"term"`
	CommitIndex  uint64   `json:"commit_index"`
	AppliedIndex uint64   `json:"applied_index"`
	FSMIndex     uint64   `json:"fsm_index"`
	LastContact  string   `json:"last_contact,omitempty"`
	Members      []Member `json:"members"`
}

// Member is one member of the raft configuration.
type Member struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
}

// Digest fingerprints a node's state (GET /api/cluster/digest).
type Digest struct {
	NodeID   string `json:"node_id"`
	FSMIndex uint64 `json:"fsm_index"`
	SHA256   string `json:"sha256"`
}

// JoinRequest names a node to add as a voter.
type JoinRequest struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
}

// TransferResult says where leadership went.
type TransferResult struct {
	Previous string `json:"previous_leader"`
	Leader   string `json:"leader"`
}

// BackupHeader is the first line of a backup file.
type BackupHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	NodeID  string `json:"node_id"`
	Index   uint64 `json:"index"`
	Term    uint64 `json:"term"`
	Created string `json:"created"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
}

// RestoreResult describes a finished restore.
type RestoreResult struct {
	NodeID   string       `json:"node_id"`
	Backup   BackupHeader `json:"backup"`
	Index    uint64       `json:"index"`
	Term     uint64       `json:"term"`
	Warnings []string     `json:"warnings,omitempty"`
}

// Status returns the answering node's view of the cluster.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/api/cluster/status", nil, &st)
	return st, err
}

// Digest returns the answering node's state digest.
func (c *Client) Digest(ctx context.Context) (Digest, error) {
	var d Digest
	err := c.do(ctx, http.MethodGet, "/api/cluster/digest", nil, &d)
	return d, err
}

// Join asks the cluster to add a node as a voter, or to record its new
// addresses.
func (c *Client) Join(ctx context.Context, req JoinRequest) error {
	return c.do(ctx, http.MethodPost, "/api/cluster/join", req, nil)
}

// Remove takes a node out of the cluster.
func (c *Client) Remove(ctx context.Context, nodeID string) error {
	return c.do(ctx, http.MethodDelete, "/api/cluster/nodes/"+url.PathEscape(nodeID), nil, nil)
}

// TransferLeadership asks the leader to hand leadership to the voter named
// to, or to the most up-to-date other voter when to is empty.
func (c *Client) TransferLeadership(ctx context.Context, to string) (TransferResult, error) {
	var out TransferResult
	err := c.do(ctx, http.MethodPost, "/api/cluster/transfer-leadership", struct {
		To string `json:"to,omitempty"`
	}{to}, &out)
	return out, err
}

// Download is a backup being downloaded. The caller reads Body to its end,
// which is Size bytes long (-1 if the server did not say), and closes it.
type Download struct {
	Body io.ReadCloser
	Size int64
	// Index is the raft index of the state the backup holds.
	Index uint64
}

// Snapshot starts downloading a backup of the cluster's state, taken at
// the given consistency level ("" means linearizable).
func (c *Client) Snapshot(ctx context.Context, consistency string) (*Download, error) {
	path := "/api/cluster/snapshot"
	if consistency != "" {
		path += "?consistency=" + url.QueryEscape(consistency)
	}
	res, err := c.send(ctx, request{method: http.MethodGet, path: path})
	if err != nil {
		return nil, err
	}
	idx, _ := strconv.ParseUint(res.Header.Get("X-Prefsd-Index"), 10, 64)
	return &Download{Body: res.Body, Size: res.ContentLength, Index: idx}, nil
}

// Restore uploads a backup and restores the whole cluster from it. open
// returns the backup from its start, size bytes long; it is called again
// for each address tried.
func (c *Client) Restore(ctx context.Context, open func() (io.Reader, error), size int64) (RestoreResult, error) {
	r := request{
		method: http.MethodPost, path: "/api/cluster/snapshot/restore",
		body: open, size: size, contentType: "application/vnd.prefsd.backup",
	}
	res, err := c.send(ctx, r)
	if err != nil {
		return RestoreResult{}, err
	}
	defer res.Body.Close()
	var out RestoreResult
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("client: restore: decode the answer: %w", err)
	}
	return out, nil
}
