package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/fsm"
)

// The django-dynamic-preferences REST API:
//
//	GET|HEAD            /api/preferences/{global,user}/[?section=]
//	GET|HEAD|PUT|PATCH  /api/preferences/{global,user}/{section__name}/[?section=]
//	POST                /api/preferences/{global,user}/bulk/[?section=]
//
// every path also without its trailing slash, and OPTIONS everywhere.
// Preferences are the catalogue's definitions of registry dynprefs; values
// are coerced as the preference's Django form field does, stored in the
// catalogue's canonical form and shown in the library's API representation.
// Global preferences need the permission dynPermChange, for reads too; user
// preferences are always the caller's own. docs/compat.md lists where this
// answers differently from the original.

const (
	dynGlobalPrefix = "/api/preferences/global"
	dynUserPrefix   = "/api/preferences/user"

	// dynPermChange is the one permission the global viewset checks, for
	// every method.
	dynPermChange = "dynamic_preferences.change_globalpreferencemodel"

	// dynSeparator joins a preference's section and name into its
	// identifier (the library's SECTION_KEY_SEPARATOR).
	dynSeparator = "__"

	msgDynInvalidPayload = "invalid payload"
	msgDynEmptyPayload   = "empty payload"
	msgDynInvalidPref    = "invalid preference"
	msgDynRequired       = "This field is required."
	msgDynNull           = "This field may not be null."
	msgDynObsolete       = "Obsolete: missing in registry"
	msgDynObsoleteWrite  = "This preference is missing in the registry and cannot be changed."
	msgDynNotAcceptable  = "Could not satisfy the request Accept header."

	// dynBulkDescription is the bulk action's docstring, which DRF shows
	// as the OPTIONS description.
	dynBulkDescription = "Update multiple preferences at once\n\nthis is a long method because we ensure everything is valid\nbefore actually persisting the changes"
)

var (
	dynListMethods   = []string{http.MethodGet, http.MethodHead, http.MethodOptions}
	dynDetailMethods = []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodHead, http.MethodOptions}
	dynBulkMethods   = []string{http.MethodPost, http.MethodOptions}

	// dynParses are the request media types the viewsets parse.
	dynParses = []string{"application/json", "application/x-www-form-urlencoded", "multipart/form-data"}
)

// dynView is one of the two viewsets.
type dynView struct {
	s     *server
	scope fsm.Scope
	// title is the view name DRF derives from the viewset class.
	title string
}

func (s *server) routeDynPrefs(r *gin.Engine) {
	for _, v := range []*dynView{
		{s: s, scope: fsm.ScopeGlobal, title: "Global Preferences"},
		{s: s, scope: fsm.ScopeUser, title: "User Preferences"},
	} {
		prefix := dynGlobalPrefix
		if v.scope == fsm.ScopeUser {
			prefix = dynUserPrefix
		}
		list := map[string]gin.HandlerFunc{
			http.MethodGet:     v.list,
			http.MethodHead:    v.list,
			http.MethodOptions: v.options(v.title+" List", "", dynListMethods),
		}
		bulk := map[string]gin.HandlerFunc{
			http.MethodPost:    v.bulk,
			http.MethodOptions: v.options("Bulk", dynBulkDescription, dynBulkMethods),
		}
		instance := map[string]gin.HandlerFunc{
			http.MethodGet:     v.retrieve,
			http.MethodHead:    v.retrieve,
			http.MethodPut:     v.update,
			http.MethodPatch:   v.update,
			http.MethodOptions: v.options(v.title+" Instance", "", dynDetailMethods),
		}
		for _, slash := range []string{"/", ""} {
			route(r, prefix+slash, v.pre(dynListMethods), methodNotAllowed(dynListMethods...), list)
			route(r, prefix+"/bulk"+slash, v.pre(dynBulkMethods), methodNotAllowed(dynBulkMethods...), bulk)
			route(r, prefix+"/:pk"+slash, v.pre(dynDetailMethods), methodNotAllowed(dynDetailMethods...), instance)
		}
	}
}

// pre runs what DRF's APIView.initial runs, in its order: content
// negotiation (406), authentication (401), then the permission check (401
// for anonymous callers, 403 otherwise). Only then is the method looked up,
// so a refused caller never sees a 405.
func (v *dynView) pre(methods []string) []gin.HandlerFunc {
	allow := allowValue(methods)
	return []gin.HandlerFunc{func(c *gin.Context) {
		c.Set(dialectKey, "dynprefs")
		setSharedHeader(c, hdrAllow, allow)
		setHeader(c, hdrVary, "Accept")
		if !dynAcceptable(requestHeader(c, hdrAccept)) {
			detail(c, http.StatusNotAcceptable, msgDynNotAcceptable)
			return
		}
		u, ok := v.s.drfTokenAuth(c, true)
		if !ok {
			return
		}
		if v.scope == fsm.ScopeGlobal && !u.HasPermission(dynPermChange) {
			detail(c, http.StatusForbidden, msgPermissionDenied)
			return
		}
		if v.s.setUser(c, u) {
			c.Next()
		}
	}}
}

// dynAcceptable reports whether DRF's content negotiation finds a renderer
// (JSON, or the browsable API's text/html, answered here as JSON) for an
// Accept header. Parameters, q values included, play no part.
func dynAcceptable(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for _, r := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(r, ";")
		typ, sub, _ := strings.Cut(strings.ToLower(strings.TrimSpace(mt)), "/")
		if (typ == "*" || typ == "application") && (sub == "*" || sub == "json") ||
			(typ == "*" || typ == "text") && (sub == "*" || sub == "html") {
			return true
		}
	}
	return false
}

// owner is the user whose values the view reads and writes: 0 for global.
func (v *dynView) owner(c *gin.Context) uint64 {
	if v.scope == fsm.ScopeGlobal {
		return 0
	}
	return currentUser(c).ID
}

// dynSectionFilter is ?section=: the last value, "" meaning no filter.
func dynSectionFilter(c *gin.Context) string {
	vals := c.QueryArray("section")
	if len(vals) == 0 {
		return ""
	}
	return vals[len(vals)-1]
}

// ---------------------------------------------------------------------------
// Entries: a definition with the caller's value, or an obsolete value.

// dynEntry is one row of the original's preference table.
type dynEntry struct {
	// def is nil for a value stored under a definition that was removed.
	def   *fsm.SettingDef
	key   string
	value string // canonical form
}

// sectionName splits the entry's identifier as the original does.
func (e dynEntry) sectionName() (section string, hasSection bool, name string) {
	if e.def == nil {
		return dynSplitIdentifier(e.key)
	}
	if e.def.Section == "" {
		return "", false, e.def.Key
	}
	// The key without the prefix section + dynSeparator, if it has it,
	// cut in two steps rather than built.
	name = e.def.Key
	if rest, ok := strings.CutPrefix(name, e.def.Section); ok {
		if rest, ok = strings.CutPrefix(rest, dynSeparator); ok {
			name = rest
		}
	}
	return e.def.Section, true, name
}

// dynSplitIdentifier splits section__name; any other number of parts means no
// section and the whole identifier as the name.
func dynSplitIdentifier(id string) (section string, hasSection bool, name string) {
	parts := strings.Split(id, dynSeparator)
	if len(parts) == 2 {
		return parts[0], true, parts[1]
	}
	return "", false, id
}

// inSection applies the ?section= filter.
func (e dynEntry) inSection(filter string) bool {
	if filter == "" {
		return true
	}
	sec, ok, _ := e.sectionName()
	return ok && sec == filter
}

// entries lists a scope's preferences for a user (0: global) in catalogue
// order, then the obsolete values in key order.
func (v *dynView) entries(st *fsm.State, userID uint64) []dynEntry {
	defs := st.Catalog(fsm.RegistryDynPrefs, v.scope)
	stored := st.Settings(userID, fsm.RegistryDynPrefs, v.scope)
	values := make(map[string]string, len(stored))
	for _, kv := range stored {
		values[kv.Key] = kv.Value
	}
	out := make([]dynEntry, 0, len(defs))
	for _, d := range defs {
		val, ok := values[d.Key]
		if !ok {
			val = d.Default
		}
		delete(values, d.Key)
		out = append(out, dynEntry{def: d, key: d.Key, value: val})
	}
	for _, kv := range stored {
		if _, obsolete := values[kv.Key]; obsolete {
			out = append(out, dynEntry{key: kv.Key, value: kv.Value})
		}
	}
	return out
}

// entry finds one preference by identifier.
func (v *dynView) entry(st *fsm.State, userID uint64, id string) (dynEntry, bool) {
	stored, hasValue := st.Setting(userID, fsm.RegistryDynPrefs, v.scope, id)
	if d, ok := st.SettingDef(fsm.RegistryDynPrefs, v.scope, id); ok {
		if !hasValue {
			stored = d.Default
		}
		return dynEntry{def: d, key: id, value: stored}, true
	}
	if hasValue {
		return dynEntry{key: id, value: stored}, true
	}
	return dynEntry{}, false
}

