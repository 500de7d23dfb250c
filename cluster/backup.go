package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/prefsd/prefsd/fsm"
)

// Backups, restores and leadership transfer: the operator's actions on the
// whole cluster.
//
// A backup is one JSON header line followed by the state machine's snapshot
// encoding (fsm.State.Encode), byte for byte:
//
//	{"format":"prefsd-backup","version":1,"node_id":"n1","index":812,"term":3,
//	 "created":"2025-01-02T03:04:05Z","size":123456,"sha256":"…"}
//	{"format":"prefsd-snapshot","version":1,"meta":{…}}
//	{"user":{…}}
//	…
//
// The header gives the payload's exact size and SHA-256, so a truncated,
// extended or corrupted file is refused before anything changes. The
// payload's SHA-256 is the state's digest (GET /api/cluster/digest) at the
// backup's index.
//
// Any node serves a backup: it takes the state at the requested consistency
// level (linearizable by default, so it holds every write acknowledged
// before the request) and streams it from its own memory. The state is
// immutable, so neither the leader nor writes wait for a download.
//
// A restore goes through the leader. A follower streams the upload on to the
// leader as it arrives; the leader spools it to a temporary file in its data
// directory, checks the header, size and checksum, decodes the whole state
// once to prove the state machine will accept it (raft takes a node down if
// restoring a user snapshot into the state machine fails), and only then
// hands the file to raft's Restore. Raft installs it on the leader and sends
// it to the followers by InstallSnapshot, so every node ends with the
// backup's state. The leader then redoes what it does on winning an
// election: it records the current members' API addresses in the member
// directory (the backup's directory may name other nodes or addresses),
// forgets members that are not in the raft configuration, installs the
// default catalogue if the backup never had one, and creates the built-in
// superuser if the backup lacks it.

// The operator endpoints' paths.
const (
	PathSnapshot           = "/api/cluster/snapshot"
	PathRestore            = "/api/cluster/snapshot/restore"
	PathTransferLeadership = "/api/cluster/transfer-leadership"
	// ForwardedHeader marks a restore that a follower passes on to the
	// leader; a node that is not the leader refuses it rather than
	// passing it on again.
	ForwardedHeader = "X-Prefsd-Forwarded"
)

// The backup format's name and the one version this code writes and reads.
const (
	BackupFormat  = "prefsd-backup"
	BackupVersion = 1
	// BackupMediaType is the Content-Type of a backup.
	BackupMediaType = "application/vnd.prefsd.backup"
	// maxBackupHeader bounds the header line, so that a foreign file is
	// refused without reading it whole.
	maxBackupHeader = 4 << 10
	// restoreIndexGap is how far past the leader's last log index a
	// restored state is placed. Raft puts a user snapshot after its last
	// index; the gap leaves room for entries appended between reading
	// that index and raft taking the restore, so the state's index and
	// raft's agree (see restoreLocal).
	restoreIndexGap = 1024
)

// ErrBadBackup means an uploaded file is not a backup this node can
// restore: foreign, of another version, truncated, extended, corrupted, or
// holding a state the state machine refuses. Nothing was changed.
var ErrBadBackup = errors.New("cluster: not a usable backup")

// BackupHeader is the first line of a backup.
type BackupHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// NodeID is the node that wrote the backup.
	NodeID string `json:"node_id"`
	// Index is the raft index of the last entry the state reflects, and
	// Term the raft term when the backup was taken.
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// Created is the serving node's clock when the backup was taken
	// (RFC 3339, UTC).
	Created string `json:"created"`
	// Size is the payload's length in bytes and SHA256 its hex SHA-256.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Backup is a consistent copy of the state, ready to be written.
type Backup struct {
	Header BackupHeader
	line   []byte // the header, encoded, with its newline
	state  *fsm.State
}

// Size returns the number of bytes WriteTo writes.
func (b *Backup) Size() int64 { return int64(len(b.line)) + b.Header.Size }

// WriteTo writes the backup to w.
func (b *Backup) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	if _, err := cw.Write(b.line); err != nil {
		return cw.n, err
	}
	if err := b.state.Encode(cw); err != nil {
		return cw.n, err
	}
	if cw.n != b.Size() {
		return cw.n, fmt.Errorf("cluster: backup wrote %d bytes, announced %d", cw.n, b.Size())
	}
	return cw.n, nil
}

