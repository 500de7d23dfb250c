package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/importer"
)

// POST /api/admin/import applies a plan read from the original products'
// table exports (package importer): users to create, free-form preferences
// and typed settings, each value in its product's stored form.
//
// The whole plan is checked against one linearizable state first: users
// (Django's username and e-mail rules, a bcrypt hash if any), the users
// items belong to, and every setting value, decoded from its product's
// stored form and validated against the catalogue in force. A plan with
// invalid items changes nothing unless skip_invalid is set; dry_run only
// reports. Then the plan is written through the ordinary commands, in
// chunks: CreateUser for users not found by username, SetUserQuota where a
// user's preferences would exceed the quota in force (the import raises
// that user's overrides to fit and reports it), PatchPrefs and SetSettings
// for the values that differ from the state. Importing the same plan again
// writes nothing and reports every user as matched.

// Chunk sizes of the commands an import proposes: a command is one raft
// entry, replicated and applied as a whole.
const (
	importChunkPrefs    = 256
	importChunkBytes    = 256 << 10
	importChunkSettings = 256
	// importWorkers bounds the commands in flight at once; the leader
	// commits those waiting together.
	importWorkers = 32
)

// importRequest is the body of POST /api/admin/import.
type importRequest struct {
	// DryRun checks the plan and reports what it would write.
	DryRun bool `json:"dry_run"`
	// SkipInvalid writes the valid items of a plan that has invalid ones.
	SkipInvalid bool `json:"skip_invalid"`
	importer.Plan
}

// importReport is the answer: what was (or, in a dry run, would be)
// written, and every item left out with the reason.
type importReport struct {
	DryRun bool `json:"dry_run"`
	// Applied is false when nothing was written: a dry run, or a plan
	// refused for its invalid items.
	Applied              bool               `json:"applied"`
	UsersCreated         []string           `json:"users_created"`
	UsersMatched         []string           `json:"users_matched"`
	PreferencesWritten   int                `json:"preferences_written"`
	PreferencesUnchanged int                `json:"preferences_unchanged"`
	SettingsWritten      int                `json:"settings_written"`
	SettingsUnchanged    int                `json:"settings_unchanged"`
	QuotaRaised          []importQuotaRaise `json:"quota_raised"`
	Invalid              []importer.Problem `json:"invalid"`
}

// importQuotaRaise is a user whose quota overrides the import raised so
// that the imported preferences fit.
type importQuotaRaise struct {
	User  string         `json:"user"`
	Quota fsm.QuotaPatch `json:"quota"`
}

// importValue is one value to write, with where it came from.
type importValue struct {
	kv  fsm.KV
	src importer.Source
}

// importSettings are the values of one registry and scope for one user (or
// the global ones), in the order of the plan.
type importSettings struct {
	registry fsm.Registry
	scope    fsm.Scope
	values   []importValue
}

// importUser is a user the plan names, as checked against the state.
type importUser struct {
	name string
	src  importer.Source
	// existing is the user found by username; nil for a user to create.
	existing *fsm.User
	create   *fsm.CreateUser
	// refused says why the user cannot be imported; their items are left
	// out with it.
	refused string

	// prefs are the preferences that differ from the state, keys unique.
	prefs    []importValue
	prefAt   map[string]int
	settings []*importSettings
	quota    *fsm.QuotaPatch

	// Set when the plan is applied.
	id      uint64
	created bool
	// failed are items the state machine refused while applying.
	failed []importer.Problem
	// written counts the values the state machine accepted.
	prefsWritten, settingsWritten int
}

// importJob is a checked plan.
type importJob struct {
	users  []*importUser
	byName map[string]*importUser
	global []*importSettings
	// globalFailed and globalWritten are the global settings' outcome.
	globalFailed  []importer.Problem
	globalWritten int

	invalid                           []importer.Problem
	prefsUnchanged, settingsUnchanged int
	prefsToWrite, settingsToWrite     int
}

func (s *server) adminImport(c *gin.Context) {
	var req importRequest
	if !decodeStrict(c, &req) {
		return
	}
	ctx := c.Request.Context()
	st, err := s.cluster.Read(ctx, cluster.Linearizable)
	if err != nil {
		clusterError(c, err)
		return
	}
	job := checkImport(st, &req.Plan)
	if req.DryRun {
		respond(c, http.StatusOK, job.report(true, false))
		return
	}
	if len(job.invalid) > 0 && !req.SkipInvalid {
		respond(c, http.StatusBadRequest, job.report(false, false))
		return
	}
	if err := s.applyImport(ctx, job); err != nil {
		s.log.Warn("import stopped; importing the same files again finishes it", "err", err)
		clusterError(c, err)
		return
	}
	respond(c, http.StatusOK, job.report(false, true))
}