// ---------------------------------------------------------------------------
// Handlers

func (v *dynView) list(c *gin.Context) {
	st, ok := v.s.read(c)
	if !ok {
		return
	}
	filter := dynSectionFilter(c)
	entries := v.entries(st, v.owner(c))
	respondWith(c, http.StatusOK, func(b []byte) []byte {
		b = append(b, '[')
		first := true
		for _, e := range entries {
			if e.inSection(filter) {
				if !first {
					b = append(b, ',')
				}
				first = false
				p := renderDynPref(e)
				b = p.appendJSON(b)
			}
		}
		return append(b, ']')
	})
}

// object finds the URL's preference as DRF's get_object does, answering 404
// itself.
func (v *dynView) object(c *gin.Context, st *fsm.State) (dynEntry, bool) {
	id := c.Param("pk")
	e, ok := v.entry(st, v.owner(c), id)
	if id == "" || !ok || !e.inSection(dynSectionFilter(c)) {
		detail(c, http.StatusNotFound, msgNotFound)
		return dynEntry{}, false
	}
	return e, true
}

func (v *dynView) retrieve(c *gin.Context) {
	st, ok := v.s.read(c)
	if !ok {
		return
	}
	e, ok := v.object(c, st)
	if !ok {
		return
	}
	p := renderDynPref(e)
	respondWith(c, http.StatusOK, p.appendJSON)
}

// update serves PATCH and PUT: both need "value", since a PATCH without it
// has nothing to do (the original fails with a 500).
func (v *dynView) update(c *gin.Context) {
	st, ok := v.s.read(c)
	if !ok {
		return
	}
	e, ok := v.object(c, st)
	if !ok {
		return
	}
	body, ok := dynBody(c)
	if !ok {
		return
	}
	if body.kind != 'o' {
		msg := "Invalid data. Expected a dictionary, but got " + pyKindName(body.kind) + "."
		if body.kind == 'n' {
			msg = "No data provided"
		}
		respond(c, http.StatusBadRequest, gin.H{"non_field_errors": []string{msg}})
		return
	}
	raw, present := dynMember(body, "value")
	var canonical, msg string
	switch {
	case !present:
		msg = msgDynRequired
	case raw.kind == 'n':
		msg = msgDynNull
	case e.def == nil:
		msg = msgDynObsoleteWrite
	default:
		canonical, msg = dynClean(e.def, raw)
	}
	if msg != "" {
		respond(c, http.StatusBadRequest, dynValueError(msg))
		return
	}
	userID := v.owner(c)
	res, ok := v.s.apply(c, fsm.CmdSetSettings, fsm.SetSettings{
		Registry: fsm.RegistryDynPrefs, Scope: v.scope, UserID: userID,
		Values: []fsm.KV{{Key: e.key, Value: canonical}},
	})
	if !ok {
		return
	}
	if res.Err != nil {
		switch {
		case errors.Is(res.Err, fsm.ErrSettingInvalid):
			respond(c, http.StatusBadRequest, dynValueError(dynReasonMessage(e.def, canonical, res.Err.Reason)))
		case errors.Is(res.Err, fsm.ErrSettingUnknown), errors.Is(res.Err, fsm.ErrUserNotFound):
			detail(c, http.StatusNotFound, msgNotFound)
		default:
			detail(c, http.StatusBadRequest, "Update failed: "+res.Err.Code)
		}
		return
	}
	e.value = canonical
	p := renderDynPref(e)
	respondWith(c, http.StatusOK, p.appendJSON)
}

// dynValueError is a serializer's error body for the value field.
func dynValueError(msg string) gin.H {
	return gin.H{"value": []string{msg}}
}

// bulk checks in the original's order: the body's shape, that every key is
// a registered preference, that there is at least one, then every value;
// only if all pass are they written, in one command. Entries outside
// ?section= are dropped silently. The answer lists the written preferences
// in the payload's order.
func (v *dynView) bulk(c *gin.Context) {
	payload, ok := dynBody(c)
	if !ok {
		return
	}
	if payload.kind != 'o' {
		respond(c, http.StatusBadRequest, msgDynInvalidPayload)
		return
	}
	st, ok := v.s.read(c)
	if !ok {
		return
	}
	defs := make([]*fsm.SettingDef, len(payload.keys))
	unknown := &orderedErrors[string]{}
	for i, k := range payload.keys {
		d, found := st.SettingDef(fsm.RegistryDynPrefs, v.scope, k)
		if !found {
			unknown.set(k, msgDynInvalidPref)
			continue
		}
		defs[i] = d
	}
	if unknown.len() > 0 {
		respond(c, http.StatusBadRequest, unknown)
		return
	}
	if len(payload.keys) == 0 {
		respond(c, http.StatusBadRequest, msgDynEmptyPayload)
		return
	}
	filter := dynSectionFilter(c)
	var entries []dynEntry
	invalid := &orderedErrors[gin.H]{}
	for i, k := range payload.keys {
		e := dynEntry{def: defs[i], key: k}
		if !e.inSection(filter) {
			continue
		}
		raw := payload.values[i]
		var msg string
		if raw.kind == 'n' {
			msg = msgDynNull
		} else {
			e.value, msg = dynClean(e.def, raw)
		}
		if msg != "" {
			invalid.set(k, dynValueError(msg))
			continue
		}
		entries = append(entries, e)
	}
	if invalid.len() > 0 {
		respond(c, http.StatusBadRequest, invalid)
		return
	}
	if len(entries) > 0 {
		cmd := fsm.SetSettings{Registry: fsm.RegistryDynPrefs, Scope: v.scope, UserID: v.owner(c)}
		for _, e := range entries {
			cmd.Values = append(cmd.Values, fsm.KV{Key: e.key, Value: e.value})
		}
		res, ok := v.s.apply(c, fsm.CmdSetSettings, cmd)
		if !ok {
			return
		}
		if res.Err != nil {
			v.bulkApplyError(c, res.Err, entries)
			return
		}
	}
	respondWith(c, http.StatusOK, func(b []byte) []byte {
		b = append(b, '[')
		for i, e := range entries {
			if i > 0 {
				b = append(b, ',')
			}
			p := renderDynPref(e)
			b = p.appendJSON(b)
		}
		return append(b, ']')
	})
}

// bulkApplyError answers a refusal by the state machine, which checks the
// values again against the catalogue in force when it applies them.
func (v *dynView) bulkApplyError(c *gin.Context, err *fsm.Error, entries []dynEntry) {
	switch {
	case errors.Is(err, fsm.ErrSettingUnknown):
		respond(c, http.StatusBadRequest, gin.H{err.Key: msgDynInvalidPref})
	case errors.Is(err, fsm.ErrSettingInvalid):
		for _, e := range entries {
			if e.key == err.Key {
				respond(c, http.StatusBadRequest, gin.H{err.Key: dynValueError(dynReasonMessage(e.def, e.value, err.Reason))})
				return
			}
		}
		respond(c, http.StatusBadRequest, gin.H{err.Key: dynValueError("Enter a valid value.")})
	case errors.Is(err, fsm.ErrUserNotFound):
		detail(c, http.StatusNotFound, msgNotFound)
	default:
		detail(c, http.StatusBadRequest, "Update failed: "+err.Code)
	}
}

// dynFieldInfo is one field of DRF's OPTIONS metadata.
type dynFieldInfo struct {
	Type     string `json:"type"`
	Required bool   `json:"required"`
	ReadOnly bool   `json:"read_only"`
	Label    string `json:"label"`
}

// dynSerializerInfo describes the preference serializer's fields in order.
var dynSerializerInfo = func() *orderedErrors[dynFieldInfo] {
	info := &orderedErrors[dynFieldInfo]{}
	for _, f := range []struct{ name, typ, label string }{
		{"section", "string", "Section"},
		{"name", "string", "Name"},
		{"identifier", "field", "Identifier"},
		{"default", "field", "Default"},
		{"value", "field", "Value"},
		{"verbose_name", "field", "Verbose name"},
		{"help_text", "field", "Help text"},
		{"additional_data", "field", "Additional data"},
		{"field", "field", "Field"},
	} {
		writable := f.name == "value"
		info.set(f.name, dynFieldInfo{Type: f.typ, Required: writable, ReadOnly: !writable, Label: f.label})
	}
	return info
}()

// dynMetadata is DRF's SimpleMetadata answer.
type dynMetadata struct {
	Name        string                                  `json:"name"`
	Description string                                  `json:"description"`
	Renders     []string                                `json:"renders"`
	Parses      []string                                `json:"parses"`
	Actions     map[string]*orderedErrors[dynFieldInfo] `json:"actions,omitempty"`
}

