package api

import (
	"net/http"
	"net/http/pprof"
	rpprof "runtime/pprof"

	"github.com/gin-gonic/gin"
)

// routeDebug serves Go's profiles under /debug/pprof/ to superusers, for
// `go tool pprof -H "Authorization: Token ..." http://node/debug/pprof/heap`
// and the like. A CPU profile or trace runs for ?seconds= (30 by default),
// within the server's write timeout.
func (s *server) routeDebug(r *gin.Engine) {
	g := r.Group("/debug/pprof", s.adminAuth)
	g.GET("/", gin.WrapF(pprof.Index))
	g.GET("/:profile", s.debugProfile)
	g.POST("/symbol", gin.WrapF(pprof.Symbol))
}

// debugProfile serves one profile by name.
func (s *server) debugProfile(c *gin.Context) {
	switch name := c.Param("profile"); name {
	case "cmdline":
		pprof.Cmdline(c.Writer, c.Request)
	case "profile":
		pprof.Profile(c.Writer, c.Request)
	case "symbol":
		pprof.Symbol(c.Writer, c.Request)
	case "trace":
		pprof.Trace(c.Writer, c.Request)
	default:
		if rpprof.Lookup(name) == nil {
			detail(c, http.StatusNotFound, msgNotFound)
			return
		}
		pprof.Handler(name).ServeHTTP(c.Writer, c.Request)
	}
}
