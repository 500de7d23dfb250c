package fsm

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"sync"

	iradix "github.com/hashicorp/go-immutable-radix/v2"
)

// User is a stored identity. Users are immutable once stored: Apply replaces
// the record instead of changing it, so readers may keep a *User.
type User struct {
	ID           uint64     `json:"id"`
	Username     string     `json:"username"`
	Email        string     `json:"email,omitempty"`
	PasswordHash string     `json:"password_hash,omitempty"`
	IsStaff      bool       `json:"is_staff,omitempty"`
	IsSuperuser  bool       `json:"is_superuser,omitempty"`
	Created      int64      `json:"created"`
	Updated      int64      `json:"updated"`
	Quota        QuotaPatch `json:"quota"`
	// Permissions are Django-style permission names the user holds, sorted.
	Permissions []string `json:"permissions,omitempty"`
	// PrefCount and PrefBytes are the user's usage: how many free-form
	// preferences the user holds and their keys' and values' total bytes.
	PrefCount int64 `json:"pref_count"`
	PrefBytes int64 `json:"pref_bytes"`
}

// Token is a stored API token. Only the SHA-256 digest of its secret is kept.
type Token struct {
	ID      uint64 `json:"id"`
	UserID  uint64 `json:"user_id"`
	Name    string `json:"name"`
	Digest  []byte `json:"digest"`
	Created int64  `json:"created"`
}

// Member is a cluster member's entry in the directory: where its HTTP API
// listens, so that followers can forward to the leader.
type Member struct {
	NodeID  string `json:"node_id"`
	APIAddr string `json:"api_addr"`
}

// meta is the scalar part of the state.
type meta struct {
	// Index is the raft index of the last entry applied.
	Index uint64 `json:"index"`
	// NextID is the next id to allocate to a user or token.
	NextID uint64 `json:"next_id"`
	// DefaultQuota is the quota in force for users without overrides.
	DefaultQuota Quota `json:"default_quota"`
	// CatalogVersion counts the catalogue changes applied; 0 means the
	// catalogue was never set, so a new leader installs the default one.
	CatalogVersion uint64 `json:"catalog_version,omitempty"`
}

// State is one immutable version of the replicated state. Every method is a
// read and safe for concurrent use; a *State never changes once published.
//
// The tables that grow with the number of users (users, names, prefs) are
// btrees; the others are go-immutable-radix trees.
type State struct {
	meta meta
	// users maps id to the user.
	users btree[uint64, *User]
	// names maps the lower-cased username to the user's id.
	names btree[string, uint64]
	// tokens maps a token digest to the token.
	tokens *iradix.Tree[*Token]
	// userTokens maps user id + token id to the token's digest.
	userTokens *iradix.Tree[[]byte]
	// prefs maps a user's id to the user's preferences, if the user has
	// any.
	prefs btree[uint64, prefBlock]
	// members maps node id to the member.
	members *iradix.Tree[*Member]
	// catalog maps registry, scope and key to a setting definition.
	catalog *iradix.Tree[*SettingDef]
	// settings maps user id (0 for global) + registry, scope and key to a
	// canonical setting value.
	settings *iradix.Tree[string]
	// sessions maps a session digest to the session (fsm/session.go).
	sessions *iradix.Tree[*Session]
	// userSessions maps user id + session digest to the digest.
	userSessions *iradix.Tree[[]byte]

	// digestOnce computes Digest once: the state never changes, so neither
	// does its digest.
	digestOnce sync.Once
	digest     string
	digestErr  error
}

// newState returns the empty state a cluster starts from.
func newState() *State {
	return &State{
		meta:       meta{NextID: 1, DefaultQuota: DefaultQuota()},
		tokens:     iradix.New[*Token](),
		userTokens: iradix.New[[]byte](),
		members:    iradix.New[*Member](),
		catalog:    iradix.New[*SettingDef](),
		settings:   iradix.New[string](),

		sessions:     iradix.New[*Session](),
		userSessions: iradix.New[[]byte](),
	}
}

// idKey encodes an id as a tree key that sorts numerically.
func idKey(id uint64) []byte {
	return idKeyRoom(id, 0)
}

// idKeyRoom is idKey with room for extra more bytes, so that a key that
// starts with an id is allocated once, at its full size.
func idKeyRoom(id uint64, extra int) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8+extra), id)
}

// pairKey is the key of a tree indexed by two ids.
func pairKey(a, b uint64) []byte {
	return binary.BigEndian.AppendUint64(idKeyRoom(a, 8), b)
}

// foldName is the form in which usernames are compared for uniqueness.
func foldName(username string) string {
	return strings.ToLower(username)
}