// options answers OPTIONS. DRF describes the serializer under the PUT
// action of a detail URL whose preference exists, and under the POST
// action of bulk.
func (v *dynView) options(name, description string, methods []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		md := dynMetadata{Name: name, Description: description, Renders: []string{"application/json"}, Parses: dynParses}
		switch {
		case slices.Contains(methods, http.MethodPost):
			md.Actions = map[string]*orderedErrors[dynFieldInfo]{"POST": dynSerializerInfo}
		case slices.Contains(methods, http.MethodPut):
			st, ok := v.s.read(c)
			if !ok {
				return
			}
			id := c.Param("pk")
			if e, ok := v.entry(st, v.owner(c), id); ok && id != "" && e.inSection(dynSectionFilter(c)) {
				md.Actions = map[string]*orderedErrors[dynFieldInfo]{"PUT": dynSerializerInfo}
			}
		}
		respond(c, http.StatusOK, md)
	}
}

// ---------------------------------------------------------------------------
// The API representation

// dynPref is the serializer's output, keys in its order.
type dynPref struct {
	Section        *string         `json:"section"`
	Name           string          `json:"name"`
	Identifier     string          `json:"identifier"`
	Default        json.RawMessage `json:"default"`
	Value          json.RawMessage `json:"value"`
	VerboseName    *string         `json:"verbose_name"`
	HelpText       *string         `json:"help_text"`
	AdditionalData dynAdditional   `json:"additional_data"`
	Field          dynField        `json:"field"`
}

// dynAdditional is additional_data: choices for the choice types, else {}.
type dynAdditional struct {
	Choices [][2]string `json:"choices,omitempty"`
}

type dynWidget struct {
	Class string `json:"class"`
}

// dynField describes the preference's Django form field.
type dynField struct {
	Class     string    `json:"class"`
	Widget    dynWidget `json:"widget"`
	InputType *string   `json:"input_type"`
}

// dynFieldOf returns the form field class, widget class and input type of
// a setting type, from dynFields when the type is known there.
func dynFieldOf(t fsm.SettingType) dynField {
	if f, ok := dynFields[t]; ok {
		return f
	}
	return dynBuildField(t)
}

// dynFields holds dynBuildField's answer for every setting type, built
// once: the answers are read, never changed, so they share their
// InputType.
var dynFields = func() map[fsm.SettingType]dynField {
	m := map[fsm.SettingType]dynField{}
	for _, t := range []fsm.SettingType{fsm.TypeString, fsm.TypeLongString, fsm.TypeBoolean, fsm.TypeInteger,
		fsm.TypeFloat, fsm.TypeDecimal, fsm.TypeChoice, fsm.TypeMultipleChoice, fsm.TypeDate,
		fsm.TypeDateTime, fsm.TypeTime, fsm.TypeDuration, fsm.TypeRelated} {
		m[t] = dynBuildField(t)
	}
	return m
}()

// dynBuildField builds dynFieldOf's answer.
func dynBuildField(t fsm.SettingType) dynField {
	f := func(class, widget, input string) dynField {
		d := dynField{Class: class, Widget: dynWidget{widget}}
		if input != "" {
			d.InputType = &input
		}
		return d
	}
	switch t {
	case fsm.TypeBoolean:
		return f("BooleanField", "CheckboxInput", "checkbox")
	case fsm.TypeInteger:
		return f("IntegerField", "NumberInput", "number")
	case fsm.TypeFloat:
		return f("FloatField", "NumberInput", "number")
	case fsm.TypeDecimal:
		return f("DecimalField", "NumberInput", "number")
	case fsm.TypeLongString:
		return f("CharField", "Textarea", "")
	case fsm.TypeChoice:
		return f("ChoiceField", "Select", "select")
	case fsm.TypeMultipleChoice:
		return f("MultipleChoiceField", "CheckboxSelectMultiple", "checkbox")
	case fsm.TypeDate:
		return f("DateField", "DateInput", "text")
	case fsm.TypeDateTime:
		return f("DateTimeField", "DateTimeInput", "text")
	case fsm.TypeTime:
		return f("TimeField", "TimeInput", "text")
	case fsm.TypeDuration:
		return f("DurationField", "TextInput", "text")
	case fsm.TypeRelated:
		return f("ModelChoiceField", "Select", "select")
	}
	return f("CharField", "TextInput", "text")
}

func dynOptString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// appendJSON appends p as encoding/json writes a dynPref, without
// reflection: the handlers answer with this.
func (p *dynPref) appendJSON(b []byte) []byte {
	b = append(b, `{"section":`...)
	b = appendJSONOptString(b, p.Section)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, p.Name)
	b = append(b, `,"identifier":`...)
	b = appendJSONString(b, p.Identifier)
	b = append(b, `,"default":`...)
	b = appendJSONRaw(b, p.Default)
	b = append(b, `,"value":`...)
	b = appendJSONRaw(b, p.Value)
	b = append(b, `,"verbose_name":`...)
	b = appendJSONOptString(b, p.VerboseName)
	b = append(b, `,"help_text":`...)
	b = appendJSONOptString(b, p.HelpText)
	b = append(b, `,"additional_data":{`...)
	if len(p.AdditionalData.Choices) > 0 {
		b = append(b, `"choices":[`...)
		for i, ch := range p.AdditionalData.Choices {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = appendJSONString(b, ch[0])
			b = append(b, ',')
			b = appendJSONString(b, ch[1])
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	b = append(b, `},"field":{"class":`...)
	b = appendJSONString(b, p.Field.Class)
	b = append(b, `,"widget":{"class":`...)
	b = appendJSONString(b, p.Field.Widget.Class)
	b = append(b, `},"input_type":`...)
	b = appendJSONOptString(b, p.Field.InputType)
	return append(b, "}}"...)
}

// renderDynPref renders an entry. An obsolete value is shown as the
// original's fallback: a string preference with an empty default.
func renderDynPref(e dynEntry) dynPref {
	sec, hasSection, name := e.sectionName()
	p := dynPref{Name: name, Identifier: e.key}
	if hasSection {
		p.Section = &sec
	}
	if e.def == nil {
		help := msgDynObsolete
		p.Default = dynJSONString("")
		p.Value = dynJSONString(e.value)
		p.HelpText = &help
		p.Field = dynFieldOf(fsm.TypeString)
		return p
	}
	d := e.def
	p.Default = dynRepr(d.Type, d.Default)
	p.Value = dynRepr(d.Type, e.value)
	p.VerboseName = dynOptString(d.Name)
	p.HelpText = dynOptString(d.Description)
	if d.Type == fsm.TypeChoice || d.Type == fsm.TypeMultipleChoice {
		p.AdditionalData.Choices = make([][2]string, len(d.Choices))
		for i, ch := range d.Choices {
			p.AdditionalData.Choices[i] = [2]string{ch.Value, ch.DisplayName}
		}
	}
	p.Field = dynFieldOf(d.Type)
	return p
}

func dynJSONString(s string) json.RawMessage {
	return appendJSONString(make([]byte, 0, len(s)+2), s)
}

var dynJSONNull = json.RawMessage("null")

// dynRepr is a canonical value in the preference type's API
// representation. A value that is not in its type's canonical form (a
// definition whose type changed) is shown as a string.
func dynRepr(t fsm.SettingType, v string) json.RawMessage {
	if v == "" {
		switch t {
		case fsm.TypeString, fsm.TypeLongString, fsm.TypeChoice:
			return dynJSONString("")
		case fsm.TypeMultipleChoice:
			return json.RawMessage("[]")
		}
		return dynJSONNull
	}
	switch t {
	case fsm.TypeBoolean:
		switch v {
		case "True":
			return json.RawMessage("true")
		case "False":
			return json.RawMessage("false")
		}
	case fsm.TypeInteger, fsm.TypeRelated:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return json.RawMessage(strconv.FormatInt(n, 10))
		}
	case fsm.TypeFloat, fsm.TypeDecimal:
		// Decimals are shown as Python floats, as the original does.
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return json.RawMessage(pyFloat(v))
		}
	case fsm.TypeMultipleChoice:
		var items []string
		if json.Unmarshal([]byte(v), &items) == nil && items != nil {
			b := make([]byte, 0, len(v))
			b = append(b, '[')
			for i, it := range items {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, it)
			}
			return append(b, ']')
		}
	case fsm.TypeDateTime:
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return dynJSONString(dynPyIsoformat(t))
		}
	}
	return dynJSONString(v)
}