// checkImport checks a plan against a state and works out what to write.
// It reads only st and the plan.
func checkImport(st *fsm.State, p *importer.Plan) *importJob {
	j := &importJob{byName: map[string]*importUser{}}
	j.checkUsers(st, p.Users)
	j.checkPrefs(st, p.Prefs)
	j.checkSettings(st, p.Settings)
	// Keep only what differs from the state, and fit the quota.
	for _, u := range j.users {
		var uid uint64
		if u.existing != nil {
			uid = u.existing.ID
		}
		changed := u.prefs[:0]
		for _, v := range u.prefs {
			if old, ok := st.Pref(uid, v.kv.Key); ok && uid != 0 && old == v.kv.Value {
				j.prefsUnchanged++
				continue
			}
			changed = append(changed, v)
		}
		u.prefs = changed
		j.prefsToWrite += len(u.prefs)
		u.quota = importQuotaNeeded(st, u)
		u.settings = j.unchangedSettings(st, uid, u.settings)
	}
	j.global = j.unchangedSettings(st, 0, j.global)
	return j
}

// bad records an invalid item.
func (j *importJob) bad(src importer.Source, user, key, reason string) {
	j.invalid = append(j.invalid, importer.Problem{File: src.File, Row: src.Row, User: user, Key: key, Reason: reason})
}

// checkUsers checks the plan's users and finds those prefsd has.
func (j *importJob) checkUsers(st *fsm.State, users []importer.User) {
	for i := range users {
		pu := &users[i]
		fold := strings.ToLower(pu.Username)
		if _, dup := j.byName[fold]; dup {
			j.bad(pu.Src, pu.Username, "", "the user is listed twice (usernames are compared case-insensitively)")
			continue
		}
		u := &importUser{name: pu.Username, src: pu.Src}
		j.byName[fold] = u
		j.users = append(j.users, u)
		if why := importUserProblem(pu); why != "" {
			u.refused = why
			j.bad(pu.Src, pu.Username, "", why)
			continue
		}
		if existing, ok := st.UserByName(pu.Username); ok {
			u.existing, u.name = existing, existing.Username
			continue
		}
		u.create = &fsm.CreateUser{
			Username: pu.Username, Email: pu.Email, PasswordHash: pu.PasswordHash,
			IsStaff: pu.IsStaff, IsSuperuser: pu.IsSuperuser,
		}
	}
}

// owner finds the user an item belongs to: one the plan lists, or one
// prefsd already has. It says why when there is none.
func (j *importJob) owner(st *fsm.State, name string) (*importUser, string) {
	if name == "" {
		return nil, "the item names no user"
	}
	fold := strings.ToLower(name)
	if u, ok := j.byName[fold]; ok {
		if u.refused != "" {
			return nil, "user " + name + " is not imported: " + u.refused
		}
		return u, ""
	}
	existing, ok := st.UserByName(name)
	if !ok {
		return nil, "no user " + name + " in prefsd or in the user table export"
	}
	u := &importUser{name: existing.Username, existing: existing}
	j.byName[fold] = u
	j.users = append(j.users, u)
	return u, ""
}

// checkPrefs assigns free-form preferences to their users; a later row for
// the same key wins, as a later write would.
func (j *importJob) checkPrefs(st *fsm.State, prefs []importer.Pref) {
	for _, pr := range prefs {
		u, why := j.owner(st, pr.User)
		switch {
		case why != "":
			j.bad(pr.Src, pr.User, pr.Key, why)
			continue
		case pr.Key == "":
			j.bad(pr.Src, pr.User, "", "the preference has no key")
			continue
		}
		if u.prefAt == nil {
			u.prefAt = map[string]int{}
		}
		v := importValue{kv: fsm.KV{Key: pr.Key, Value: pr.Value}, src: pr.Src}
		if at, seen := u.prefAt[pr.Key]; seen {
			u.prefs[at] = v
			continue
		}
		u.prefAt[pr.Key] = len(u.prefs)
		u.prefs = append(u.prefs, v)
	}
}