// Index returns the raft index of the last entry applied to this state.
func (s *State) Index() uint64 { return s.meta.Index }

// CatalogVersion counts the catalogue changes applied so far.
func (s *State) CatalogVersion() uint64 { return s.meta.CatalogVersion }

// DefaultQuota returns the quota in force for users without overrides.
func (s *State) DefaultQuota() Quota { return s.meta.DefaultQuota }

// UserByName finds a user by username, case-insensitively.
func (s *State) UserByName(username string) (*User, bool) {
	id, ok := s.names.get(foldName(username))
	if !ok {
		return nil, false
	}
	return s.UserByID(id)
}

// UserByID finds a user by id.
func (s *State) UserByID(id uint64) (*User, bool) {
	return s.users.get(id)
}

// Users returns every user, ordered by id.
func (s *State) Users() []*User {
	out := make([]*User, 0, s.users.Len())
	s.users.walk(func(_ uint64, u *User) bool {
		out = append(out, u)
		return false
	})
	return out
}

// TokenByDigest finds a token and its user by the digest of its secret.
func (s *State) TokenByDigest(digest []byte) (*Token, *User, bool) {
	t, ok := s.tokens.Get(digest)
	if !ok {
		return nil, nil, false
	}
	u, ok := s.UserByID(t.UserID)
	if !ok {
		return nil, nil, false
	}
	return t, u, true
}

// Tokens returns a user's tokens, ordered by id.
func (s *State) Tokens(userID uint64) []*Token {
	var out []*Token
	s.userTokens.Root().WalkPrefix(idKey(userID), func(_ []byte, digest []byte) bool {
		if t, ok := s.tokens.Get(digest); ok {
			out = append(out, t)
		}
		return false
	})
	return out
}

// Pref returns one of a user's preferences.
func (s *State) Pref(userID uint64, key string) (string, bool) {
	b, _ := s.prefs.get(userID)
	return b.get(key)
}

// Prefs returns a user's preferences, ordered by key (bytewise). The slice
// is the caller's.
func (s *State) Prefs(userID uint64) []KV {
	b, _ := s.prefs.get(userID)
	return b.kvs()
}

// Quota returns the limits in force for a user.
func (s *State) Quota(u *User) Quota {
	return u.Quota.apply(s.meta.DefaultQuota)
}

// Members returns the member directory, ordered by node id.
func (s *State) Members() []Member {
	var out []Member
	s.members.Root().Walk(func(_ []byte, m *Member) bool {
		out = append(out, *m)
		return false
	})
	return out
}

// Member returns one member's directory entry.
func (s *State) Member(nodeID string) (Member, bool) {
	m, ok := s.members.Get([]byte(nodeID))
	if !ok {
		return Member{}, false
	}
	return *m, true
}

// HasPermission reports whether u holds a permission, as Django's
// has_perm does: superusers hold every permission.
func (u *User) HasPermission(perm string) bool {
	if u.IsSuperuser {
		return true
	}
	_, found := slices.BinarySearch(u.Permissions, perm)
	return found
}

// SettingDef returns a setting's definition.
func (s *State) SettingDef(r Registry, sc Scope, key string) (*SettingDef, bool) {
	return s.catalog.Get(catalogKey(r, sc, key))
}

// Catalog returns the definitions of a registry and scope, in the order
// they were first defined.
func (s *State) Catalog(r Registry, sc Scope) []*SettingDef {
	var out []*SettingDef
	s.catalog.Root().WalkPrefix(catalogKey(r, sc, ""), func(_ []byte, d *SettingDef) bool {
		out = append(out, d)
		return false
	})
	slices.SortFunc(out, func(a, b *SettingDef) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// CatalogAll returns every definition, in the order they were first defined.
func (s *State) CatalogAll() []*SettingDef {
	out := make([]*SettingDef, 0, 64)
	s.catalog.Root().Walk(func(_ []byte, d *SettingDef) bool {
		out = append(out, d)
		return false
	})
	slices.SortFunc(out, func(a, b *SettingDef) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Setting returns a stored setting value. userID is 0 for global settings.
func (s *State) Setting(userID uint64, r Registry, sc Scope, key string) (string, bool) {
	return s.settings.Get(settingKey(userID, r, sc, key))
}

// Settings returns the stored values of a registry and scope for a user (0
// for global), ordered by key, including values whose definition is gone.
func (s *State) Settings(userID uint64, r Registry, sc Scope) []KV {
	var out []KV
	prefix := settingKey(userID, r, sc, "")
	s.settings.Root().WalkPrefix(prefix, func(k []byte, v string) bool {
		out = append(out, KV{Key: string(k[len(prefix):]), Value: v})
		return false
	})
	return out
}
