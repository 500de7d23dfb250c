package api

import (
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/jwtauth"
)

// authenticateJWT verifies a JWT presented with the Bearer or JWT scheme
// and returns the user it names. A user the store has not seen is created
// through the replicated log, so that every node agrees on the user's id;
// a user whose staff flag differs from the token's claim is updated the
// same way, since the identity provider is the authority on it, as Open
// edX's JwtAuthentication does. The token's signature, claims and secret
// never reach the logs.
func (s *server) authenticateJWT(c *gin.Context, cr credentials, token string) credentials {
	id, err := s.jwt.Verify(token)
	switch {
	case errors.Is(err, jwtauth.ErrExpired):
		cr.failure = authJWTExpired
		return cr
	case err != nil:
		cr.failure = authJWTInvalid
		return cr
	}
	u, err := s.jwtUser(c, id)
	switch {
	case err == nil:
		cr.user = u
	case errors.Is(err, errJWTUserRefused):
		cr.failure = authJWTInvalid
	default:
		cr.err = err
	}
	return cr
}

// errJWTUserRefused means the store would not create the token's user (an
// unacceptable username), so the token cannot authenticate.
var errJWTUserRefused = errors.New("api: the JWT's user cannot be created")

// jwtUser finds or creates the user a verified token names, with the staff
// flag the token carries.
func (s *server) jwtUser(c *gin.Context, id jwtauth.Identity) (*fsm.User, error) {
	ctx := c.Request.Context()
	st, err := s.cluster.Read(ctx, cluster.Stale)
	u, ok := (*fsm.User)(nil), false
	if err == nil {
		u, ok = st.UserByName(id.Username)
	}
	if !ok {
		// The leader has every user created so far; only a user it has
		// not seen either is created.
		if st, err = s.cluster.Read(ctx, cluster.Leader); err != nil {
			return nil, err
		}
		u, ok = st.UserByName(id.Username)
	}
	if !ok {
		cmd, err := fsm.Encode(fsm.CmdCreateUser, fsm.CreateUser{Username: id.Username, IsStaff: id.IsStaff})
		if err != nil {
			return nil, err
		}
		res, _, err := s.cluster.Apply(ctx, cmd)
		if err != nil {
			return nil, err
		}
		switch {
		case res.Err == nil, errors.Is(res.Err, fsm.ErrUserExists):
			// Created now, or a moment ago by a concurrent first use.
		default:
			return nil, errJWTUserRefused
		}
		if st, err = s.cluster.Read(ctx, cluster.Leader); err != nil {
			return nil, err
		}
		if u, ok = st.UserByName(id.Username); !ok {
			return nil, errJWTUserRefused
		}
	}
	if u.IsSuperuser {
		// Superusers authenticate with prefsd's own tokens only: a token
		// from the identity provider that names one is not enough.
		return nil, errJWTUserRefused
	}
	if u.IsStaff != id.IsStaff {
		staff := id.IsStaff
		cmd, err := fsm.Encode(fsm.CmdUpdateUser, fsm.UpdateUser{UserID: u.ID, IsStaff: &staff})
		if err != nil {
			return nil, err
		}
		res, _, err := s.cluster.Apply(ctx, cmd)
		if err != nil {
			return nil, err
		}
		if res.Err != nil {
			return nil, errJWTUserRefused
		}
		cp := *u
		cp.IsStaff = staff
		u = &cp
	}
	return u, nil
}