// checkSettings decodes and validates every setting value against the
// catalogue in st.
func (j *importJob) checkSettings(st *fsm.State, settings []importer.Setting) {
	for _, ps := range settings {
		key := ps.Key
		if ps.Registry == fsm.RegistryInvenTree {
			key = strings.ToUpper(key) // InvenTree keys are upper case
		}
		if !importScopeKnown(ps.Registry, ps.Scope) {
			j.bad(ps.Src, ps.User, key, fmt.Sprintf("no settings of scope %q in registry %q", ps.Scope, ps.Registry))
			continue
		}
		var u *importUser
		if ps.Scope == fsm.ScopeGlobal {
			if ps.User != "" {
				j.bad(ps.Src, ps.User, key, "a global setting names a user")
				continue
			}
		} else {
			var why string
			if u, why = j.owner(st, ps.User); why != "" {
				j.bad(ps.Src, ps.User, key, why)
				continue
			}
		}
		d, ok := st.SettingDef(ps.Registry, ps.Scope, key)
		if !ok {
			j.bad(ps.Src, ps.User, key, fmt.Sprintf("the catalogue defines no %s %s setting %s: add its definition (prefsd catalog apply) or skip it",
				ps.Registry, ps.Scope, key))
			continue
		}
		if ps.Scope == fsm.ScopeNotification && ps.Method != "" && d.Method != "" && ps.Method != d.Method {
			j.bad(ps.Src, ps.User, key, fmt.Sprintf("notification method %q, but the catalogue defines the setting for method %q", ps.Method, d.Method))
			continue
		}
		canonical, why := importDecode(d, ps.Value)
		if why != "" {
			j.bad(ps.Src, ps.User, key, fmt.Sprintf("value %q: %s", ps.Value, why))
			continue
		}
		v := importValue{kv: fsm.KV{Key: key, Value: canonical}, src: ps.Src}
		if u == nil {
			j.global = importAddSetting(j.global, ps.Registry, ps.Scope, v)
		} else {
			u.settings = importAddSetting(u.settings, ps.Registry, ps.Scope, v)
		}
	}
}

// importUserProblem checks a user record as the admin API checks a new
// user, and its password hash.
func importUserProblem(u *importer.User) string {
	f := userFields{Username: &u.Username, Email: &u.Email}
	if errs := f.validate(true); len(errs) > 0 {
		var msgs []string
		for _, field := range []string{"username", "email"} {
			for _, m := range errs[field] {
				msgs = append(msgs, field+": "+m)
			}
		}
		return strings.Join(msgs, " ")
	}
	if u.PasswordHash != "" {
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			return "password_hash: not a bcrypt hash"
		}
	}
	return ""
}

// importScopeKnown reports whether a registry has settings of a scope.
func importScopeKnown(r fsm.Registry, sc fsm.Scope) bool {
	switch r {
	case fsm.RegistryInvenTree:
		return sc == fsm.ScopeGlobal || sc == fsm.ScopeUser || sc == fsm.ScopeNotification
	case fsm.RegistryDynPrefs:
		return sc == fsm.ScopeGlobal || sc == fsm.ScopeUser
	}
	return false
}

// importAddSetting adds a value to its registry and scope's group; a later
// value for the same key replaces the earlier one.
func importAddSetting(groups []*importSettings, r fsm.Registry, sc fsm.Scope, v importValue) []*importSettings {
	i := slices.IndexFunc(groups, func(g *importSettings) bool { return g.registry == r && g.scope == sc })
	if i < 0 {
		groups = append(groups, &importSettings{registry: r, scope: sc})
		i = len(groups) - 1
	}
	g := groups[i]
	if at := slices.IndexFunc(g.values, func(o importValue) bool { return o.kv.Key == v.kv.Key }); at >= 0 {
		g.values[at] = v
	} else {
		g.values = append(g.values, v)
	}
	return groups
}

