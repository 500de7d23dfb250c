package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/cluster"
)

// The operator's endpoints on the whole cluster: backups, restores and
// leadership transfer (the format and the steps are described in
// cluster/backup.go). They sit in the cluster group, behind clusterAuth.

// streamIdle is how long a backup download or upload may stall before the
// connection is closed. A stream may take longer than the server's read
// and write timeouts in all; each transfer pushes its deadline on.
const streamIdle = time.Minute

// clusterSnapshot streams a backup of the state at the level asked with
// ?consistency= (linearizable by default), from this node's memory.
func (s *server) clusterSnapshot(c *gin.Context) {
	v := c.Query("consistency")
	if v == "" {
		v = requestHeader(c, hdrXConsistency)
	}
	level, err := cluster.ParseConsistency(v)
	if err != nil {
		clusterFail(c, fmt.Errorf("%w: %v", cluster.ErrBadRequest, err))
		return
	}
	b, err := s.cluster.Backup(c.Request.Context(), level)
	if err != nil {
		clusterFail(c, err)
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", cluster.BackupMediaType)
	h.Set("Content-Length", strconv.FormatInt(b.Size(), 10))
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="prefsd-%s-%d.backup"`, b.Header.NodeID, b.Header.Index))
	setHeader(c, hdrIndex, strconv.FormatUint(b.Header.Index, 10))
	setHeader(c, hdrConsistency, level.String())
	c.Status(http.StatusOK)
	rc := http.NewResponseController(c.Writer)
	if _, err := b.WriteTo(&deadlineWriter{w: c.Writer, rc: rc}); err != nil {
		// The status is sent; cutting the stream short is the only way
		// left to tell the client, whose length check then fails.
		s.log.Warn("backup download cut short", "err", err)
		panic(http.ErrAbortHandler)
	}
	c.Abort()
}

// clusterRestore restores the whole cluster from an uploaded backup.
func (s *server) clusterRestore(c *gin.Context) {
	body := io.Reader(http.NoBody)
	if c.Request.Body != nil {
		body = &deadlineReader{r: c.Request.Body, rc: http.NewResponseController(c.Writer)}
	}
	forwarded := c.GetHeader(cluster.ForwardedHeader) != "" && c.GetHeader(cluster.KeyHeader) != ""
	res, err := s.cluster.RestoreBackup(c.Request.Context(), body, c.Request.ContentLength, forwarded)
	if err != nil {
		s.log.Warn("restore refused or failed", "err", err)
		operatorFail(c, err)
		return
	}
	respond(c, http.StatusOK, res)
}

// operatorFail answers a failed restore or transfer: a refusal the leader
// gave is relayed as it was given and a bad file is 400, before any
// other cluster error.
func operatorFail(c *gin.Context, err error) {
	var relayed *cluster.RelayedError
	switch {
	case errors.As(err, &relayed):
		if relayed.Status == http.StatusServiceUnavailable {
			c.Header("Retry-After", "1")
		}
		respond(c, relayed.Status, relayed.Body)
	case errors.Is(err, cluster.ErrBadBackup):
		respond(c, http.StatusBadRequest, cluster.ErrorBody{Code: "bad_backup", Message: err.Error()})
	default:
		clusterFail(c, err)
	}
}

// transferRequest is the body of a leadership transfer; an empty body
// lets raft pick the most up-to-date voter.
type transferRequest struct {
	To string `json:"to"`
}

// clusterTransferLeadership hands leadership over.
func (s *server) clusterTransferLeadership(c *gin.Context) {
	body, err := readBody(c)
	if err != nil {
		clusterFail(c, errors.Join(cluster.ErrBadRequest, err))
		return
	}
	var req transferRequest
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			clusterFail(c, errors.Join(cluster.ErrBadRequest, err))
			return
		}
	}
	res, err := s.cluster.TransferLeadership(c.Request.Context(), req.To)
	if err != nil {
		operatorFail(c, err)
		return
	}
	respond(c, http.StatusOK, res)
}

// deadlineWriter pushes the connection's write deadline on before each
// write, so that a long download is bounded by stalls, not by its length.
type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(streamIdle)) // unsupported: the server's timeout stays
	return d.w.Write(p)
}

// deadlineReader pushes the connection's read deadline on before each
// read of a long upload.
type deadlineReader struct {
	r  io.Reader
	rc *http.ResponseController
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	_ = d.rc.SetReadDeadline(time.Now().Add(streamIdle))
	return d.r.Read(p)
}
