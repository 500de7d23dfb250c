package cluster

import (
	"errors"
	"net/http"

	"github.com/prefsd/prefsd/fsm"
)

// Node-to-node calls go over the HTTP API port, under these paths, and carry
// the cluster key in KeyHeader.
const (
	KeyHeader = "X-Prefsd-Cluster-Key"
	PathApply = "/internal/v1/apply"
	// PathApplyBatch takes several commands, each preceded by its length
	// as a uvarint, and answers an ApplyBatchResponse.
	PathApplyBatch = "/internal/v1/apply-batch"
	PathReadIndex  = "/internal/v1/readindex"
	// PathTerm answers a TermResponse: the leader asks its voters for
	// their term to confirm a linearizable read.
	PathTerm  = "/internal/v1/term"
	PathJoin  = "/api/cluster/join"
	PathNodes = "/api/cluster/nodes/"
)

// Sentinel errors of the cluster layer. Match them with errors.Is.
var (
	// ErrNotLeader means this node is not the leader; the operation was
	// not started and may be retried on the leader.
	ErrNotLeader = errors.New("cluster: not leader")
	// ErrNoLeader means no leader was known within the leader wait.
	ErrNoLeader = errors.New("cluster: no leader")
	// ErrUnknownOutcome means a write was handed to raft but its fate is
	// unknown: it may or may not have been committed.
	ErrUnknownOutcome = errors.New("cluster: write outcome unknown")
	// ErrTimeout means a read could not be made consistent in time.
	ErrTimeout = errors.New("cluster: timed out")
	// ErrShutdown means the node is shutting down.
	ErrShutdown = errors.New("cluster: shutting down")
	// ErrBadKey means a node-to-node call carried a wrong cluster key.
	ErrBadKey = errors.New("cluster: bad cluster key")
	// ErrNotFound means a node named in a request is not a member.
	ErrNotFound = errors.New("cluster: no such node")
	// ErrBadRequest means a node-to-node request was malformed.
	ErrBadRequest = errors.New("cluster: bad request")
)

// errorCodes maps each sentinel to the code that carries it between nodes
// and to the HTTP status it is answered with.
var errorCodes = []struct {
	err    error
	code   string
	status int
}{
	{ErrNotLeader, "not_leader", http.StatusServiceUnavailable},
	{ErrNoLeader, "no_leader", http.StatusServiceUnavailable},
	{ErrUnknownOutcome, "unknown_outcome", http.StatusGatewayTimeout},
	{ErrTimeout, "timeout", http.StatusGatewayTimeout},
	{ErrShutdown, "shutdown", http.StatusServiceUnavailable},
	{ErrBadKey, "bad_cluster_key", http.StatusForbidden},
	{ErrNotFound, "not_found", http.StatusNotFound},
	{ErrBadRequest, "bad_request", http.StatusBadRequest},
}

// ErrorBody is the body of a failed node-to-node call.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// EncodeError returns the status and body that carry err to another node.
func EncodeError(err error) (int, ErrorBody) {
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.status, ErrorBody{Code: e.code, Message: err.Error()}
		}
	}
	return http.StatusInternalServerError, ErrorBody{Code: "internal", Message: err.Error()}
}

// decodeError turns a peer's error body back into a sentinel-wrapping error.
func decodeError(status int, b ErrorBody) error {
	for _, e := range errorCodes {
		if e.code == b.Code {
			return e.err
		}
	}
	return &peerError{status: status, body: b}
}

// StatusOf returns the HTTP status for a cluster error, 500 if it is none.
func StatusOf(err error) int {
	status, _ := EncodeError(err)
	return status
}

type peerError struct {
	status int
	body   ErrorBody
}

func (e *peerError) Error() string {
	return "cluster: peer answered " + http.StatusText(e.status) + ": " + e.body.Message
}

// ApplyResponse is the leader's answer to a forwarded command.
type ApplyResponse struct {
	Index  uint64     `json:"index"`
	Result fsm.Result `json:"result"`
}

// ReadIndexResponse is the leader's answer to a read-index request: every
// write acknowledged before the request is at or below Index.
type ReadIndexResponse struct {
	Index uint64 `json:"index"`
}

// TermResponse is a node's answer to the leader's term question.
type TermResponse struct {
	Term uint64 `json:"term"`
}

// JoinRequest asks the cluster to add a node as a voter.
type JoinRequest struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
}