// unchangedSettings drops the values the state already holds (uid 0: the
// global ones, or a user still to be created, who holds none).
func (j *importJob) unchangedSettings(st *fsm.State, uid uint64, groups []*importSettings) []*importSettings {
	out := groups[:0]
	for _, g := range groups {
		changed := g.values[:0]
		for _, v := range g.values {
			holder := uid
			if g.scope == fsm.ScopeGlobal {
				holder = 0
			} else if uid == 0 {
				changed = append(changed, v)
				continue
			}
			if old, ok := st.Setting(holder, g.registry, g.scope, v.kv.Key); ok && old == v.kv.Value {
				j.settingsUnchanged++
				continue
			}
			changed = append(changed, v)
		}
		g.values = changed
		j.settingsToWrite += len(changed)
		if len(changed) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// importQuotaNeeded returns the overrides a user needs for the preferences
// to write to fit, or nil. Like the state machine, it counts characters for
// lengths and bytes for the total, and refuses only growth.
func importQuotaNeeded(st *fsm.State, u *importUser) *fsm.QuotaPatch {
	if len(u.prefs) == 0 {
		return nil
	}
	q, count, size := st.DefaultQuota(), int64(0), int64(0)
	if u.existing != nil {
		q, count, size = st.Quota(u.existing), u.existing.PrefCount, u.existing.PrefBytes
	}
	startCount, startSize := count, size
	var longestKey, longestValue int64
	for _, v := range u.prefs {
		if u.existing != nil {
			if old, ok := st.Pref(u.existing.ID, v.kv.Key); ok {
				count--
				size -= int64(len(v.kv.Key) + len(old))
			}
		}
		count++
		size += int64(len(v.kv.Key) + len(v.kv.Value))
		longestKey = max(longestKey, int64(utf8.RuneCountInString(v.kv.Key)))
		longestValue = max(longestValue, int64(utf8.RuneCountInString(v.kv.Value)))
	}
	var p fsm.QuotaPatch
	raise := func(need, limit int64, grows bool, field **int64) {
		if grows && need > limit {
			n := need
			*field = &n
		}
	}
	raise(count, q.MaxPreferences, count > startCount, &p.MaxPreferences)
	raise(size, q.MaxTotalBytes, size > startSize, &p.MaxTotalBytes)
	raise(longestKey, q.MaxKeyLength, true, &p.MaxKeyLength)
	raise(longestValue, q.MaxValueLength, true, &p.MaxValueLength)
	if p == (fsm.QuotaPatch{}) {
		return nil
	}
	return &p
}

// report summarises the job: before applying it (dry run, refused plan) or
// after.
func (j *importJob) report(dryRun, applied bool) importReport {
	r := importReport{
		DryRun: dryRun, Applied: applied,
		UsersCreated: []string{}, UsersMatched: []string{}, QuotaRaised: []importQuotaRaise{},
		PreferencesUnchanged: j.prefsUnchanged, SettingsUnchanged: j.settingsUnchanged,
		Invalid: append([]importer.Problem{}, j.invalid...),
	}
	if !applied {
		r.PreferencesWritten, r.SettingsWritten = j.prefsToWrite, j.settingsToWrite
	} else {
		r.SettingsWritten = j.globalWritten
		r.Invalid = append(r.Invalid, j.globalFailed...)
	}
	for _, u := range j.users {
		switch {
		case u.refused != "":
			continue
		case applied && u.created, !applied && u.create != nil:
			r.UsersCreated = append(r.UsersCreated, u.name)
		case applied && u.id == 0:
			// not created: its failure is in u.failed
		default:
			r.UsersMatched = append(r.UsersMatched, u.name)
		}
		if u.quota != nil && (!applied || u.id != 0) {
			r.QuotaRaised = append(r.QuotaRaised, importQuotaRaise{User: u.name, Quota: *u.quota})
		}
		if applied {
			r.PreferencesWritten += u.prefsWritten
			r.SettingsWritten += u.settingsWritten
			r.Invalid = append(r.Invalid, u.failed...)
		}
	}
	slices.SortStableFunc(r.Invalid, func(a, b importer.Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Row, b.Row))
	})
	return r
}

// applyImport writes a checked plan: users first, then each user's quota,
// preferences and settings, then the global settings. The state machine's
// refusals are recorded with the items refused; an error of the cluster
// (no leader, an unknown outcome) stops the import.
func (s *server) applyImport(ctx context.Context, j *importJob) error {
	var creates []func(context.Context) error
	for _, u := range j.users {
		switch {
		case u.refused != "":
		case u.existing != nil:
			u.id = u.existing.ID
		default:
			creates = append(creates, func(ctx context.Context) error { return s.importCreateUser(ctx, u) })
		}
	}
	if err := importRunAll(ctx, importWorkers, creates); err != nil {
		return err
	}

	var writes []func(context.Context) error
	for _, u := range j.users {
		if u.id == 0 || (len(u.prefs) == 0 && len(u.settings) == 0) {
			continue
		}
		writes = append(writes, func(ctx context.Context) error { return s.importUserValues(ctx, u) })
	}
	if len(j.global) > 0 {
		writes = append(writes, func(ctx context.Context) error {
			var err error
			j.globalWritten, j.globalFailed, err = s.importSettings(ctx, 0, j.global)
			return err
		})
	}
	return importRunAll(ctx, importWorkers, writes)
}

