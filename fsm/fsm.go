// Package fsm is prefsd's replicated state machine: the command types and
// their encoding, Apply and ApplyBatch, snapshots, and read-only queries.
//
// Apply is deterministic and total. It reads no clock, draws no random
// numbers, iterates no Go map, and reads no local configuration: the leader
// stamps time into each entry, ids come from a counter in the state, and the
// quota limits Apply enforces are themselves replicated state. Apply never
// panics on any bytes; an entry it cannot decode changes nothing and yields
// an ErrInvalidCommand result, so a poison entry cannot crash every replica
// on every replay.
//
// The state is a set of immutable trees: B+ trees for the tables that grow
// with the users (users, names, and one packed block of preferences per
// user), radix trees for the others. Each applied batch publishes a new
// *State through an atomic pointer, so reads take no lock, a snapshot is a
// pointer copy, and Persist streams while Apply goes on.
package fsm

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/hashicorp/raft"
)

// Observer is told the outcome of every command entry applied, for metrics.
// It must be fast and must not call back into the FSM.
type Observer func(t CmdType, err *Error)

// FSM implements raft.BatchingFSM over the replicated state.
type FSM struct {
	// mu serialises writers. Raft never calls Apply and Restore at once, but
	// tests call Apply directly; the lock keeps that safe too.
	mu      sync.Mutex
	state   atomic.Pointer[State]
	observe Observer

	// appliedMu guards applied, a channel closed and replaced each time a
	// new state is published, so that WaitIndex can block without polling.
	appliedMu sync.Mutex
	applied   chan struct{}
}

var _ raft.BatchingFSM = (*FSM)(nil)

// New returns an FSM holding the empty state. observe may be nil.
func New(observe Observer) *FSM {
	f := &FSM{observe: observe, applied: make(chan struct{})}
	f.state.Store(newState())
	return f
}

// State returns the current state. The result never changes; call State again
// for a newer one.
func (f *FSM) State() *State { return f.state.Load() }

// Index returns the raft index of the last entry applied.
func (f *FSM) Index() uint64 { return f.State().Index() }

