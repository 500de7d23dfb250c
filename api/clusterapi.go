package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
)

// The cluster endpoints take the cluster key or a superuser's token; the
// internal ones, which only nodes call, take the cluster key alone. Both
// answer errors as cluster.ErrorBody.

func (s *server) routeCluster(r *gin.Engine) {
	g := r.Group("/api/cluster", s.clusterAuth(true))
	g.GET("/status", s.clusterStatus)
	g.GET("/digest", s.clusterDigest)
	g.POST("/join", s.clusterJoin)
	g.DELETE("/nodes/:id", s.clusterRemove)
	g.POST("/transfer-leadership", s.clusterTransferLeadership)
	g.GET("/snapshot", s.clusterSnapshot)
	g.POST("/snapshot/restore", s.clusterRestore)

	in := r.Group("/internal/v1", s.clusterAuth(false))
	in.POST("/apply", s.internalApply)
	in.POST("/apply-batch", s.internalApplyBatch)
	in.GET("/readindex", s.internalReadIndex)
	in.GET("/term", s.internalTerm)
}

// clusterError answers err as a node-to-node error body.
func clusterFail(c *gin.Context, err error) {
	status, body := cluster.EncodeError(err)
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "1")
	}
	respond(c, status, body)
}

// clusterAuth admits callers with the cluster key and, if superusers is
// set, callers with a superuser's token.
func (s *server) clusterAuth(superusers bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(dialectKey, "cluster")
		if key := c.GetHeader(cluster.KeyHeader); key != "" {
			if !s.cluster.CheckKey(key) {
				clusterFail(c, cluster.ErrBadKey)
				return
			}
			c.Next()
			return
		}
		if superusers {
			cr := s.authenticate(c)
			if cr.err != nil {
				clusterFail(c, cluster.ErrNoLeader)
				return
			}
			if cr.user != nil && cr.user.IsSuperuser {
				c.Next()
				return
			}
		}
		clusterFail(c, cluster.ErrBadKey)
	}
}

func (s *server) clusterStatus(c *gin.Context) {
	st, err := s.cluster.Status()
	if err != nil {
		clusterFail(c, err)
		return
	}
	respond(c, http.StatusOK, st)
}

// clusterDigest answers the fingerprint of this node's state machine.
func (s *server) clusterDigest(c *gin.Context) {
	d, err := s.cluster.StateDigest()
	if err != nil {
		clusterFail(c, err)
		return
	}
	respond(c, http.StatusOK, d)
}

func (s *server) clusterJoin(c *gin.Context) {
	body, err := readBody(c)
	if err != nil {
		clusterFail(c, errors.Join(cluster.ErrBadRequest, err))
		return
	}
	var req cluster.JoinRequest
	if err := json.Unmarshal(body, &req); err != nil {
		clusterFail(c, errors.Join(cluster.ErrBadRequest, err))
		return
	}
	if err := s.cluster.Join(c.Request.Context(), req); err != nil {
		clusterFail(c, err)
		return
	}
	respond(c, http.StatusOK, gin.H{"node_id": req.NodeID})
}

func (s *server) clusterRemove(c *gin.Context) {
	if err := s.cluster.Remove(c.Request.Context(), c.Param("id")); err != nil {
		clusterFail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *server) internalApply(c *gin.Context) {
	body, err := readBody(c)
	if err != nil || len(body) == 0 {
		clusterFail(c, errors.Join(cluster.ErrBadRequest, err))
		return
	}
	resp, err := s.cluster.ApplyLocal(c.Request.Context(), fsm.Command(body))
	if err != nil {
		clusterFail(c, err)
		return
	}
	respond(c, http.StatusOK, resp)
}

// internalApplyBatch applies the commands a follower forwards together;
// each gets its own result or error in the answer.
func (s *server) internalApplyBatch(c *gin.Context) {
	body, err := readBody(c)
	if err != nil {
		clusterFail(c, errors.Join(cluster.ErrBadRequest, err))
		return
	}
	cmds, err := cluster.DecodeBatch(body)
	if err != nil {
		clusterFail(c, err)
		return
	}
	respond(c, http.StatusOK, s.cluster.ApplyBatchLocal(c.Request.Context(), cmds))
}

func (s *server) internalReadIndex(c *gin.Context) {
	idx, err := s.cluster.ReadIndex(c.Request.Context(), c.Query("verify") != "false")
	if err != nil {
		clusterFail(c, err)
		return
	}
	respond(c, http.StatusOK, cluster.ReadIndexResponse{Index: idx})
}

// internalTerm tells the leader this node's raft term, which it counts
// towards confirming a linearizable read.
func (s *server) internalTerm(c *gin.Context) {
	respond(c, http.StatusOK, s.cluster.Term())
}

func (s *server) healthz(c *gin.Context) {
	respond(c, http.StatusOK, gin.H{"status": "ok"})
}

func (s *server) readyz(c *gin.Context) {
	if err := s.cluster.Ready(); err != nil {
		respond(c, http.StatusServiceUnavailable, gin.H{"status": "not ready", "reason": err.Error()})
		return
	}
	respond(c, http.StatusOK, gin.H{"status": "ready"})
}

// internalPath reports whether a request is node-to-node traffic, which
// may carry more than a client's body limit (a forwarded command escapes
// the client's JSON once more).
func internalPath(path string) bool {
	return strings.HasPrefix(path, "/internal/")
}