// dynPyIsoformat is Python's datetime.isoformat of an aware datetime:
// microseconds only when not zero, the offset as +HH:MM[:SS], never Z.
func dynPyIsoformat(t time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%04d-%02d-%02dT%02d:%02d:%02d", t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second())
	if us := t.Nanosecond() / 1000; us != 0 {
		fmt.Fprintf(&b, ".%06d", us)
	}
	_, off := t.Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	fmt.Fprintf(&b, "%c%02d:%02d", sign, off/3600, off/60%60)
	if off%60 != 0 {
		fmt.Fprintf(&b, ":%02d", off%60)
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// Request bodies, parsed as DRF's JSON, form and multipart parsers do

// dynBody reads the body into a value: a JSON value, or an object of
// strings for a form (the last of repeated fields). An empty body is an
// empty object, whatever its media type, as DRF has it; a body without a
// Content-Type is read as JSON. It answers errors itself.
//
// It is not shared with edxBody, layoutBody or itValue on purpose: each
// product's parsers differ. Here a body without a Content-Type is JSON,
// JSON is Python's json.loads with its own messages (dynPyLoads), media
// types are matched after mime.ParseMediaType, and a form keeps every
// field; InvenTree answers 415 without a Content-Type and reads only the
// value field, Open edX reads any body as JSON, and the layout service
// decodes with encoding/json's messages.
func dynBody(c *gin.Context) (pyValue, bool) {
	body, err := readBody(c)
	if bodyError(c, err) {
		return pyValue{}, false
	}
	if len(body) == 0 {
		return pyValue{kind: 'o'}, true
	}
	ct := requestHeader(c, hdrContentType)
	mt, params, perr := mime.ParseMediaType(ct)
	if perr != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	}
	typ, sub, _ := strings.Cut(mt, "/")
	matches := func(wantType, wantSub string) bool {
		return (typ == "*" || typ == wantType) && (sub == "*" || sub == wantSub)
	}
	switch {
	case ct == "" || matches("application", "json"):
		v, msg := dynPyLoads(body)
		if msg != "" {
			parseError(c, errors.New(msg))
			return pyValue{}, false
		}
		return v, true
	case matches("application", "x-www-form-urlencoded"):
		return dynPyParseForm(body), true
	case matches("multipart", "form-data"):
		v, err := dynPyParseMultipart(body, params["boundary"])
		if err != nil {
			detail(c, http.StatusBadRequest, "Multipart form parse error - "+err.Error())
			return pyValue{}, false
		}
		return v, true
	}
	unsupportedMediaType(c)
	return pyValue{}, false
}

// dynMember returns an object's member.
func dynMember(v pyValue, key string) (pyValue, bool) {
	for i, k := range v.keys {
		if k == key {
			return v.values[i], true
		}
	}
	return pyValue{}, false
}

// dynFormObject builds an object of strings from ordered fields: each key at
// its first position with its last value, as QueryDict.__getitem__ gives.
func dynFormObject(pairs [][2]string) pyValue {
	v := pyValue{kind: 'o'}
	pos := map[string]int{}
	for _, p := range pairs {
		val := pyValue{kind: 's', s: p[1]}
		if i, ok := pos[p[0]]; ok {
			v.values[i] = val
			continue
		}
		pos[p[0]] = len(v.keys)
		v.keys = append(v.keys, p[0])
		v.values = append(v.values, val)
	}
	return v
}

// dynPyParseForm parses an urlencoded body as Django's QueryDict does: fields
// split on &, blank values kept, + as space, bad escapes left as they are,
// bad UTF-8 replaced.
//
// It is not itParseQS: Django's QueryDict decodes a body that is not UTF-8
// as ISO-8859-1 as a whole, where InvenTree's parse_qs replaces the bad
// bytes of each field. Both unquote with pyUnquotePlus.
func dynPyParseForm(body []byte) pyValue {
	text := string(body)
	if !utf8.Valid(body) {
		// Django falls back to ISO-8859-1 for the whole body.
		rs := make([]rune, len(body))
		for i, b := range body {
			rs[i] = rune(b)
		}
		text = string(rs)
	}
	var pairs [][2]string
	for _, field := range strings.Split(text, "&") {
		if field == "" {
			continue
		}
		k, val, _ := strings.Cut(field, "=")
		pairs = append(pairs, [2]string{pyUnquotePlus(k), pyUnquotePlus(val)})
	}
	return dynFormObject(pairs)
}

// dynPyParseMultipart reads the form fields of a multipart body; file parts
// are ignored (there is no file preference type).
//
// It is not itMultipartValue: InvenTree checks Django's boundary pattern
// and lets a file part stand for its file name, and reads only "value".
func dynPyParseMultipart(body []byte, boundary string) (pyValue, error) {
	if boundary == "" {
		return pyValue{}, errors.New("Invalid boundary in multipart: None")
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	var pairs [][2]string
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return pyValue{}, err
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return pyValue{}, err
		}
		if p.FileName() != "" || p.FormName() == "" {
			continue
		}
		pairs = append(pairs, [2]string{p.FormName(), strings.ToValidUTF8(string(data), "\uFFFD")})
	}
	return dynFormObject(pairs), nil
}

// ---------------------------------------------------------------------------
// Python's json.loads, as DRF's JSON parser calls it: the same values and
// the same error messages, positions in characters.

// dynPyJSONMaxDepth bounds nesting. Python fails far deeper, with a 500.
const dynPyJSONMaxDepth = maxDepth

type dynPyJSONDecoder struct {
	s []rune
}

// dynPyJSONError is a decoding failure at a character position.
type dynPyJSONError struct {
	msg string
	pos int
	// plain errors are not JSONDecodeErrors and carry no position.
	plain bool
}

// dynPyLoads decodes a body as UTF-8 and parses it, returning the value or the
// text of Python's exception.
func dynPyLoads(data []byte) (pyValue, string) {
	runes, msg := dynPyDecodeUTF8(data)
	if msg != "" {
		return pyValue{}, msg
	}
	d := &dynPyJSONDecoder{s: runes}
	if len(runes) > 0 && runes[0] == '\uFEFF' {
		return pyValue{}, d.format(&dynPyJSONError{msg: "Unexpected UTF-8 BOM (decode using utf-8-sig)", pos: 0})
	}
	v, end, err := d.scan(d.skipWS(0), 0)
	if err == nil {
		if end = d.skipWS(end); end != len(runes) {
			err = &dynPyJSONError{msg: "Extra data", pos: end}
		}
	}
	if err != nil {
		return pyValue{}, d.format(err)
	}
	return v, ""
}

// format renders an error as str() of Python's exception.
func (d *dynPyJSONDecoder) format(e *dynPyJSONError) string {
	if e.plain {
		return e.msg
	}
	line, col := 1, e.pos+1
	for i := 0; i < e.pos && i < len(d.s); i++ {
		if d.s[i] == '\n' {
			line++
			col = e.pos - i
		}
	}
	return fmt.Sprintf("%s: line %d column %d (char %d)", e.msg, line, col, e.pos)
}

func (d *dynPyJSONDecoder) skipWS(i int) int {
	for i < len(d.s) && (d.s[i] == ' ' || d.s[i] == '\t' || d.s[i] == '\n' || d.s[i] == '\r') {
		i++
	}
	return i
}

// has reports whether the text at i starts with lit.
func (d *dynPyJSONDecoder) has(i int, lit string) bool {
	for _, r := range lit {
		if i >= len(d.s) || d.s[i] != r {
			return false
		}
		i++
	}
	return true
}

// scan is the C scanner's scan_once: a value at i, or an error. A value
// that is not there at all is "Expecting value" at i.
func (d *dynPyJSONDecoder) scan(i, depth int) (pyValue, int, *dynPyJSONError) {
	if i >= len(d.s) {
		return pyValue{}, i, &dynPyJSONError{msg: "Expecting value", pos: i}
	}
	switch d.s[i] {
	case '"':
		s, end, err := d.str(i + 1)
		return pyValue{kind: 's', s: s}, end, err
	case '{', '[':
		if depth >= dynPyJSONMaxDepth {
			return pyValue{}, i, &dynPyJSONError{msg: "Nested too deeply", pos: i}
		}
		if d.s[i] == '{' {
			return d.object(i+1, depth+1)
		}
		return d.array(i+1, depth+1)
	case 'n':
		if d.has(i, "null") {
			return pyValue{kind: 'n'}, i + 4, nil
		}
	case 't':
		if d.has(i, "true") {
			return pyValue{kind: 'b', b: true}, i + 4, nil
		}
	case 'f':
		if d.has(i, "false") {
			return pyValue{kind: 'b'}, i + 5, nil
		}
	case 'N':
		if d.has(i, "NaN") {
			return pyValue{}, i, &dynPyJSONError{msg: "Out of range float values are not JSON compliant: 'NaN'", plain: true}
		}
	case 'I':
		if d.has(i, "Infinity") {
			return pyValue{}, i, &dynPyJSONError{msg: "Out of range float values are not JSON compliant: 'Infinity'", plain: true}
		}
	case '-':
		if d.has(i, "-Infinity") {
			return pyValue{}, i, &dynPyJSONError{msg: "Out of range float values are not JSON compliant: '-Infinity'", plain: true}
		}
	}
	return d.number(i)
}

// dynIsDigit is an ASCII digit: JSON numbers, unlike int(), take no other
// script's digits (see pyDigit for those).
func dynIsDigit(r rune) bool { return r >= '0' && r <= '9' }

