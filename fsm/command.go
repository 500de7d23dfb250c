package fsm

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// CmdType identifies a command. Types start at 1 and are only ever appended:
// a type number, once released, keeps its meaning forever, because old log
// entries are replayed by new binaries.
type CmdType uint8

// The command types. Append only.
const (
	CmdCreateUser      CmdType = 1
	CmdUpdateUser      CmdType = 2
	CmdDeleteUser      CmdType = 3
	CmdCreateToken     CmdType = 4
	CmdDeleteToken     CmdType = 5
	CmdSetDefaultQuota CmdType = 6
	CmdSetUserQuota    CmdType = 7
	CmdPatchPrefs      CmdType = 8
	CmdSetMember       CmdType = 9
	CmdRemoveMember    CmdType = 10
	CmdEnsureAdmin     CmdType = 11
	CmdPutCatalog      CmdType = 12
	CmdSetSettings     CmdType = 13
	CmdCreateSession   CmdType = 14
	CmdDeleteSession   CmdType = 15
)

// String returns the command's name as used in metrics labels.
func (t CmdType) String() string {
	switch t {
	case CmdCreateUser:
		return "create_user"
	case CmdUpdateUser:
		return "update_user"
	case CmdDeleteUser:
		return "delete_user"
	case CmdCreateToken:
		return "create_token"
	case CmdDeleteToken:
		return "delete_token"
	case CmdSetDefaultQuota:
		return "set_default_quota"
	case CmdSetUserQuota:
		return "set_user_quota"
	case CmdPatchPrefs:
		return "patch_prefs"
	case CmdSetMember:
		return "set_member"
	case CmdRemoveMember:
		return "remove_member"
	case CmdEnsureAdmin:
		return "ensure_admin"
	case CmdPutCatalog:
		return "put_catalog"
	case CmdSetSettings:
		return "set_settings"
	case CmdCreateSession:
		return "create_session"
	case CmdDeleteSession:
		return "delete_session"
	}
	return "unknown"
}

// CmdTypes lists every known command type, for pre-initialising metrics.
func CmdTypes() []CmdType {
	return []CmdType{
		CmdCreateUser, CmdUpdateUser, CmdDeleteUser, CmdCreateToken, CmdDeleteToken,
		CmdSetDefaultQuota, CmdSetUserQuota, CmdPatchPrefs, CmdSetMember, CmdRemoveMember,
		CmdEnsureAdmin, CmdPutCatalog, CmdSetSettings, CmdCreateSession, CmdDeleteSession,
	}
}

// A Command is what an API handler asks the cluster to apply: a type and its
// JSON body, encoded as [type][body]. It carries no time; the leader stamps
// the time when it turns the command into a log entry (see Stamp).
type Command []byte

// ErrMalformed is returned by the decoders for bytes that are not a command or
// an entry.
var ErrMalformed = errors.New("fsm: malformed command")

// Encode builds a Command from a type and a body that marshals to JSON.
func Encode(t CmdType, body any) (Command, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	// The type byte goes in front of the body in the slice json.Marshal
	// returned: its capacity is rounded up to an allocation size class, so
	// there is usually room, and the body is neither allocated nor copied
	// a second time.
	b = append(b, 0)
	copy(b[1:], b)
	b[0] = byte(t)
	return Command(b), nil
}

// Type returns the command's type, or 0 for an empty command.
func (c Command) Type() CmdType {
	if len(c) == 0 {
		return 0
	}
	return CmdType(c[0])
}

// entryHeader is the length of a log entry's header: one type byte and eight
// bytes of leader time in Unix nanoseconds, big-endian.
const entryHeader = 1 + 8

// Stamp turns a command into a raft log entry by inserting the leader's clock
// reading after the type byte. Only the leader calls it, so every replica sees
// the same time.
func Stamp(c Command, unixNano int64) []byte {
	if len(c) == 0 {
		return nil
	}
	e := make([]byte, entryHeader+len(c)-1)
	e[0] = c[0]
	binary.BigEndian.PutUint64(e[1:entryHeader], uint64(unixNano))
	copy(e[entryHeader:], c[1:])
	return e
}

// DecodeEntry splits a log entry into its type, leader time and body. It
// never panics, whatever the bytes.
func DecodeEntry(e []byte) (CmdType, int64, []byte, error) {
	if len(e) < entryHeader {
		return 0, 0, nil, ErrMalformed
	}
	return CmdType(e[0]), int64(binary.BigEndian.Uint64(e[1:entryHeader])), e[entryHeader:], nil
}