// importCreateUser creates a user; one created meanwhile under the same
// name is matched instead.
func (s *server) importCreateUser(ctx context.Context, u *importUser) error {
	res, err := s.importApply(ctx, fsm.CmdCreateUser, u.create)
	if err != nil {
		return err
	}
	switch {
	case res.Err == nil:
		u.id, u.created = res.ID, true
	case errors.Is(res.Err, fsm.ErrUserExists):
		st, err := s.cluster.Read(ctx, cluster.Linearizable)
		if err != nil {
			return err
		}
		if existing, ok := st.UserByName(u.name); ok {
			u.id = existing.ID
		}
	default:
		u.failed = append(u.failed, importer.Problem{File: u.src.File, Row: u.src.Row, User: u.name,
			Reason: "refused when applied: " + res.Err.Error()})
	}
	if u.id == 0 {
		for _, v := range u.prefs {
			u.failed = append(u.failed, importFailure(v, u.name, "the user could not be created"))
		}
		for _, g := range u.settings {
			for _, v := range g.values {
				u.failed = append(u.failed, importFailure(v, u.name, "the user could not be created"))
			}
		}
	}
	return nil
}

// importUserValues raises a user's quota if needed, then writes the user's
// preferences and settings.
func (s *server) importUserValues(ctx context.Context, u *importUser) error {
	if u.quota != nil {
		res, err := s.importApply(ctx, fsm.CmdSetUserQuota, fsm.SetUserQuota{UserID: u.id, Quota: *u.quota})
		if err != nil {
			return err
		}
		if res.Err != nil {
			for _, v := range u.prefs {
				u.failed = append(u.failed, importFailure(v, u.name, "the quota could not be raised: "+res.Err.Error()))
			}
			u.prefs = nil
		}
	}
	for start := 0; start < len(u.prefs); {
		end, size := start, 0
		for end < len(u.prefs) && end-start < importChunkPrefs &&
			(end == start || size+len(u.prefs[end].kv.Key)+len(u.prefs[end].kv.Value) <= importChunkBytes) {
			size += len(u.prefs[end].kv.Key) + len(u.prefs[end].kv.Value)
			end++
		}
		chunk := u.prefs[start:end]
		start = end
		cmd := fsm.PatchPrefs{UserID: u.id, Set: make([]fsm.KV, len(chunk))}
		for i, v := range chunk {
			cmd.Set[i] = v.kv
		}
		res, err := s.importApply(ctx, fsm.CmdPatchPrefs, cmd)
		if err != nil {
			return err
		}
		if res.Err != nil {
			for _, v := range chunk {
				u.failed = append(u.failed, importFailure(v, u.name, "refused when applied: "+res.Err.Error()))
			}
			continue
		}
		u.prefsWritten += len(chunk)
	}
	written, failed, err := s.importSettings(ctx, u.id, u.settings)
	u.settingsWritten += written
	for i := range failed {
		failed[i].User = u.name
	}
	u.failed = append(u.failed, failed...)
	return err
}

// importSettings writes settings in chunks, all or nothing per chunk.
func (s *server) importSettings(ctx context.Context, uid uint64, groups []*importSettings) (int, []importer.Problem, error) {
	written := 0
	var failed []importer.Problem
	for _, g := range groups {
		for chunk := range slices.Chunk(g.values, importChunkSettings) {
			cmd := fsm.SetSettings{Registry: g.registry, Scope: g.scope, Values: make([]fsm.KV, len(chunk))}
			if g.scope != fsm.ScopeGlobal {
				cmd.UserID = uid
			}
			for i, v := range chunk {
				cmd.Values[i] = v.kv
			}
			res, err := s.importApply(ctx, fsm.CmdSetSettings, cmd)
			if err != nil {
				return written, failed, err
			}
			if res.Err != nil {
				for _, v := range chunk {
					failed = append(failed, importFailure(v, "", "refused when applied: "+res.Err.Error()))
				}
				continue
			}
			written += len(chunk)
		}
	}
	return written, failed, nil
}

// importFailure is a problem for a value the state machine refused.
func importFailure(v importValue, user, reason string) importer.Problem {
	return importer.Problem{File: v.src.File, Row: v.src.Row, User: user, Key: v.kv.Key, Reason: reason}
}