// number is the C scanner's _match_number_unicode.
func (d *dynPyJSONDecoder) number(start int) (pyValue, int, *dynPyJSONError) {
	i, n := start, len(d.s)
	if d.s[i] == '-' {
		i++
		if i >= n {
			return pyValue{}, start, &dynPyJSONError{msg: "Expecting value", pos: start}
		}
	}
	switch {
	case d.s[i] >= '1' && d.s[i] <= '9':
		for i++; i < n && dynIsDigit(d.s[i]); i++ {
		}
	case d.s[i] == '0':
		i++
	default:
		return pyValue{}, start, &dynPyJSONError{msg: "Expecting value", pos: start}
	}
	isFloat := false
	if i+1 < n && d.s[i] == '.' && dynIsDigit(d.s[i+1]) {
		isFloat = true
		for i += 2; i < n && dynIsDigit(d.s[i]); i++ {
		}
	}
	if i+1 < n && (d.s[i] == 'e' || d.s[i] == 'E') {
		e := i
		i++
		if i+1 < n && (d.s[i] == '-' || d.s[i] == '+') {
			i++
		}
		for ; i < n && dynIsDigit(d.s[i]); i++ {
		}
		if dynIsDigit(d.s[i-1]) {
			isFloat = true
		} else {
			i = e
		}
	}
	lit := string(d.s[start:i])
	if isFloat {
		return pyValue{kind: 'f', num: lit}, i, nil
	}
	if digits := len(strings.TrimPrefix(lit, "-")); digits > pyIntMaxDigits {
		return pyValue{}, i, &dynPyJSONError{plain: true, msg: fmt.Sprintf(
			"Exceeds the limit (%d digits) for integer string conversion: value has %d digits; use sys.set_int_max_str_digits() to increase the limit",
			pyIntMaxDigits, digits)}
	}
	return pyValue{kind: 'i', num: lit}, i, nil
}

// str is the C scanner's scanstring: the string starting after the quote
// at begin+1. Lone surrogates become U+FFFD.
func (d *dynPyJSONDecoder) str(end int) (string, int, *dynPyJSONError) {
	begin := end - 1
	var b []rune
	n := len(d.s)
	for {
		next := end
		for ; next < n; next++ {
			c := d.s[next]
			if c == '"' || c == '\\' {
				break
			}
			if c <= 0x1f {
				return "", 0, &dynPyJSONError{msg: "Invalid control character at", pos: next}
			}
		}
		if next >= n {
			return "", 0, &dynPyJSONError{msg: "Unterminated string starting at", pos: begin}
		}
		b = append(b, d.s[end:next]...)
		if d.s[next] == '"' {
			return dynPyRunesString(b), next + 1, nil
		}
		next++ // the backslash
		if next == n {
			return "", 0, &dynPyJSONError{msg: "Unterminated string starting at", pos: begin}
		}
		c := d.s[next]
		if c != 'u' {
			end = next + 1
			switch c {
			case '"', '\\', '/':
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			default:
				return "", 0, &dynPyJSONError{msg: "Invalid \\escape", pos: end - 2}
			}
			b = append(b, c)
			continue
		}
		next++
		end = next + 4
		if end >= n {
			return "", 0, &dynPyJSONError{msg: "Invalid \\uXXXX escape", pos: next - 1}
		}
		u, ok := dynHex4(d.s[next:end])
		if !ok {
			return "", 0, &dynPyJSONError{msg: "Invalid \\uXXXX escape", pos: end - 5}
		}
		if u >= 0xd800 && u <= 0xdbff && end+6 < n && d.s[end] == '\\' && d.s[end+1] == 'u' {
			u2, ok := dynHex4(d.s[end+2 : end+6])
			if !ok {
				return "", 0, &dynPyJSONError{msg: "Invalid \\uXXXX escape", pos: end + 1}
			}
			if u2 >= 0xdc00 && u2 <= 0xdfff {
				u = 0x10000 + (u-0xd800)<<10 + (u2 - 0xdc00)
				end += 6
			}
		}
		b = append(b, u)
	}
}

// dynPyRunesString makes a Go string, replacing surrogates.
func dynPyRunesString(rs []rune) string {
	for i, r := range rs {
		if r >= 0xd800 && r <= 0xdfff {
			rs[i] = utf8.RuneError
		}
	}
	return string(rs)
}

func dynHex4(rs []rune) (rune, bool) {
	var v rune
	for _, r := range rs {
		v <<= 4
		switch {
		case r >= '0' && r <= '9':
			v |= r - '0'
		case r >= 'a' && r <= 'f':
			v |= r - 'a' + 10
		case r >= 'A' && r <= 'F':
			v |= r - 'A' + 10
		default:
			return 0, false
		}
	}
	return v, true
}

// object is the C scanner's _parse_object; duplicate keys keep their first
// position and their last value.
func (d *dynPyJSONDecoder) object(i, depth int) (pyValue, int, *dynPyJSONError) {
	v := pyValue{kind: 'o'}
	n := len(d.s)
	i = d.skipWS(i)
	if i < n && d.s[i] == '}' {
		return v, i + 1, nil
	}
	pos := map[string]int{}
	for {
		if i >= n || d.s[i] != '"' {
			return pyValue{}, 0, &dynPyJSONError{msg: "Expecting property name enclosed in double quotes", pos: i}
		}
		key, next, err := d.str(i + 1)
		if err != nil {
			return pyValue{}, 0, err
		}
		i = d.skipWS(next)
		if i >= n || d.s[i] != ':' {
			return pyValue{}, 0, &dynPyJSONError{msg: "Expecting ':' delimiter", pos: i}
		}
		item, next, err := d.scan(d.skipWS(i+1), depth)
		if err != nil {
			return pyValue{}, 0, err
		}
		if at, dup := pos[key]; dup {
			v.values[at] = item
		} else {
			pos[key] = len(v.keys)
			v.keys = append(v.keys, key)
			v.values = append(v.values, item)
		}
		i = d.skipWS(next)
		if i < n && d.s[i] == '}' {
			return v, i + 1, nil
		}
		if i >= n || d.s[i] != ',' {
			return pyValue{}, 0, &dynPyJSONError{msg: "Expecting ',' delimiter", pos: i}
		}
		i = d.skipWS(i + 1)
	}
}

// array is the C scanner's _parse_array.
func (d *dynPyJSONDecoder) array(i, depth int) (pyValue, int, *dynPyJSONError) {
	v := pyValue{kind: 'a'}
	n := len(d.s)
	i = d.skipWS(i)
	if i < n && d.s[i] == ']' {
		return v, i + 1, nil
	}
	for {
		item, next, err := d.scan(i, depth)
		if err != nil {
			return pyValue{}, 0, err
		}
		v.items = append(v.items, item)
		i = d.skipWS(next)
		if i < n && d.s[i] == ']' {
			return v, i + 1, nil
		}
		if i >= n || d.s[i] != ',' {
			return pyValue{}, 0, &dynPyJSONError{msg: "Expecting ',' delimiter", pos: i}
		}
		i = d.skipWS(i + 1)
	}
}

// dynPyDecodeUTF8 decodes as Python's codecs StreamReader does for DRF's
// parser: an invalid sequence fails with Python's message; a sequence cut
// off at the very end is dropped.
func dynPyDecodeUTF8(b []byte) ([]rune, string) {
	out := make([]rune, 0, len(b))
	cont := func(c byte) bool { return c&0xc0 == 0x80 }
	fail := func(pos, n int, why string) string {
		if n == 1 {
			return fmt.Sprintf("'utf-8' codec can't decode byte 0x%02x in position %d: %s", b[pos], pos, why)
		}
		return fmt.Sprintf("'utf-8' codec can't decode bytes in position %d-%d: %s", pos, pos+n-1, why)
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			out = append(out, rune(c))
			i++
			continue
		}
		var size int
		switch {
		case c >= 0xc2 && c < 0xe0:
			size = 2
		case c >= 0xe0 && c < 0xf0:
			size = 3
		case c >= 0xf0 && c < 0xf5:
			size = 4
		default:
			return nil, fail(i, 1, "invalid start byte")
		}
		for k := 1; k < size; k++ {
			if i+k >= len(b) {
				return out, "" // cut off at the end: kept back, never decoded
			}
			c2 := b[i+k]
			bad := !cont(c2)
			if k == 1 {
				switch c {
				case 0xe0:
					bad = bad || c2 < 0xa0
				case 0xed:
					bad = bad || c2 >= 0xa0
				case 0xf0:
					bad = bad || c2 < 0x90
				case 0xf4:
					bad = bad || c2 >= 0x90
				}
			}
			if bad {
				return nil, fail(i, k, "invalid continuation byte")
			}
		}
		r, _ := utf8.DecodeRune(b[i : i+size])
		out = append(out, r)
		i += size
	}
	return out, ""
}

// ---------------------------------------------------------------------------
// Values: each type's Django form field (to_python, validate, validators),
// then the catalogue's checks, to the canonical form.

const (
	msgDynWholeNumber = "Enter a whole number."
	msgDynNumber      = "Enter a number."
	msgDynDate        = "Enter a valid date."
	msgDynDateTime    = "Enter a valid date/time."
	msgDynTime        = "Enter a valid time."
	msgDynDuration    = "Enter a valid duration."
	msgDynDurationBig = "The number of days must be between -999999999 and 999999999."
	msgDynList        = "Enter a list of values."
	msgDynNullChars   = "Null characters are not allowed."
	msgDynModelChoice = "Select a valid choice. That choice is not one of the available choices."
)