// Backup takes a copy of the state at the given consistency level. It
// encodes the state once to learn the payload's size and checksum; WriteTo
// encodes it again as it writes, so the backup is never held in memory.
func (n *Node) Backup(ctx context.Context, level Consistency) (*Backup, error) {
	st, err := n.Read(ctx, level)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	cw := &countingWriter{w: h}
	if err := st.Encode(cw); err != nil {
		return nil, fmt.Errorf("cluster: encode backup: %w", err)
	}
	hdr := BackupHeader{
		Format:  BackupFormat,
		Version: BackupVersion,
		NodeID:  n.cfg.NodeID,
		Index:   st.Index(),
		Term:    n.raft.CurrentTerm(),
		Created: n.clock().UTC().Format(time.RFC3339),
		Size:    cw.n,
		SHA256:  hex.EncodeToString(h.Sum(nil)),
	}
	line, err := json.Marshal(hdr)
	if err != nil {
		return nil, err
	}
	return &Backup{Header: hdr, line: append(line, '\n'), state: st}, nil
}

// ReadBackupHeader reads and checks a backup's header line from r, leaving
// r at the first byte of the payload.
func ReadBackupHeader(r *bufio.Reader) (BackupHeader, error) {
	var hdr BackupHeader
	line, err := readLine(r, maxBackupHeader)
	if err != nil {
		return hdr, fmt.Errorf("%w: header: %v", ErrBadBackup, err)
	}
	if err := json.Unmarshal(line, &hdr); err != nil || hdr.Format != BackupFormat {
		return hdr, fmt.Errorf("%w: not a prefsd backup (no %q header)", ErrBadBackup, BackupFormat)
	}
	if hdr.Version != BackupVersion {
		return hdr, fmt.Errorf("%w: backup format version %d; this node reads version %d", ErrBadBackup, hdr.Version, BackupVersion)
	}
	if sum, err := hex.DecodeString(hdr.SHA256); err != nil || len(sum) != sha256.Size {
		return hdr, fmt.Errorf("%w: header: sha256 %q is not a hex SHA-256", ErrBadBackup, hdr.SHA256)
	}
	if hdr.Size <= 0 {
		return hdr, fmt.Errorf("%w: header: size %d", ErrBadBackup, hdr.Size)
	}
	return hdr, nil
}

// readLine reads one line of at most limit bytes, without its newline.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > limit {
			return nil, fmt.Errorf("first line longer than %d bytes", limit)
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, errors.New("no complete first line")
		default:
			return nil, err
		}
	}
}

// copyPayload copies the payload that follows hdr from r to w, checking
// its size, its checksum, and that nothing follows it. Errors from r are
// returned as they are; a payload that does not match hdr is ErrBadBackup.
func copyPayload(w io.Writer, r *bufio.Reader, hdr BackupHeader) error {
	h := sha256.New()
	got, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, hdr.Size))
	if err != nil {
		return err
	}
	if got < hdr.Size {
		return fmt.Errorf("%w: truncated: %d of %d payload bytes", ErrBadBackup, got, hdr.Size)
	}
	var one [1]byte
	switch _, err := io.ReadFull(r, one[:]); {
	case err == nil:
		return fmt.Errorf("%w: data after the %d payload bytes the header announces", ErrBadBackup, hdr.Size)
	case !errors.Is(err, io.EOF):
		return err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != hdr.SHA256 {
		return fmt.Errorf("%w: checksum mismatch: payload sha256 %s, header says %s", ErrBadBackup, sum, hdr.SHA256)
	}
	return nil
}

// VerifyBackup reads a whole backup from r and checks its header, size and
// checksum, without decoding the state. It returns the header.
func VerifyBackup(r io.Reader) (BackupHeader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	hdr, err := ReadBackupHeader(br)
	if err != nil {
		return hdr, err
	}
	return hdr, copyPayload(io.Discard, br, hdr)
}

// RestoreResult describes a finished restore.
type RestoreResult struct {
	// NodeID is the leader that restored the backup.
	NodeID string `json:"node_id"`
	// Backup is the restored backup's header.
	Backup BackupHeader `json:"backup"`
	// Index is the state's index once restored and reconciled, and Term
	// the raft term.
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// Warnings name follow-up steps that failed; the next leader retries
	// them.
	Warnings []string `json:"warnings,omitempty"`
}