// CreateUser creates a user. Usernames are unique case-insensitively.
type CreateUser struct {
	Username     string `json:"username"`
	Email        string `json:"email,omitempty"`
	PasswordHash string `json:"password_hash,omitempty"`
	IsStaff      bool   `json:"is_staff,omitempty"`
	IsSuperuser  bool   `json:"is_superuser,omitempty"`
	// Permissions are Django-style permission names, e.g.
	// "dynamic_preferences.change_globalpreferencemodel".
	Permissions []string `json:"permissions,omitempty"`
}

// UpdateUser changes the fields that are set. UserID names the user.
type UpdateUser struct {
	UserID       uint64  `json:"user_id"`
	Username     *string `json:"username,omitempty"`
	Email        *string `json:"email,omitempty"`
	PasswordHash *string `json:"password_hash,omitempty"`
	IsStaff      *bool   `json:"is_staff,omitempty"`
	IsSuperuser  *bool   `json:"is_superuser,omitempty"`
	// Permissions, if set, replaces the user's permission names.
	Permissions *[]string `json:"permissions,omitempty"`
}

// DeleteUser removes a user with its tokens and preferences.
type DeleteUser struct {
	UserID uint64 `json:"user_id"`
}

// CreateToken stores an API token for a user. Only the SHA-256 digest of the
// secret is replicated; the secret itself never enters the log.
type CreateToken struct {
	UserID uint64 `json:"user_id"`
	Name   string `json:"name"`
	Digest []byte `json:"digest"`
}

// DeleteToken revokes a user's token by id.
type DeleteToken struct {
	UserID  uint64 `json:"user_id"`
	TokenID uint64 `json:"token_id"`
}

// SetDefaultQuota changes the fields of the default quota that are set.
type SetDefaultQuota struct {
	Quota QuotaPatch `json:"quota"`
}

// SetUserQuota changes a user's quota overrides: the fields that are set
// override the default quota for that user. Reset first drops every override
// the user had, so that only the patch's fields remain.
type SetUserQuota struct {
	UserID uint64     `json:"user_id"`
	Quota  QuotaPatch `json:"quota"`
	Reset  bool       `json:"reset,omitempty"`
}

// PatchPrefs sets and deletes free-form preferences of one user, atomically:
// either every change is applied or, on any error, none is.
type PatchPrefs struct {
	UserID uint64 `json:"user_id"`
	// Set lists the keys to create or overwrite, applied in order.
	Set []KV `json:"set,omitempty"`
	// Delete lists the keys to remove; a missing key is not an error.
	Delete []string `json:"delete,omitempty"`
}

// KV is one preference.
type KV struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

// SetMember records a cluster member's HTTP API address.
type SetMember struct {
	NodeID  string `json:"node_id"`
	APIAddr string `json:"api_addr"`
}

// RemoveMember forgets a cluster member.
type RemoveMember struct {
	NodeID string `json:"node_id"`
}

// EnsureAdmin creates the built-in superuser, holding the token digest, if
// no user of that name exists; otherwise it changes nothing. Every new leader
// may issue it: it bootstraps the superuser once, and never hands a token
// back after an operator revoked it.
type EnsureAdmin struct {
	Username  string `json:"username"`
	TokenName string `json:"token_name"`
	Digest    []byte `json:"digest,omitempty"`
}

// PutCatalog adds or replaces setting definitions. With Replace, every
// definition not in Defs is removed first; values stored under a removed
// definition are kept, and shown as obsolete. A definition keeps its id for
// as long as its key stays defined.
type PutCatalog struct {
	Defs    []SettingDef `json:"defs"`
	Replace bool         `json:"replace,omitempty"`
}

// SetSettings stores setting values in canonical form, all or nothing:
// every key must be defined in the registry and scope, and every value
// valid. UserID is 0 for global settings.
type SetSettings struct {
	Registry Registry `json:"registry"`
	Scope    Scope    `json:"scope"`
	UserID   uint64   `json:"user_id,omitempty"`
	Values   []KV     `json:"values"`
}

// Result is what Apply returns for a command entry. Err is nil on success.
type Result struct {
	// ID is the id allocated by the command (a user or token), if any.
	ID uint64 `json:"id,omitempty"`
	// Deleted counts the preferences a PatchPrefs removed.
	Deleted int `json:"deleted,omitempty"`
	// Err is the business error, if the command was refused.
	Err *Error `json:"error,omitempty"`
}