func msgDynChoice(v string) string {
	return "Select a valid choice. " + v + " is not one of the available choices."
}

// dynClean turns a request value (not null) into the canonical form of
// d's type, or returns the message Django would give. Where the original
// accepts a value it then cannot store (an empty value for a number, date
// or duration) the message is "This field is required.".
func dynClean(d *fsm.SettingDef, v pyValue) (string, string) {
	canonical, msg := dynToCanonical(d, v)
	if msg != "" {
		return "", msg
	}
	if why := fsm.ValidateSetting(d, canonical); why != "" {
		return "", dynReasonMessage(d, canonical, why)
	}
	return canonical, ""
}

// dynPyEmpty reports whether v is one of Django's EMPTY_VALUES other than None.
func dynPyEmpty(v pyValue) bool {
	switch v.kind {
	case 's':
		return v.s == ""
	case 'a':
		return len(v.items) == 0
	case 'o':
		return len(v.keys) == 0
	}
	return false
}

// dynPyTruthy is Python's bool().
func dynPyTruthy(v pyValue) bool {
	switch v.kind {
	case 'b':
		return v.b
	case 'i':
		return strings.Trim(v.num, "-0") != ""
	case 'f':
		f, _ := strconv.ParseFloat(v.num, 64)
		return f != 0
	case 's':
		return v.s != ""
	case 'a':
		return len(v.items) > 0
	case 'o':
		return len(v.keys) > 0
	}
	return false
}

func dynToCanonical(d *fsm.SettingDef, v pyValue) (string, string) {
	switch d.Type {
	case fsm.TypeBoolean:
		// BooleanField: "false" and "0" in any case are False; otherwise
		// Python's truth value.
		if v.kind == 's' {
			if l := strings.ToLower(v.s); l == "false" || l == "0" {
				return "False", ""
			}
		}
		if dynPyTruthy(v) {
			return "True", ""
		}
		return "False", ""
	case fsm.TypeInteger:
		return dynCleanInteger(v)
	case fsm.TypeFloat:
		return dynCleanFloat(v)
	case fsm.TypeDecimal:
		return dynCleanDecimal(v)
	case fsm.TypeChoice:
		if dynPyEmpty(v) {
			return "", ""
		}
		s := pyStr(v)
		if !dynHasChoice(d, s) {
			return "", msgDynChoice(s)
		}
		return s, ""
	case fsm.TypeMultipleChoice:
		return dynCleanMultipleChoice(d, v)
	case fsm.TypeDate:
		if dynPyEmpty(v) {
			return "", msgDynRequired
		}
		if v.kind != 's' {
			return "", msgDynDate
		}
		t, ok := dynStrptime(pyStrip(dynPyASCIIDigits(v.s)), dynDateFormats)
		if !ok {
			return "", msgDynDate
		}
		return fmt.Sprintf("%04d-%02d-%02d", t.Year(), int(t.Month()), t.Day()), ""
	case fsm.TypeDateTime:
		return dynCleanDateTime(v)
	case fsm.TypeTime:
		if dynPyEmpty(v) {
			return "", msgDynRequired
		}
		if v.kind != 's' {
			return "", msgDynTime
		}
		t, ok := dynStrptime(pyStrip(dynPyASCIIDigits(v.s)), dynTimeFormats)
		if !ok {
			return "", msgDynTime
		}
		s := fmt.Sprintf("%02d:%02d:%02d", t.Hour(), t.Minute(), t.Second())
		if us := t.Nanosecond() / 1000; us != 0 {
			s += fmt.Sprintf(".%06d", us)
		}
		return s, ""
	case fsm.TypeDuration:
		if dynPyEmpty(v) {
			return "", msgDynRequired
		}
		return dynParseDuration(pyStr(v))
	case fsm.TypeRelated:
		return dynCleanRelated(v)
	}
	// CharField (string, long string, and types this dialect does not know).
	if dynPyEmpty(v) {
		return "", ""
	}
	s := pyStrip(pyStr(v))
	if strings.ContainsRune(s, 0) {
		return "", msgDynNullChars
	}
	return s, ""
}

func dynHasChoice(d *fsm.SettingDef, s string) bool {
	for _, c := range d.Choices {
		if c.Value == s {
			return true
		}
	}
	return false
}

// dynCleanInteger is IntegerField.to_python: str() of the value, a trailing
// decimal point with zeros dropped, then Python's int().
func dynCleanInteger(v pyValue) (string, string) {
	if dynPyEmpty(v) {
		return "", msgDynRequired
	}
	n, ok := pyParseInt(dynStripDecimalZeros(pyStr(v)))
	if !ok {
		return "", msgDynWholeNumber
	}
	if !n.IsInt64() {
		if n.Sign() > 0 {
			return "", "Ensure this value is less than or equal to 9223372036854775807."
		}
		return "", "Ensure this value is greater than or equal to -9223372036854775808."
	}
	return n.String(), ""
}

// dynStripDecimalZeros applies IntegerField's re_decimal, \.0*\s*$, removed.
func dynStripDecimalZeros(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] != '.' {
			continue
		}
		rest := strings.TrimLeft(s[i+1:], "0")
		if strings.TrimFunc(rest, pyIsSpace) == "" {
			return s[:i]
		}
	}
	return s
}

// dynCleanFloat is FloatField: Python's float() of the value itself, which
// must be finite.
func dynCleanFloat(v pyValue) (string, string) {
	if dynPyEmpty(v) {
		return "", msgDynRequired
	}
	var f float64
	switch v.kind {
	case 'b':
		if v.b {
			f = 1
		}
	case 'i', 'f':
		f, _ = strconv.ParseFloat(v.num, 64) // out of range: ±Inf
	case 's':
		lit, ok := dynPyFloatLiteral(v.s)
		if !ok {
			return "", msgDynNumber
		}
		f, _ = strconv.ParseFloat(lit, 64)
	default:
		return "", msgDynNumber
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "", msgDynNumber
	}
	return pyFloat(strconv.FormatFloat(f, 'g', -1, 64)), ""
}

// dynCleanDecimal is DecimalField: Python's Decimal of str() of the value,
// which must be finite; stored as str() of the Decimal. prefsd also needs
// it to be finite as a float, which is how the API shows it.
func dynCleanDecimal(v pyValue) (string, string) {
	if dynPyEmpty(v) {
		return "", msgDynRequired
	}
	s, ok := dynPyDecimalStr(pyStr(v))
	if !ok {
		return "", msgDynNumber
	}
	if f, err := strconv.ParseFloat(s, 64); err != nil || math.IsInf(f, 0) {
		return "", msgDynNumber
	}
	return s, ""
}

// dynCleanMultipleChoice is MultipleChoiceField: a falsy value is [], anything
// else must be a list, each item's str() a choice; stored sorted.
func dynCleanMultipleChoice(d *fsm.SettingDef, v pyValue) (string, string) {
	items := []string{}
	if dynPyTruthy(v) {
		if v.kind != 'a' {
			return "", msgDynList
		}
		for _, it := range v.items {
			s := pyStr(it)
			if !dynHasChoice(d, s) {
				return "", msgDynChoice(s)
			}
			items = append(items, s)
		}
	}
	// The canonical form is sorted, without repeats, in json.Marshal's
	// spelling.
	slices.Sort(items)
	b, err := json.Marshal(slices.Compact(items))
	if err != nil {
		return "", msgDynList
	}
	return string(b), ""
}

// dynCleanRelated is ModelChoiceField over integer primary keys: int() of the
// value (Django's lookup conversion), or empty. prefsd holds no related
// objects, so it cannot check that the object exists.
func dynCleanRelated(v pyValue) (string, string) {
	if dynPyEmpty(v) {
		return "", ""
	}
	var n *big.Int
	ok := true
	switch v.kind {
	case 'b':
		n = big.NewInt(0)
		if v.b {
			n.SetInt64(1)
		}
	case 'i':
		n, ok = new(big.Int).SetString(pyInt(v.num), 10)
	case 'f':
		f, _ := strconv.ParseFloat(v.num, 64)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return "", msgDynModelChoice
		}
		n, _ = big.NewFloat(math.Trunc(f)).Int(nil)
	case 's':
		n, ok = pyParseInt(v.s)
	default:
		ok = false
	}
	if !ok || !n.IsInt64() {
		return "", msgDynModelChoice
	}
	return n.String(), ""
}

// dynCleanDateTime is DateTimeField: Django's parse_datetime, then the input
// formats; a naive result is taken as UTC.
func dynCleanDateTime(v pyValue) (string, string) {
	if dynPyEmpty(v) {
		return "", msgDynRequired
	}
	if v.kind != 's' {
		return "", msgDynDateTime
	}
	s := pyStrip(dynPyASCIIDigits(v.s))
	t, matched, ok := dynParseDatetime(s)
	if matched && !ok {
		return "", msgDynDateTime
	}
	if !matched {
		if t, ok = dynStrptime(s, dynDateTimeFormats); !ok {
			return "", msgDynDateTime
		}
	}
	return dynPyIsoformat(t), ""
}