// RelayedError is a refusal the leader answered to a restore or a
// leadership transfer that this node passed on; the caller answers its
// client the same way.
type RelayedError struct {
	Status int
	Body   ErrorBody
}

func (e *RelayedError) Error() string {
	return fmt.Sprintf("cluster: leader answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Body.Message)
}

// RestoreBackup replaces the whole cluster's state with the backup read
// from r, size bytes long (-1 if unknown). On the leader it restores; on
// a follower it streams r on to the leader, unless forwarded says the
// upload was already passed on once. See the comment at the top of this
// file for the steps.
func (n *Node) RestoreBackup(ctx context.Context, r io.Reader, size int64, forwarded bool) (RestoreResult, error) {
	addr, self, err := n.waitLeader(ctx)
	if err != nil {
		return RestoreResult{}, err
	}
	if self {
		return n.restoreLocal(ctx, r)
	}
	if forwarded {
		return RestoreResult{}, fmt.Errorf("%w: a restore passed on to this node must find it leading", ErrNotLeader)
	}
	res, err := n.forwardRestore(ctx, addr, r, size)
	n.metrics.observeForward("restore", err)
	return res, err
}

// forwardRestore streams a restore to the leader at addr and relays its
// answer.
func (n *Node) forwardRestore(ctx context.Context, addr string, r io.Reader, size int64) (RestoreResult, error) {
	var out RestoreResult
	err := n.relay(ctx, http.MethodPost, addr, PathRestore, BackupMediaType, r, size, true, &out)
	return out, err
}

// relay calls the leader at addr with the cluster key and decodes a 2xx
// answer into out. A refusal comes back as a *RelayedError carrying the
// leader's status and body as they were, so the caller can answer its own
// client the same way. A leader that cannot be dialled is ErrNotLeader:
// nothing was sent. forwarded marks the call as passed on already.
func (n *Node) relay(ctx context.Context, method, addr, path, contentType string, body io.Reader, size int64, forwarded bool, out any) error {
	sent := &countingReader{r: body}
	req, err := http.NewRequestWithContext(ctx, method, n.tls.apiScheme()+addr+path, io.NopCloser(sent))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	req.ContentLength = size
	if size < 0 {
		req.ContentLength = -1
	}
	req.Header.Set(KeyHeader, n.cfg.ClusterKey)
	req.Header.Set("Content-Type", contentType)
	if forwarded {
		req.Header.Set(ForwardedHeader, "1")
	}
	res, err := n.client.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" && sent.n == 0 {
			return fmt.Errorf("%w: leader %s unreachable: %v", ErrNotLeader, addr, err)
		}
		return fmt.Errorf("%w: %s %s through leader %s: %v", ErrUnknownOutcome, method, path, addr, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: read the leader's answer: %v", ErrUnknownOutcome, err)
	}
	if res.StatusCode/100 != 2 {
		var eb ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Code == "" {
			eb = ErrorBody{Code: "internal", Message: string(bytes.TrimSpace(data))}
		}
		return &RelayedError{Status: res.StatusCode, Body: eb}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: decode the leader's answer: %v", ErrUnknownOutcome, err)
	}
	return nil
}