// importApply commits one command.
func (s *server) importApply(ctx context.Context, t fsm.CmdType, body any) (fsm.Result, error) {
	cmd, err := fsm.Encode(t, body)
	if err != nil {
		return fsm.Result{}, err
	}
	res, _, err := s.cluster.Apply(ctx, cmd)
	return res, err
}

// importRunAll runs jobs on at most n goroutines, which it owns: it returns
// once every job started has returned. After a job fails, the jobs not yet
// started are not run, and the first error is returned.
func importRunAll(ctx context.Context, n int, jobs []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	next := make(chan func(context.Context) error)
	for range min(n, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range next {
				if err := job(ctx); err != nil {
					once.Do(func() {
						first = err
						cancel()
					})
				}
			}
		}()
	}
feed:
	for _, job := range jobs {
		select {
		case next <- job:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return first
}

// ---------------------------------------------------------------------------
// Stored forms

// importDecode turns a value in its product's stored form into the
// canonical form of its definition, or says why it cannot.
func importDecode(d *fsm.SettingDef, raw string) (string, string) {
	switch d.Registry {
	case fsm.RegistryInvenTree:
		// InvenTree stores str() of the value its clean() accepted, and
		// clean() reads it back the same way.
		v, errs := itCoerce(d, raw)
		if errs != nil {
			return "", importErrorText(errs)
		}
		return v, ""
	case fsm.RegistryDynPrefs:
		return dynDecodeStored(d, raw)
	}
	return "", "unknown registry"
}

// importErrorText flattens DRF field errors into one line.
func importErrorText(errs *orderedErrors[[]string]) string {
	var parts []string
	for _, k := range errs.keys {
		parts = append(parts, strings.Join(errs.values[k], " "))
	}
	return strings.Join(parts, " ")
}

// dynStoredTrue and dynStoredFalse are the texts the library's
// BooleanSerializer reads back as True and False.
var (
	dynStoredTrue  = []string{"True", "true", "TRUE", "1", "YES", "Yes", "yes"}
	dynStoredFalse = []string{"False", "false", "FALSE", "0", "No", "no", "NO"}
)

// dynDecodeStored reads a raw_value as the library's serializer for the
// preference's type deserializes it, into prefsd's canonical form. A NULL
// raw_value arrives as "", which every serializer reads as NULL is read.
func dynDecodeStored(d *fsm.SettingDef, raw string) (string, string) {
	var canonical, msg string
	switch d.Type {
	case fsm.TypeBoolean:
		switch {
		case slices.Contains(dynStoredTrue, raw):
			canonical = "True"
		case slices.Contains(dynStoredFalse, raw):
			canonical = "False"
		default:
			msg = "not a stored boolean (True or False)"
		}
	case fsm.TypeString, fsm.TypeLongString:
		canonical = raw // stored and shown as it is, white space and all
	case fsm.TypeMultipleChoice:
		items, ok := dynSplitStored(raw)
		if !ok {
			msg = "not a stored list (comma-separated, commas in values doubled)"
			break
		}
		if i := slices.IndexFunc(items, func(it string) bool { return !dynHasChoice(d, it) }); i >= 0 {
			return "", msgDynChoice(items[i])
		}
		slices.Sort(items)
		b, err := json.Marshal(slices.Compact(items))
		if err != nil {
			return "", err.Error()
		}
		canonical = string(b)
	default:
		// The other serializers parse the text as the form fields do
		// (int(), Decimal(), Django's date, time and duration parsers).
		canonical, msg = dynToCanonical(d, pyValue{kind: 's', s: raw})
	}
	if msg != "" {
		return "", msg
	}
	if why := fsm.ValidateSetting(d, canonical); why != "" {
		return "", dynReasonMessage(d, canonical, why)
	}
	return canonical, ""
}

// dynSplitStored is the library's MultipleSerializer.to_python: split on
// commas, then join the neighbours of each empty item, which a doubled
// comma inside a value leaves. An empty text is the empty list. A text
// the library would fail on (an empty item first or last) is refused.
func dynSplitStored(raw string) ([]string, bool) {
	if raw == "" {
		return []string{}, true
	}
	items := strings.Split(raw, ",")
	for {
		pos := slices.Index(items, "")
		if pos < 0 {
			return items, true
		}
		if pos == 0 || pos == len(items)-1 {
			return nil, false
		}
		joined := items[pos-1] + "," + items[pos+1]
		items = slices.Concat(items[:pos-1], []string{joined}, items[pos+2:])
	}
}