// dynReasonMessage words a catalogue refusal as Django's validators do.
func dynReasonMessage(d *fsm.SettingDef, canonical, reason string) string {
	limit := func(p *float64) string {
		if p == nil {
			return ""
		}
		if *p == math.Trunc(*p) && math.Abs(*p) < 1e15 {
			return strconv.FormatFloat(*p, 'f', -1, 64)
		}
		return pyFloat(strconv.FormatFloat(*p, 'g', -1, 64))
	}
	if d.Message != "" && (reason == fsm.ReasonRegex || reason == fsm.ReasonValidator) {
		return d.Message
	}
	switch reason {
	case fsm.ReasonMin:
		return "Ensure this value is greater than or equal to " + limit(d.Min) + "."
	case fsm.ReasonMax:
		return "Ensure this value is less than or equal to " + limit(d.Max) + "."
	case fsm.ReasonTooLong:
		return fmt.Sprintf("Ensure this value has at most %d bytes (it has %d).", fsm.MaxSettingLength, len(canonical))
	case fsm.ReasonValidator:
		if d.Validator == "currency_codes" {
			if msg := fsm.CheckCurrencyCodes(canonical); msg != "" {
				return msg
			}
		}
		if d.Validator == "url" {
			return "Enter a valid URL."
		}
	case fsm.ReasonChoice:
		return msgDynChoice(canonical)
	case fsm.ReasonType:
		switch d.Type {
		case fsm.TypeInteger:
			return msgDynWholeNumber
		case fsm.TypeFloat, fsm.TypeDecimal:
			return msgDynNumber
		case fsm.TypeDate:
			return msgDynDate
		case fsm.TypeDateTime:
			return msgDynDateTime
		case fsm.TypeTime:
			return msgDynTime
		case fsm.TypeDuration:
			return msgDynDuration
		case fsm.TypeMultipleChoice:
			return msgDynList
		}
	}
	return "Enter a valid value."
}

// ---------------------------------------------------------------------------
// Python's number parsing

// dynPyASCIIDigits replaces Unicode decimal digits with ASCII ones, which is
// what Python's \d and int() make of them.
func dynPyASCIIDigits(s string) string {
	for _, r := range s {
		if r >= 0x80 && unicode.Is(unicode.Nd, r) {
			return strings.Map(func(r rune) rune {
				if d, ok := pyDigit(r); ok {
					return '0' + rune(d)
				}
				return r
			}, s)
		}
	}
	return s
}

// dynPyNumberParts splits a numeric literal into sign, integer digits,
// fraction digits (either may be empty, not both) and exponent digits,
// each as Python's float() and Decimal() accept them.
func dynPyNumberParts(s string) (neg bool, intPart, frac string, exp int64, ok bool) {
	rs := []rune(strings.TrimFunc(s, pyIsSpace))
	if len(rs) > 0 && (rs[0] == '+' || rs[0] == '-') {
		neg = rs[0] == '-'
		rs = rs[1:]
	}
	mant := rs
	var expRunes []rune
	if i := slices.IndexFunc(rs, func(r rune) bool { return r == 'e' || r == 'E' }); i >= 0 {
		mant, expRunes = rs[:i], rs[i+1:]
		if len(expRunes) == 0 {
			return false, "", "", 0, false
		}
	}
	whole, fraction := mant, []rune(nil)
	if i := slices.Index(mant, '.'); i >= 0 {
		whole, fraction = mant[:i], mant[i+1:]
	}
	var okI, okF bool
	if len(whole) > 0 {
		if intPart, okI = pyDigitPart(whole); !okI {
			return false, "", "", 0, false
		}
	}
	if len(fraction) > 0 {
		if frac, okF = pyDigitPart(fraction); !okF {
			return false, "", "", 0, false
		}
	}
	if intPart == "" && frac == "" {
		return false, "", "", 0, false
	}
	if expRunes != nil {
		eneg := false
		if expRunes[0] == '+' || expRunes[0] == '-' {
			eneg = expRunes[0] == '-'
			expRunes = expRunes[1:]
		}
		ed, okE := pyDigitPart(expRunes)
		if !okE {
			return false, "", "", 0, false
		}
		ed = strings.TrimLeft(ed, "0")
		if len(ed) > 15 {
			ed = "999999999999999" // far beyond any float or Decimal we keep
		}
		exp, _ = strconv.ParseInt("0"+ed, 10, 64)
		if eneg {
			exp = -exp
		}
	}
	return neg, intPart, frac, exp, true
}

// dynPyFloatLiteral turns a string Python's float() accepts into a literal Go
// parses the same way; infinities and NaN are refused, as FloatField
// refuses them.
func dynPyFloatLiteral(s string) (string, bool) {
	neg, intPart, frac, exp, ok := dynPyNumberParts(s)
	if !ok {
		return "", false
	}
	lit := intPart
	if lit == "" {
		lit = "0"
	}
	if frac != "" {
		lit += "." + frac
	}
	lit += "e" + strconv.FormatInt(exp, 10)
	if neg {
		lit = "-" + lit
	}
	return lit, true
}

// dynPyDecimalStr is str(Decimal(s)) for a finite decimal, Python's
// to-scientific-string.
func dynPyDecimalStr(s string) (string, bool) {
	neg, intPart, frac, exp, ok := dynPyNumberParts(s)
	if !ok || exp > 1e9 || exp < -1e9 {
		return "", false
	}
	coeff := strings.TrimLeft(intPart+frac, "0")
	if coeff == "" {
		coeff = "0"
	}
	e := exp - int64(len(frac))
	left := e + int64(len(coeff))
	var dot int64 = 1
	if e <= 0 && left > -6 {
		dot = left
	}
	var out string
	switch {
	case dot <= 0:
		out = "0." + strings.Repeat("0", int(-dot)) + coeff
	case dot >= int64(len(coeff)):
		out = coeff + strings.Repeat("0", int(dot)-len(coeff))
	default:
		out = coeff[:dot] + "." + coeff[dot:]
	}
	if left != dot {
		out += fmt.Sprintf("E%+d", left-dot)
	}
	if neg {
		out = "-" + out
	}
	return out, true
}

// ---------------------------------------------------------------------------
// Django's date, time and duration parsing

// Django's default input formats (DATE_INPUT_FORMATS and friends, with the
// ISO forms Django appends).
var (
	dynDateFormats = dynCompileStrptime(
		"%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%b %d %Y", "%b %d, %Y", "%d %b %Y",
		"%d %b, %Y", "%B %d %Y", "%B %d, %Y", "%d %B %Y", "%d %B, %Y")
	dynDateTimeFormats = dynCompileStrptime(
		"%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M",
		"%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M",
		"%m/%d/%y %H:%M:%S", "%m/%d/%y %H:%M:%S.%f", "%m/%d/%y %H:%M",
		"%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%b %d %Y", "%b %d, %Y", "%d %b %Y",
		"%d %b, %Y", "%B %d %Y", "%B %d, %Y", "%d %B %Y", "%d %B, %Y")
	dynTimeFormats = dynCompileStrptime("%H:%M:%S", "%H:%M:%S.%f", "%H:%M")
)

// dynPySpaceClass is Python's \s in a Go character class.
const dynPySpaceClass = `\t\n\v\f\r \x{1c}-\x{1f}\x{85}\p{Z}`

var dynMonthNames = []string{"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December"}

// dynCompileStrptime turns Python strptime formats into the regular
// expressions _strptime builds (case-insensitive, whitespace as \s+).
func dynCompileStrptime(formats ...string) []*regexp.Regexp {
	abbr := make([]string, 12)
	for i, m := range dynMonthNames {
		abbr[i] = m[:3]
	}
	directives := map[byte]string{
		'Y': `(?P<Y>[0-9]{4})`,
		'y': `(?P<y>[0-9]{2})`,
		'm': `(?P<m>1[0-2]|0[1-9]|[1-9])`,
		'd': `(?P<d>3[01]|[12][0-9]|0[1-9]|[1-9]| [1-9])`,
		'H': `(?P<H>2[0-3]|[0-1][0-9]|[0-9])`,
		'M': `(?P<M>[0-5][0-9]|[0-9])`,
		'S': `(?P<S>6[0-1]|[0-5][0-9]|[0-9])`,
		'f': `(?P<f>[0-9]{1,6})`,
		'b': `(?P<b>` + strings.Join(abbr, "|") + `)`,
		'B': `(?P<B>` + strings.Join(dynMonthNames, "|") + `)`,
	}
	out := make([]*regexp.Regexp, len(formats))
	for i, f := range formats {
		var b strings.Builder
		b.WriteString(`(?i)^`)
		for j := 0; j < len(f); j++ {
			switch {
			case f[j] == '%' && j+1 < len(f):
				b.WriteString(directives[f[j+1]])
				j++
			case f[j] == ' ':
				b.WriteString(`[` + dynPySpaceClass + `]+`)
			default:
				b.WriteString(regexp.QuoteMeta(f[j : j+1]))
			}
		}
		b.WriteString(`$`)
		out[i] = regexp.MustCompile(b.String())
	}
	return out
}