// restoreLocal restores a backup on the leader.
func (n *Node) restoreLocal(ctx context.Context, r io.Reader) (RestoreResult, error) {
	spool, err := os.CreateTemp(n.cfg.DataDir, "restore-*.tmp")
	if err != nil {
		return RestoreResult{}, fmt.Errorf("cluster: restore: %w", err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	br := bufio.NewReaderSize(r, 64<<10)
	hdr, err := ReadBackupHeader(br)
	if err != nil {
		return RestoreResult{}, err
	}
	if err := copyPayload(spool, br, hdr); err != nil {
		if !errors.Is(err, ErrBadBackup) {
			err = fmt.Errorf("cluster: restore: read the upload: %w", err)
		}
		return RestoreResult{}, err
	}
	if err := checkState(spool, hdr); err != nil {
		return RestoreResult{}, err
	}

	// Raft places a user snapshot right after its last log index, leaving
	// a hole so that followers fault and receive the snapshot. The state
	// must carry that index too: a follower that has not installed the
	// snapshot yet holds a state of a higher index than the backup's, and
	// would otherwise pass the read-index check with its old state.
	base := max(n.raft.LastIndex(), hdr.Index) + restoreIndexGap
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return RestoreResult{}, err
	}
	payload := bufio.NewReaderSize(spool, 64<<10)
	first, err := readLine(payload, 1<<20)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("%w: state header: %v", ErrBadBackup, err)
	}
	reindexed, err := reindexStateHeader(first, base+1)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("%w: state header: %v", ErrBadBackup, err)
	}
	size := int64(len(reindexed)) + hdr.Size - int64(len(first)+1)
	before := n.fsm.State()
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: base, Term: hdr.Term, Size: size}
	n.log.Info("restoring a backup", "backup_node", hdr.NodeID, "backup_index", hdr.Index, "bytes", hdr.Size, "index", base+1)
	err = n.raft.Restore(meta, io.MultiReader(bytes.NewReader(reindexed), payload), n.cfg.ApplyTimeout)
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return RestoreResult{}, fmt.Errorf("%w: %v", ErrNotLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return RestoreResult{}, fmt.Errorf("%w: %v", ErrShutdown, err)
	case err != nil:
		return RestoreResult{}, fmt.Errorf("%w: restore: %v", ErrUnknownOutcome, err)
	}

	// The restore is done whether or not the client still listens.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.ApplyTimeout)
	defer cancel()
	res := RestoreResult{NodeID: n.cfg.NodeID, Backup: hdr}
	res.Warnings = n.reconcileAfterRestore(ctx, before)
	res.Index, res.Term = n.fsm.Index(), n.raft.CurrentTerm()
	n.log.Info("restored a backup", "backup_index", hdr.Index, "index", res.Index, "warnings", len(res.Warnings))
	return res, nil
}

// checkState decodes the spooled payload the way the state machine will, so
// that raft is only ever handed a state it can install. The decoded state
// is dropped: the state machine builds its own.
func checkState(spool io.ReadSeeker, hdr BackupHeader) error {
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return err
	}
	st, err := fsm.ReadSnapshot(bufio.NewReaderSize(spool, 64<<10))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	if st.Index() != hdr.Index {
		return fmt.Errorf("%w: the header says index %d, the state says %d", ErrBadBackup, hdr.Index, st.Index())
	}
	return nil
}

// reindexStateHeader returns the state machine's snapshot header line with
// its index set to idx, followed by a newline.
func reindexStateHeader(line []byte, idx uint64) ([]byte, error) {
	var h map[string]json.RawMessage
	if err := json.Unmarshal(line, &h); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(h["meta"], &m); err != nil {
		return nil, err
	}
	m["index"] = json.RawMessage(strconv.FormatUint(idx, 10))
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	h["meta"] = mb
	out, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// reconcileAfterRestore redoes, after a restore, what a new leader does:
// it makes the member directory list the current configuration's members
// at the addresses known before the restore, installs the default
// catalogue if the restored state never had one, and creates the built-in
// superuser if it is missing. It also moves the state's index past the
// restored snapshot's if entries raced the restore. It returns what failed.
func (n *Node) reconcileAfterRestore(ctx context.Context, before *fsm.State) []string {
	var warnings []string
	apply := func(t fsm.CmdType, body any) {
		if err := n.applyOwn(ctx, t, body); err != nil {
			n.log.Warn("after restore", "command", t.String(), "err", err)
			warnings = append(warnings, fmt.Sprintf("%s: %v", t, err))
		}
	}

	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return append(warnings, fmt.Sprintf("read the raft configuration: %v", err))
	}
	st := n.fsm.State()
	inConfig := map[string]bool{}
	changed := false
	for _, s := range cf.Configuration().Servers {
		id := string(s.ID)
		inConfig[id] = true
		want, ok := before.Member(id)
		if id == n.cfg.NodeID {
			want, ok = fsm.Member{NodeID: id, APIAddr: n.cfg.AdvertiseHTTP}, true
		}
		if have, found := st.Member(id); !ok || (found && have.APIAddr == want.APIAddr) {
			continue
		}
		apply(fsm.CmdSetMember, fsm.SetMember{NodeID: id, APIAddr: want.APIAddr})
		changed = true
	}
	for _, m := range st.Members() {
		if !inConfig[m.NodeID] {
			apply(fsm.CmdRemoveMember, fsm.RemoveMember{NodeID: m.NodeID})
			changed = true
		}
	}
	if len(n.catalog) > 0 && st.CatalogVersion() == 0 {
		apply(fsm.CmdPutCatalog, fsm.PutCatalog{Defs: n.catalog})
		changed = true
	}
	if len(n.admin) > 0 {
		if _, ok := st.UserByName(AdminUsername); !ok {
			apply(fsm.CmdEnsureAdmin, fsm.EnsureAdmin{Username: AdminUsername, TokenName: "bootstrap", Digest: n.admin})
			changed = true
		}
	}
	if !changed && n.fsm.Index() < n.lastSnapshotIndex() {
		// Entries appended while the restore was queued pushed raft's
		// index past the one the state was given: commit one entry so
		// the state's index is raft's again.
		apply(fsm.CmdSetMember, fsm.SetMember{NodeID: n.cfg.NodeID, APIAddr: n.cfg.AdvertiseHTTP})
	}
	return warnings
}

