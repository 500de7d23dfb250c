package fsm

// Sessions are browser logins. Only the SHA-256 digest of a session's secret
// is replicated; the secret lives in the client's cookie. A session carries
// the leader's time of creation and its expiry; Apply never compares them
// with a clock: whether a session has expired is decided by the node that
// reads it, against its own clock.

// Session is a stored login session.
type Session struct {
	Digest  []byte `json:"digest"`
	UserID  uint64 `json:"user_id"`
	Created int64  `json:"created"`
	Expires int64  `json:"expires"`
}

// CreateSession stores a session for a user. TTL is the lifetime in
// nanoseconds, counted from the leader's time stamped on the entry. Applying
// it also forgets the user's sessions that expired by that time, so that a
// user's stored sessions stay bounded by the logins within one TTL.
type CreateSession struct {
	UserID uint64 `json:"user_id"`
	Digest []byte `json:"digest"`
	TTL    int64  `json:"ttl"`
}

// DeleteSession revokes a session by the digest of its secret. Deleting a
// session that does not exist is not an error: logout is idempotent.
type DeleteSession struct {
	Digest []byte `json:"digest"`
}

// sessionDigestLen is the length of a SHA-256 digest.
const sessionDigestLen = 32

// userSessionKey is the userSessions key of one session.
func userSessionKey(userID uint64, digest []byte) []byte {
	return append(idKeyRoom(userID, len(digest)), digest...)
}

func (t *tx) createSession(c *CreateSession) Result {
	if len(c.Digest) != sessionDigestLen {
		return Result{Err: ErrInvalidArgument.with("digest", 0)}
	}
	if c.TTL <= 0 {
		return Result{Err: ErrInvalidArgument.with("ttl", 0)}
	}
	if _, ok := t.user(c.UserID); !ok {
		return Result{Err: ErrUserNotFound}
	}
	if _, ok := t.sessions.get(c.Digest); ok {
		return Result{Err: ErrInvalidArgument.with("digest", 0)}
	}
	for _, k := range t.userSessions.keys(idKey(c.UserID)) {
		digest := k[8:]
		if s, ok := t.sessions.get(digest); ok && s.Expires <= t.now {
			t.sessions.del(digest)
			t.userSessions.del(k)
		}
	}
	expires := t.now + c.TTL
	if expires < t.now { // overflow
		expires = int64(^uint64(0) >> 1)
	}
	digest := append([]byte(nil), c.Digest...)
	t.sessions.put(digest, &Session{Digest: digest, UserID: c.UserID, Created: t.now, Expires: expires})
	t.userSessions.put(userSessionKey(c.UserID, digest), digest)
	return Result{ID: c.UserID}
}

func (t *tx) deleteSession(c *DeleteSession) Result {
	s, ok := t.sessions.get(c.Digest)
	if !ok {
		return Result{}
	}
	t.sessions.del(c.Digest)
	t.userSessions.del(userSessionKey(s.UserID, s.Digest))
	return Result{ID: s.UserID}
}

// deleteUserSessions drops every session of a user.
func (t *tx) deleteUserSessions(userID uint64) {
	prefix := idKey(userID)
	for _, k := range t.userSessions.keys(prefix) {
		t.sessions.del(k[8:])
	}
	t.userSessions.delPrefix(prefix)
}

// SessionByDigest finds a session and its user by the digest of its secret.
// It does not look at the expiry; the caller compares Expires with its clock.
func (s *State) SessionByDigest(digest []byte) (*Session, *User, bool) {
	ss, ok := s.sessions.Get(digest)
	if !ok {
		return nil, nil, false
	}
	u, ok := s.UserByID(ss.UserID)
	if !ok {
		return nil, nil, false
	}
	return ss, u, true
}

// Sessions returns a user's stored sessions, expired ones included, ordered
// by digest.
func (s *State) Sessions(userID uint64) []*Session {
	var out []*Session
	s.userSessions.Root().WalkPrefix(idKey(userID), func(_ []byte, digest []byte) bool {
		if ss, ok := s.sessions.Get(digest); ok {
			out = append(out, ss)
		}
		return false
	})
	return out
}