// dynStrptime tries each format in turn, as BaseTemporalField does, and
// returns a naive time as UTC.
func dynStrptime(s string, formats []*regexp.Regexp) (time.Time, bool) {
	for _, re := range formats {
		m := re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		year, month, day, hour, minute, sec, us := 1900, 1, 1, 0, 0, 0, 0
		for i, name := range re.SubexpNames() {
			v := m[i]
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			switch name {
			case "Y":
				year = n
			case "y":
				year = 1900 + n
				if n <= 68 {
					year = 2000 + n
				}
			case "m":
				month = n
			case "d":
				day = n
			case "H":
				hour = n
			case "M":
				minute = n
			case "S":
				sec = n
			case "f":
				us, _ = strconv.Atoi(v + strings.Repeat("0", 6-len(v)))
			case "b", "B":
				for k, mn := range dynMonthNames {
					if strings.EqualFold(mn, v) || strings.EqualFold(mn[:3], v) {
						month = k + 1
						break
					}
				}
			}
		}
		if t, ok := dynPyDatetime(year, month, day, hour, minute, sec, us, 0); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

// dynPyDatetime builds a datetime with Python's range checks and a fixed
// offset in minutes.
func dynPyDatetime(year, month, day, hour, minute, sec, us, offsetMin int) (time.Time, bool) {
	if year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 ||
		offsetMin <= -24*60 || offsetMin >= 24*60 {
		return time.Time{}, false
	}
	if day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return time.Time{}, false
	}
	loc := time.UTC
	if offsetMin != 0 {
		loc = time.FixedZone("", offsetMin*60)
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, us*1000, loc), true
}

// dynDatetimeRe is Django's datetime_re.
var dynDatetimeRe = regexp.MustCompile(`^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})[T ]([0-9]{1,2}):([0-9]{1,2})` +
	`(?::([0-9]{1,2})(?:[\.,]([0-9]{1,6})[0-9]{0,6})?)?[` + dynPySpaceClass + `]*(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?$`)

// dynParseDatetime is Django's parse_datetime: matched says the pattern
// matched, ok that it is also a valid datetime (Django refuses the value
// outright otherwise). A naive value is taken as UTC.
func dynParseDatetime(s string) (t time.Time, matched, ok bool) {
	m := dynDatetimeRe.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false, false
	}
	n := func(i int) int {
		v, _ := strconv.Atoi(m[i])
		return v
	}
	us := 0
	if m[7] != "" {
		us, _ = strconv.Atoi(m[7] + strings.Repeat("0", 6-len(m[7])))
	}
	offset := 0
	if tz := m[8]; tz != "" && tz != "Z" {
		mins := 0
		if len(tz) > 3 {
			mins, _ = strconv.Atoi(tz[len(tz)-2:])
		}
		hours, _ := strconv.Atoi(tz[1:3])
		offset = 60*hours + mins
		if tz[0] == '-' {
			offset = -offset
		}
	}
	sec := 0
	if m[6] != "" {
		sec = n(6)
	}
	t, ok = dynPyDatetime(n(1), n(2), n(3), n(4), n(5), sec, us, offset)
	return t, true, ok
}

// Django's duration patterns. The standard one's look-ahead, which RE2
// lacks, is spelt out as two alternatives.
var (
	dynDurationStandardRe = regexp.MustCompile(`^(?:(-?[0-9]+) (?:days?, )?)?(-?)(?:([0-9]+):([0-9]+):|([0-9]+):)?([0-9]+)(?:[\.,]([0-9]{1,6})[0-9]{0,6})?$`)
	dynDurationISORe      = regexp.MustCompile(`^([-+]?)P(?:([0-9]+(?:[\.,][0-9]+)?)D)?(?:T(?:([0-9]+(?:[\.,][0-9]+)?)H)?(?:([0-9]+(?:[\.,][0-9]+)?)M)?(?:([0-9]+(?:[\.,][0-9]+)?)S)?)?$`)
	dynDurationPostgresRe = regexp.MustCompile(`^(?:(-?[0-9]+) (?:days? ?))?(?:([-+])?([0-9]+):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?)?$`)
)

// The range of Python's timedelta, in microseconds.
var (
	dynUSPerDay   = big.NewInt(86400e6)
	dynDurationLo = new(big.Int).Mul(big.NewInt(-999999999), dynUSPerDay)
	dynDurationHi = new(big.Int).Sub(new(big.Int).Mul(big.NewInt(1e9), dynUSPerDay), big.NewInt(1))
)

// dynParseDuration is DurationField.to_python: Django's parse_duration
// of the text, in Django's duration string form.
func dynParseDuration(s string) (string, string) {
	s = dynPyASCIIDigits(s)
	us, ok, overflow := dynDurationMicros(s)
	if !ok && strings.HasSuffix(s, "\n") {
		// Python's $ also matches before a final newline.
		us, ok, overflow = dynDurationMicros(s[:len(s)-1])
	}
	switch {
	case overflow:
		return "", msgDynDurationBig
	case !ok:
		return "", msgDynDuration
	}
	return dynDurationString(us), ""
}

// dynDurationMicros returns the duration in microseconds.
func dynDurationMicros(s string) (us *big.Int, ok, overflow bool) {
	var days, sign string
	var parts [4]string // hours, minutes, seconds, microseconds
	iso := false
	if m := dynDurationStandardRe.FindStringSubmatch(s); m != nil {
		days, sign = m[1], m[2]
		minutes := m[4]
		if m[5] != "" {
			minutes = m[5]
		}
		parts = [4]string{m[3], minutes, m[6], m[7]}
	} else if m := dynDurationISORe.FindStringSubmatch(s); m != nil {
		iso = true
		sign, days = m[1], m[2]
		parts = [4]string{m[3], m[4], m[5], ""}
	} else if m := dynDurationPostgresRe.FindStringSubmatch(s); m != nil {
		days, sign = m[1], m[2]
		parts = [4]string{m[3], m[4], m[5], m[6]}
	} else {
		return nil, false, false
	}
	if parts[3] != "" {
		parts[3] += strings.Repeat("0", 6-len(parts[3]))
	}
	// Each component is a float in Django; a huge one overflows timedelta.
	rat := func(v string) (*big.Rat, bool) {
		if v == "" {
			return new(big.Rat), true
		}
		v = strings.Replace(v, ",", ".", 1)
		whole, _, _ := strings.Cut(strings.TrimPrefix(v, "-"), ".")
		if len(strings.TrimLeft(whole, "0")) > 24 {
			return nil, false
		}
		r, ok := new(big.Rat).SetString(v)
		return r, ok
	}
	inRange := func(n *big.Int) bool { return n.Cmp(dynDurationLo) >= 0 && n.Cmp(dynDurationHi) <= 0 }
	round := func(r *big.Rat) *big.Int {
		// Round half to even, as timedelta does.
		q, rem := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
		if rem.Sign() != 0 {
			twice := new(big.Int).Mul(new(big.Int).Abs(rem), big.NewInt(2))
			cmp := twice.Cmp(r.Denom())
			if cmp > 0 || cmp == 0 && q.Bit(0) == 1 {
				if r.Sign() < 0 {
					q.Sub(q, big.NewInt(1))
				} else {
					q.Add(q, big.NewInt(1))
				}
			}
		}
		return q
	}
	d, okD := rat(days)
	if !okD {
		return nil, false, true
	}
	dayUS := round(new(big.Rat).Mul(d, new(big.Rat).SetInt(dynUSPerDay)))
	if !inRange(dayUS) {
		return nil, false, true
	}
	if iso && sign == "-" {
		dayUS.Neg(dayUS)
	}
	scales := []int64{3600e6, 60e6, 1e6, 1}
	rest := new(big.Rat)
	for i, p := range parts {
		r, ok := rat(p)
		if !ok {
			return nil, false, true
		}
		rest.Add(rest, r.Mul(r, new(big.Rat).SetInt64(scales[i])))
	}
	restUS := round(rest)
	if !inRange(restUS) {
		return nil, false, true
	}
	if sign == "-" {
		restUS.Neg(restUS)
		if !inRange(restUS) {
			return nil, false, true
		}
	}
	total := new(big.Int).Add(dayUS, restUS)
	if !inRange(total) {
		return nil, false, true
	}
	return total, true, false
}

// dynDurationString is Django's duration_string.
func dynDurationString(us *big.Int) string {
	days, rem := new(big.Int).DivMod(us, dynUSPerDay, new(big.Int)) // Euclidean: rem >= 0
	r := rem.Int64()
	secs, micro := r/1e6, r%1e6
	s := fmt.Sprintf("%02d:%02d:%02d", secs/3600, secs%3600/60, secs%60)
	if days.Sign() != 0 {
		s = days.String() + " " + s
	}
	if micro != 0 {
		s += fmt.Sprintf(".%06d", micro)
	}
	return s
}