// lastSnapshotIndex returns the index of raft's latest snapshot.
func (n *Node) lastSnapshotIndex() uint64 {
	v, _ := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
	return v
}

// TransferResult says where leadership went.
type TransferResult struct {
	Previous string `json:"previous_leader"`
	Leader   string `json:"leader"`
}

// transferRequest is the body of a leadership transfer.
type transferRequest struct {
	To string `json:"to,omitempty"`
}

// TransferLeadership asks the leader to hand leadership to the voter
// named to, or, when to is empty, to the most up-to-date other voter, and
// waits until a new leader is known. On a follower it forwards the request
// to the leader. It tries once: if leadership moves meanwhile, it fails
// with ErrNotLeader rather than move it again.
func (n *Node) TransferLeadership(ctx context.Context, to string) (TransferResult, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	addr, self, err := n.waitLeader(ctx)
	if err != nil {
		return TransferResult{}, err
	}
	if self {
		return n.transferLocal(ctx, to)
	}
	body, err := json.Marshal(transferRequest{To: to})
	if err != nil {
		return TransferResult{}, err
	}
	var out TransferResult
	err = n.relay(ctx, http.MethodPost, addr, PathTransferLeadership, "application/json", bytes.NewReader(body), int64(len(body)), false, &out)
	n.metrics.observeForward("transfer", err)
	return out, err
}

func (n *Node) transferLocal(ctx context.Context, to string) (TransferResult, error) {
	self := n.cfg.NodeID
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return TransferResult{}, raftErr(err)
	}
	var target *raft.Server
	others := 0
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == to {
			target = &s
		}
		if string(s.ID) != self && s.Suffrage == raft.Voter {
			others++
		}
	}
	switch {
	case to == self:
		return TransferResult{Previous: self, Leader: self}, nil
	case to != "" && target == nil:
		return TransferResult{}, fmt.Errorf("%w: %q", ErrNotFound, to)
	case target != nil && target.Suffrage != raft.Voter:
		return TransferResult{}, fmt.Errorf("%w: %q is not a voter", ErrBadRequest, to)
	case others == 0:
		return TransferResult{}, fmt.Errorf("%w: no other voter to hand leadership to", ErrBadRequest)
	}
	var f raft.Future
	if target != nil {
		f = n.raft.LeadershipTransferToServer(target.ID, target.Address)
	} else {
		f = n.raft.LeadershipTransfer()
	}
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrRaftShutdown) {
			return TransferResult{}, raftErr(err)
		}
		if errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return TransferResult{}, fmt.Errorf("%w: %v", ErrNoLeader, err)
		}
		return TransferResult{}, fmt.Errorf("%w: leadership transfer: %v", ErrTimeout, err)
	}
	n.log.Info("handed leadership over", "to", to)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, id := n.raft.LeaderWithID(); id != "" && string(id) != self {
			return TransferResult{Previous: self, Leader: string(id)}, nil
		}
		select {
		case <-ctx.Done():
			// The transfer happened; the new leader is just not known yet.
			return TransferResult{Previous: self}, nil
		case <-n.stop:
			return TransferResult{}, ErrShutdown
		case <-tick.C:
		}
	}
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n += int64(k)
	return k, err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}