// WaitIndex blocks until the state has applied index idx or ctx ends.
func (f *FSM) WaitIndex(ctx context.Context, idx uint64) (*State, error) {
	for {
		f.appliedMu.Lock()
		ch := f.applied
		f.appliedMu.Unlock()
		if s := f.State(); s.Index() >= idx {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// publish makes s the current state and wakes every WaitIndex.
func (f *FSM) publish(s *State) {
	f.state.Store(s)
	f.appliedMu.Lock()
	close(f.applied)
	f.applied = make(chan struct{})
	f.appliedMu.Unlock()
}

// Apply applies one log entry. It returns a Result for command entries.
func (f *FSM) Apply(l *raft.Log) interface{} {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies a batch of log entries in one transaction and publishes
// the new state once. Each command is checked in full before it changes
// anything, so a refused command leaves no trace in the batch.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()

	tx := begin(f.State())
	out := make([]interface{}, len(logs))
	for i, l := range logs {
		if l.Index > tx.meta.Index {
			tx.meta.Index = l.Index
		}
		if l.Type != raft.LogCommand {
			continue
		}
		t, res := tx.apply(l.Data)
		if f.observe != nil {
			f.observe(t, res.Err)
		}
		out[i] = res
	}
	f.publish(tx.commit())
	return out
}

// StoreConfiguration records the index of a configuration entry, so that the
// state's index advances past membership changes too.
func (f *FSM) StoreConfiguration(index uint64, _ raft.Configuration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tx := begin(f.State())
	if index > tx.meta.Index {
		tx.meta.Index = index
	}
	f.publish(tx.commit())
}

var _ raft.ConfigurationStore = (*FSM)(nil)

// Snapshot captures the current state. It is a pointer copy: the state is
// immutable, so Persist may run while Apply goes on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &snapshot{state: f.State()}, nil
}

// Restore replaces the whole state with the one read from r.
func (f *FSM) Restore(r io.ReadCloser) error {
	defer r.Close()
	s, err := ReadSnapshot(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.publish(s)
	return nil
}

// tx is a write transaction over a State.
type tx struct {
	meta       meta
	users      btreeTxn[uint64, *User]
	names      btreeTxn[string, uint64]
	tokens     *txn[*Token]
	userTokens *txn[[]byte]
	prefs      btreeTxn[uint64, prefBlock]
	members    *txn[*Member]
	catalog    *txn[*SettingDef]
	settings   *txn[string]
	// sessions and userSessions mirror the State's trees (fsm/session.go).
	sessions     *txn[*Session]
	userSessions *txn[[]byte]
	// now is the leader's time for the entry being applied.
	now int64
}

func begin(s *State) *tx {
	return &tx{
		meta:       s.meta,
		users:      s.users.txn(),
		names:      s.names.txn(),
		tokens:     newTxn(s.tokens),
		userTokens: newTxn(s.userTokens),
		prefs:      s.prefs.txn(),
		members:    newTxn(s.members),
		catalog:    newTxn(s.catalog),
		settings:   newTxn(s.settings),

		sessions:     newTxn(s.sessions),
		userSessions: newTxn(s.userSessions),
	}
}

func (t *tx) commit() *State {
	return &State{
		meta:       t.meta,
		users:      t.users.commit(),
		names:      t.names.commit(),
		tokens:     t.tokens.commit(),
		userTokens: t.userTokens.commit(),
		prefs:      t.prefs.commit(),
		members:    t.members.commit(),
		catalog:    t.catalog.commit(),
		settings:   t.settings.commit(),

		sessions:     t.sessions.commit(),
		userSessions: t.userSessions.commit(),
	}
}

// apply decodes and applies one command entry.
func (t *tx) apply(entry []byte) (CmdType, Result) {
	typ, now, body, err := DecodeEntry(entry)
	if err != nil {
		return 0, Result{Err: ErrInvalidCommand}
	}
	t.now = now
	switch typ {
	case CmdCreateUser:
		return typ, decodeAnd(body, t.createUser)
	case CmdUpdateUser:
		return typ, decodeAnd(body, t.updateUser)
	case CmdDeleteUser:
		return typ, decodeAnd(body, t.deleteUser)
	case CmdCreateToken:
		return typ, decodeAnd(body, t.createToken)
	case CmdDeleteToken:
		return typ, decodeAnd(body, t.deleteToken)
	case CmdSetDefaultQuota:
		return typ, decodeAnd(body, t.setDefaultQuota)
	case CmdSetUserQuota:
		return typ, decodeAnd(body, t.setUserQuota)
	case CmdPatchPrefs:
		return typ, decodeAnd(body, t.patchPrefs)
	case CmdSetMember:
		return typ, decodeAnd(body, t.setMember)
	case CmdRemoveMember:
		return typ, decodeAnd(body, t.removeMember)
	case CmdEnsureAdmin:
		return typ, decodeAnd(body, t.ensureAdmin)
	case CmdPutCatalog:
		return typ, decodeAnd(body, t.putCatalog)
	case CmdSetSettings:
		return typ, decodeAnd(body, t.setSettings)
	case CmdCreateSession:
		return typ, decodeAnd(body, t.createSession)
	case CmdDeleteSession:
		return typ, decodeAnd(body, t.deleteSession)
	}
	return typ, Result{Err: ErrInvalidCommand}
}

// decodeAnd decodes body into a fresh C and applies it with fn.
func decodeAnd[C any](body []byte, fn func(*C) Result) Result {
	var c C
	if err := json.Unmarshal(body, &c); err != nil {
		return Result{Err: ErrInvalidCommand}
	}
	return fn(&c)
}

func (t *tx) nextID() uint64 {
	id := t.meta.NextID
	t.meta.NextID++
	return id
}

func (t *tx) user(id uint64) (*User, bool) { return t.users.get(id) }

func (t *tx) putUser(u *User) { t.users.put(u.ID, u) }

func (t *tx) createUser(c *CreateUser) Result {
	if c.Username == "" {
		return Result{Err: ErrInvalidArgument.with("username", 0)}
	}
	name := foldName(c.Username)
	if _, taken := t.names.get(name); taken {
		return Result{Err: ErrUserExists.with(c.Username, 0)}
	}
	u := &User{
		ID:           t.nextID(),
		Username:     c.Username,
		Email:        c.Email,
		PasswordHash: c.PasswordHash,
		IsStaff:      c.IsStaff,
		IsSuperuser:  c.IsSuperuser,
		Permissions:  sortedSet(c.Permissions),
		Created:      t.now,
		Updated:      t.now,
	}
	t.putUser(u)
	t.names.put(name, u.ID)
	return Result{ID: u.ID}
}

func (t *tx) updateUser(c *UpdateUser) Result {
	old, ok := t.user(c.UserID)
	if !ok {
		return Result{Err: ErrUserNotFound}
	}
	u := *old
	if c.Username != nil {
		if *c.Username == "" {
			return Result{Err: ErrInvalidArgument.with("username", 0)}
		}
		oldName, newName := foldName(u.Username), foldName(*c.Username)
		if oldName != newName {
			if _, taken := t.names.get(newName); taken {
				return Result{Err: ErrUserExists.with(*c.Username, 0)}
			}
			t.names.del(oldName)
			t.names.put(newName, u.ID)
		}
		u.Username = *c.Username
	}
	if c.Email != nil {
		u.Email = *c.Email
	}
	if c.PasswordHash != nil {
		u.PasswordHash = *c.PasswordHash
	}
	if c.IsStaff != nil {
		u.IsStaff = *c.IsStaff
	}
	if c.IsSuperuser != nil {
		u.IsSuperuser = *c.IsSuperuser
	}
	if c.Permissions != nil {
		u.Permissions = sortedSet(*c.Permissions)
	}
	u.Updated = t.now
	t.putUser(&u)
	return Result{ID: u.ID}
}

func (t *tx) deleteUser(c *DeleteUser) Result {
	u, ok := t.user(c.UserID)
	if !ok {
		return Result{Err: ErrUserNotFound}
	}
	prefix := idKey(u.ID)
	for _, k := range t.userTokens.keys(prefix) {
		if digest, ok := t.userTokens.get(k); ok {
			t.tokens.del(digest)
		}
	}
	t.userTokens.delPrefix(prefix)
	t.deleteUserSessions(u.ID)
	t.settings.delPrefix(prefix)
	prefs, _ := t.prefs.get(u.ID)
	t.prefs.del(u.ID)
	t.names.del(foldName(u.Username))
	t.users.del(u.ID)
	return Result{ID: u.ID, Deleted: prefs.len()}
}

func (t *tx) createToken(c *CreateToken) Result {
	if len(c.Digest) == 0 {
		return Result{Err: ErrInvalidArgument.with("digest", 0)}
	}
	if _, ok := t.user(c.UserID); !ok {
		return Result{Err: ErrUserNotFound}
	}
	if _, ok := t.tokens.get(c.Digest); ok {
		return Result{Err: ErrTokenExists}
	}
	tok := &Token{ID: t.nextID(), UserID: c.UserID, Name: c.Name, Digest: c.Digest, Created: t.now}
	t.tokens.put(tok.Digest, tok)
	t.userTokens.put(pairKey(c.UserID, tok.ID), tok.Digest)
	return Result{ID: tok.ID}
}

func (t *tx) deleteToken(c *DeleteToken) Result {
	k := pairKey(c.UserID, c.TokenID)
	digest, ok := t.userTokens.get(k)
	if !ok {
		return Result{Err: ErrTokenNotFound}
	}
	t.userTokens.del(k)
	t.tokens.del(digest)
	return Result{ID: c.TokenID}
}

func (t *tx) setDefaultQuota(c *SetDefaultQuota) Result {
	if !c.Quota.valid() {
		return Result{Err: ErrInvalidArgument.with("quota", 0)}
	}
	t.meta.DefaultQuota = c.Quota.apply(t.meta.DefaultQuota)
	return Result{}
}

func (t *tx) setUserQuota(c *SetUserQuota) Result {
	if !c.Quota.valid() {
		return Result{Err: ErrInvalidArgument.with("quota", 0)}
	}
	old, ok := t.user(c.UserID)
	if !ok {
		return Result{Err: ErrUserNotFound}
	}
	u := *old
	if c.Reset {
		u.Quota = QuotaPatch{}
	}
	u.Quota = u.Quota.merge(c.Quota)
	u.Updated = t.now
	t.putUser(&u)
	return Result{ID: u.ID}
}

// patchPrefs checks the whole patch against the user's quota, then applies
// it. Lengths are checked per value; count and bytes are checked on the
// user's usage after the whole patch, and only refuse a patch that grows
// them, so that a user over a lowered limit can still shrink or rewrite.
func (t *tx) patchPrefs(c *PatchPrefs) Result {
	old, ok := t.user(c.UserID)
	if !ok {
		return Result{Err: ErrUserNotFound}
	}
	q := old.Quota.apply(t.meta.DefaultQuota)

	// Phase 1: compute the usage after the patch, touching nothing. A key
	// may appear more than once; later entries win, as when applied in order.
	final := make(map[string]*string, len(c.Set)+len(c.Delete))
	order := make([]string, 0, len(c.Set)+len(c.Delete))
	note := func(k string, v *string) {
		if _, seen := final[k]; !seen {
			order = append(order, k)
		}
		final[k] = v
	}
	for _, k := range c.Delete {
		note(k, nil)
	}
	for i := range c.Set {
		kv := &c.Set[i]
		if kv.Key == "" {
			return Result{Err: ErrInvalidArgument.with("key", 0)}
		}
		if n := int64(utf8.RuneCountInString(kv.Key)); n > q.MaxKeyLength {
			return Result{Err: ErrKeyTooLong.with(kv.Key, q.MaxKeyLength)}
		}
		if n := int64(utf8.RuneCountInString(kv.Value)); n > q.MaxValueLength {
			return Result{Err: ErrValueTooLong.with(kv.Key, q.MaxValueLength)}
		}
		note(kv.Key, &kv.Value)
	}
	// count and size are the usage the quota limits; n and held are what
	// the user's block will hold, the same numbers unless a restored
	// snapshot carried a usage that did not match its preferences.
	block, _ := t.prefs.get(old.ID)
	count, size := old.PrefCount, old.PrefBytes
	n, held := block.len(), int64(len(block.data))
	deleted, changed := 0, false
	for _, k := range order {
		cur, exists := block.get(k)
		if exists {
			count--
			size -= int64(len(k) + len(cur))
			n--
			held -= int64(len(k) + len(cur))
		}
		if v := final[k]; v != nil {
			count++
			size += int64(len(k) + len(*v))
			n++
			held += int64(len(k) + len(*v))
			changed = true
		} else if exists {
			deleted++
			changed = true
		}
	}
	if count > old.PrefCount && count > q.MaxPreferences {
		return Result{Err: ErrTooManyPreferences.with("", q.MaxPreferences)}
	}
	if size > old.PrefBytes && size > q.MaxTotalBytes {
		return Result{Err: ErrTooManyBytes.with("", q.MaxTotalBytes)}
	}
	if held > maxPrefBlockBytes {
		return Result{Err: ErrTooManyBytes.with("", maxPrefBlockBytes)}
	}

	// Phase 2: write the user's new block, the changes in key order.
	if changed {
		changes := make([]prefChange, len(order))
		for i, k := range order {
			changes[i] = prefChange{key: k, value: final[k]}
		}
		slices.SortFunc(changes, func(a, b prefChange) int { return strings.Compare(a.key, b.key) })
		if n == 0 {
			t.prefs.del(old.ID)
		} else {
			t.prefs.put(old.ID, block.patched(changes, n, held))
		}
	}
	u := *old
	u.PrefCount, u.PrefBytes = count, size
	t.putUser(&u)
	return Result{ID: u.ID, Deleted: deleted}
}

func (t *tx) setMember(c *SetMember) Result {
	if c.NodeID == "" {
		return Result{Err: ErrInvalidArgument.with("node_id", 0)}
	}
	t.members.put([]byte(c.NodeID), &Member{NodeID: c.NodeID, APIAddr: c.APIAddr})
	return Result{}
}

func (t *tx) removeMember(c *RemoveMember) Result {
	t.members.del([]byte(c.NodeID))
	return Result{}
}

func (t *tx) ensureAdmin(c *EnsureAdmin) Result {
	if c.Username == "" {
		return Result{Err: ErrInvalidArgument.with("username", 0)}
	}
	if id, ok := t.names.get(foldName(c.Username)); ok {
		return Result{ID: id}
	}
	res := t.createUser(&CreateUser{Username: c.Username, IsStaff: true, IsSuperuser: true})
	if res.Err != nil || len(c.Digest) == 0 {
		return res
	}
	if _, taken := t.tokens.get(c.Digest); taken {
		return res
	}
	if tok := t.createToken(&CreateToken{UserID: res.ID, Name: c.TokenName, Digest: c.Digest}); tok.Err != nil {
		return tok
	}
	return res
}

// sortedSet returns the distinct non-empty strings of in, sorted.
func sortedSet(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// putCatalog checks every definition, then stores them. New keys get ids in
// the order given; a key already defined keeps its id.
func (t *tx) putCatalog(c *PutCatalog) Result {
	seen := make(map[string]bool, len(c.Defs))
	for i := range c.Defs {
		d := &c.Defs[i]
		if why := CheckDef(d); why != "" {
			return Result{Err: &Error{Code: ErrSettingInvalid.Code, Key: d.Key, Reason: ReasonBadDef + ": " + why}}
		}
		k := string(catalogKey(d.Registry, d.Scope, d.Key))
		if seen[k] {
			return Result{Err: &Error{Code: ErrSettingInvalid.Code, Key: d.Key, Reason: ReasonBadDef + ": defined twice"}}
		}
		seen[k] = true
	}
	if c.Replace {
		for _, k := range t.catalog.keys(nil) {
			if !seen[string(k)] {
				t.catalog.del(k)
			}
		}
	}
	for i := range c.Defs {
		d := c.Defs[i]
		k := catalogKey(d.Registry, d.Scope, d.Key)
		if old, ok := t.catalog.get(k); ok {
			d.ID = old.ID
		} else {
			d.ID = t.nextID()
		}
		d.Choices = slices.Clone(d.Choices)
		t.catalog.put(k, &d)
	}
	t.meta.CatalogVersion++
	return Result{ID: t.meta.CatalogVersion}
}

// setSettings checks every value against its definition, then stores them.
func (t *tx) setSettings(c *SetSettings) Result {
	switch {
	case c.Scope == ScopeGlobal && c.UserID != 0:
		return Result{Err: ErrInvalidArgument.with("user_id", 0)}
	case c.Scope != ScopeGlobal:
		if _, ok := t.user(c.UserID); !ok {
			return Result{Err: ErrUserNotFound}
		}
	}
	for _, kv := range c.Values {
		d, ok := t.catalog.get(catalogKey(c.Registry, c.Scope, kv.Key))
		if !ok {
			return Result{Err: ErrSettingUnknown.with(kv.Key, 0)}
		}
		if why := ValidateSetting(d, kv.Value); why != "" {
			return Result{Err: &Error{Code: ErrSettingInvalid.Code, Key: kv.Key, Reason: why}}
		}
	}
	for _, kv := range c.Values {
		t.settings.put(settingKey(c.UserID, c.Registry, c.Scope, kv.Key), kv.Value)
	}
	return Result{ID: c.UserID}
}
