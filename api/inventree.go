package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
)

// The InvenTree settings API, served as InvenTree API version 327 (document
// 001) answers it:
//
//	GET            /api/                                server information
//	GET            /api/settings/global/                every global setting
//	GET|PUT|PATCH  /api/settings/global/{key}/
//	GET            /api/settings/user/                  the caller's settings
//	GET|PUT|PATCH  /api/settings/user/{key}/
//	GET            /api/settings/notification/          the caller's notification settings
//	GET|PUT|PATCH  /api/settings/notification/{pk}/
//
// every URL with or without its trailing slash. Settings come from the
// replicated catalogue (registry inventree); a setting never written shows
// its default. Values are strings ("True", "10"), as API 327 serves them.
//
// Requests go through Django REST framework's steps in its order: URL
// resolution (a key outside \w is InvenTree's API catch-all), content
// negotiation, authentication, permissions, the method check (405), then
// the view. docs/compat.md lists where prefsd deliberately differs.

const (
	// itAPIVersion is the InvenTree API version served.
	itAPIVersion = 327
	// itServerVersion is the InvenTree release that served API 327.
	itServerVersion = "0.18.0 dev"
	// itPKShift places the owner's user id above the definition id in the
	// pk of a user or notification setting: pk = userID<<20 | definitionID.
	itPKShift = 20
	itPKMask  = 1<<itPKShift - 1
	// itObsoletePK marks the pk of a value whose definition was removed:
	// 2^52 plus 52 bits of a hash of the owner and the key, so that it
	// never meets a definition's pk and stays exact in JavaScript.
	itObsoletePK = 1 << 52
	// itMaxValueChars is the length of InvenTree's value column.
	itMaxValueChars = 2000

	msgITEndpointNotFound = "API endpoint not found"
	msgITNotAcceptable    = "Could not satisfy the request Accept header."
	msgITRequired         = "This field is required."
	msgITNotInteger       = "Provided value is not a valid integer"
	msgITNotFloat         = "Provided value is not a valid float"
	msgITNotChoice        = "Chosen value is not a valid option"
	msgITNotValid         = "Value does not pass validation checks"
)

// itView is one of the settings views: what its URL serves and what
// Django REST framework says about it.
type itView struct {
	scope  fsm.Scope
	detail bool
	// name and desc are the view's name and docstring, as OPTIONS shows
	// them.
	name, desc string
	methods    []string
}

var (
	itListMethods     = []string{http.MethodGet, http.MethodHead, http.MethodOptions}
	itDetailMethods   = []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodHead, http.MethodOptions}
	itNotFoundMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions}
	// itListAllow and itNotFoundAllow are their Allow header values.
	itListAllow     = allowValue(itListMethods)
	itNotFoundAllow = allowValue(itNotFoundMethods)
	// itParsers are Django REST framework's default parsers, in its order.
	itParsers = []string{"application/json", "application/x-www-form-urlencoded", "multipart/form-data"}
)

const itOwnOnly = "\n\n- User can only view / edit settings their own settings objects"

var itViews = []*itView{
	{scope: fsm.ScopeGlobal, name: "Global Settings List", methods: itListMethods,
		desc: "API endpoint for accessing a list of global settings objects."},
	{scope: fsm.ScopeGlobal, detail: true, name: "Global Settings Detail", methods: itDetailMethods,
		desc: "Detail view for an individual \"global setting\" object.\n\n- User must have 'staff' status to view / edit"},
	{scope: fsm.ScopeUser, name: "User Settings List", methods: itListMethods,
		desc: "API endpoint for accessing a list of user settings objects."},
	{scope: fsm.ScopeUser, detail: true, name: "User Settings Detail", methods: itDetailMethods,
		desc: "Detail view for an individual \"user setting\" object." + itOwnOnly},
	{scope: fsm.ScopeNotification, name: "Notification User Settings List", methods: itListMethods,
		desc: "API endpoint for accessing a list of notification user settings objects."},
	{scope: fsm.ScopeNotification, detail: true, name: "Notification User Settings Detail", methods: itDetailMethods,
		desc: "Detail view for an individual \"notification user setting\" object." + itOwnOnly},
}

func (s *server) routeInvenTree(r *gin.Engine) {
	info := map[string]gin.HandlerFunc{
		http.MethodGet:     s.itInfo,
		http.MethodHead:    s.itInfo,
		http.MethodOptions: itOptions("Info", "JSON endpoint for InvenTree server information.\n\nUse to confirm that the server is running, etc."),
	}
	for _, p := range []string{"/api/", "/api"} {
		route(r, p, []gin.HandlerFunc{s.itInfoPrelude}, methodNotAllowed(itListMethods...), info)
	}
	for _, v := range itViews {
		base := "/api/settings/" + string(v.scope)
		pre := []gin.HandlerFunc{s.itPrelude(v)}
		notAllowed := methodNotAllowed(v.methods...)
		if !v.detail {
			handlers := map[string]gin.HandlerFunc{
				http.MethodGet:     s.itList(v),
				http.MethodHead:    s.itList(v),
				http.MethodOptions: itOptions(v.name, v.desc),
			}
			route(r, base, pre, notAllowed, handlers)
			route(r, base+"/", pre, notAllowed, handlers)
			continue
		}
		handlers := map[string]gin.HandlerFunc{
			http.MethodGet:     s.itGetOne(v),
			http.MethodHead:    s.itGetOne(v),
			http.MethodPut:     s.itWrite(v, true),
			http.MethodPatch:   s.itWrite(v, false),
			http.MethodOptions: itOptions(v.name, v.desc),
		}
		param := "/:key"
		if v.scope == fsm.ScopeNotification {
			param = "/:pk"
		}
		route(r, base+param, pre, notAllowed, handlers)
		route(r, base+param+"/", pre, notAllowed, handlers)
	}
}

// ---------------------------------------------------------------------------
// The steps before a view

// itPrelude runs Django REST framework's steps before a settings view:
// URL resolution, content negotiation, authentication and permissions.
func (s *server) itPrelude(v *itView) gin.HandlerFunc {
	allow := allowValue(v.methods)
	return func(c *gin.Context) {
		c.Set(dialectKey, "inventree")
		if v.detail && !itRoutable(v, c) {
			s.itNotFound(c)
			return
		}
		setSharedHeader(c, hdrAllow, allow)
		if !itNegotiate(c) {
			return
		}
		u, ok := s.drfTokenAuth(c, true)
		if !ok {
			return
		}
		// GlobalSettingsPermissions: safe methods for everyone, the rest
		// for staff. It runs before the method check, so a non-staff
		// POST is 403, not 405.
		if v.scope == fsm.ScopeGlobal && !itSafeMethod(c.Request.Method) && !u.IsStaff {
			detail(c, http.StatusForbidden, msgPermissionDenied)
			return
		}
		if s.setUser(c, u) {
			c.Next()
		}
	}
}

// itRoutable reports whether the URL parameter matches InvenTree's route:
// \w+ for keys, an integer for notification pks.
func itRoutable(v *itView, c *gin.Context) bool {
	if v.scope == fsm.ScopeNotification {
		pk := c.Param("pk")
		return pk != "" && strings.Trim(pk, "0123456789") == ""
	}
	key := c.Param("key")
	if key == "" {
		return false
	}
	for _, r := range key {
		// Python's \w: alphanumeric characters and the underscore.
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsNumber(r) {
			return false
		}
	}
	return true
}

func itSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// itNegotiate applies Django REST framework's content negotiation with
// its only renderer, JSON: ?format= other than json is 404, an Accept
// header that admits no JSON is 406.
func itNegotiate(c *gin.Context) bool {
	if f, _ := itQueryOf(c).get("format"); f != "" && f != "json" {
		detail(c, http.StatusNotFound, msgNotFound)
		return false
	}
	header := "*/*"
	if vs, present := c.Request.Header["Accept"]; present {
		header = strings.Join(vs, ",")
	}
	for _, tok := range strings.Split(header, ",") {
		if itMediaMatches("application/json", tok) {
			return true
		}
	}
	detail(c, http.StatusNotAcceptable, msgITNotAcceptable)
	return false
}

// itMediaMatches reports whether the media type a client gave (an Accept
// entry or a Content-Type) admits want, as Django REST framework's
// media_type_matches does: wildcards match, parameters are ignored.
func itMediaMatches(want, given string) bool {
	full, _, _ := strings.Cut(given, ";")
	full = strings.ToLower(strings.TrimSpace(full))
	main, sub, _ := strings.Cut(full, "/")
	wantMain, wantSub, _ := strings.Cut(want, "/")
	return (sub == "*" || sub == wantSub) && (main == "*" || main == wantMain)
}

// itNotFound is InvenTree's API catch-all view: anyone may call it, and it
// answers with Django's JsonResponse, not Django REST framework's renderer.
func (s *server) itNotFound(c *gin.Context) {
	setSharedHeader(c, hdrAllow, itNotFoundAllow)
	if !itNegotiate(c) {
		return
	}
	if _, ok := s.drfTokenAuth(c, false); !ok {
		return
	}
	itJSONResponse(c, http.StatusNotFound, []itPair{
		{"detail", msgITEndpointNotFound},
		{"url", itAbsoluteURI(c)},
	})
}

// itOptions answers OPTIONS with Django REST framework's simple metadata.
// It is not drf.go's options: InvenTree's golden bodies keep DRF's key
// order (name, description, renders, parses), which options' map does not,
// carry a view description, and the prelude has already set Allow.
func itOptions(name, desc string) gin.HandlerFunc {
	return func(c *gin.Context) {
		respond(c, http.StatusOK, struct {
			Name        string   `json:"name"`
			Description string   `json:"description"`
			Renders     []string `json:"renders"`
			Parses      []string `json:"parses"`
		}{name, desc, []string{"application/json"}, itParsers})
	}
}

// ---------------------------------------------------------------------------
// Server information

// itInfoPrelude runs the steps before InvenTree's info view, which anyone
// may call; refused credentials still get 401.
func (s *server) itInfoPrelude(c *gin.Context) {
	c.Set(dialectKey, "inventree")
	setSharedHeader(c, hdrAllow, itListAllow)
	if !itNegotiate(c) {
		return
	}
	if _, ok := s.drfTokenAuth(c, false); !ok {
		return
	}
	c.Next()
}

// itInfo answers GET /api/, the endpoint clients call first: the server's
// name and API version, which inventree-python checks.
func (s *server) itInfo(c *gin.Context) {
	st, ok := s.read(c)
	if !ok {
		return
	}
	value := func(key string) (string, bool) {
		d, ok := st.SettingDef(fsm.RegistryInvenTree, fsm.ScopeGlobal, key)
		if !ok {
			return "", false
		}
		if v, ok := st.Setting(0, fsm.RegistryInvenTree, fsm.ScopeGlobal, key); ok {
			return v, true
		}
		return d.Default, true
	}
	var id any
	if announce, _ := value("INVENTREE_ANNOUNCE_ID"); announce == "True" {
		id, _ = value("INVENTREE_INSTANCE_ID")
	}
	instance, _ := value("INVENTREE_INSTANCE")
	itJSONResponse(c, http.StatusOK, []itPair{
		{"server", "InvenTree"},
		{"id", id},
		{"version", itServerVersion},
		{"instance", instance},
		{"apiVersion", itAPIVersion},
	})
}

// ---------------------------------------------------------------------------
// Rows and their serialization

// itRow is one setting as a view shows it.
type itRow struct {
	pk  uint64
	key string
	// def is nil for a value whose definition was removed.
	def   *fsm.SettingDef
	value string
	// user owns the value; 0 for global settings.
	user uint64
}

// itPK is a setting's pk: the definition id for global settings, the
// owner's id above it for user and notification settings.
func itPK(d *fsm.SettingDef, userID uint64) uint64 {
	return userID<<itPKShift | d.ID
}

// itObsolete is the pk of a value whose definition was removed.
func itObsolete(userID uint64, key string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(strconv.AppendUint(nil, userID, 10))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(key))
	return itObsoletePK | h.Sum64()&(itObsoletePK-1)
}

// itRowOf returns the row of a defined setting.
func itRowOf(st *fsm.State, scope fsm.Scope, userID uint64, d *fsm.SettingDef) itRow {
	v, ok := st.Setting(userID, fsm.RegistryInvenTree, scope, d.Key)
	if !ok {
		v = d.Default
	}
	return itRow{pk: itPK(d, userID), key: d.Key, def: d, value: v, user: userID}
}

// itRows lists a scope's settings for a user (0 for global) in pk order:
// every definition, with its default where no value was written, then the
// values whose definition is gone. Keys starting with "_" are internal:
// the global list never shows them, the others only once written.
func itRows(st *fsm.State, scope fsm.Scope, userID uint64) []itRow {
	// The values are read once, here, rather than looked up again for
	// each definition.
	values := st.Settings(userID, fsm.RegistryInvenTree, scope)
	stored := make(map[string]string, len(values))
	for _, kv := range values {
		stored[kv.Key] = kv.Value
	}
	defs := st.Catalog(fsm.RegistryInvenTree, scope)
	rows := make([]itRow, 0, len(defs))
	for _, d := range defs {
		v, written := stored[d.Key]
		if strings.HasPrefix(d.Key, "_") && (scope == fsm.ScopeGlobal || !written) {
			continue
		}
		if !written {
			v = d.Default
		}
		rows = append(rows, itRow{pk: itPK(d, userID), key: d.Key, def: d, value: v, user: userID})
	}
	var obsolete []itRow
	for _, kv := range values {
		if _, defined := st.SettingDef(fsm.RegistryInvenTree, scope, kv.Key); defined {
			continue
		}
		if scope == fsm.ScopeGlobal && strings.HasPrefix(kv.Key, "_") {
			continue
		}
		obsolete = append(obsolete, itRow{pk: itObsolete(userID, kv.Key), key: kv.Key, value: kv.Value, user: userID})
	}
	slices.SortFunc(obsolete, func(a, b itRow) int { return cmp.Compare(a.pk, b.pk) })
	return append(rows, obsolete...)
}

// itGlobal is GlobalSettingsSerializer's output (API 327: no read_only).
type itGlobal struct {
	PK          uint64       `json:"pk"`
	Key         string       `json:"key"`
	Value       string       `json:"value"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Type        string       `json:"type"`
	Units       string       `json:"units"`
	Choices     []fsm.Choice `json:"choices"`
	ModelName   *string      `json:"model_name"`
	APIURL      *string      `json:"api_url"`
	Typ         string       `json:"typ"`
}

// itUser is UserSettingsSerializer's output.
type itUser struct {
	PK          uint64       `json:"pk"`
	Key         string       `json:"key"`
	Value       string       `json:"value"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	User        uint64       `json:"user"`
	Type        string       `json:"type"`
	Units       string       `json:"units"`
	Choices     []fsm.Choice `json:"choices"`
	ModelName   *string      `json:"model_name"`
	APIURL      *string      `json:"api_url"`
	Typ         string       `json:"typ"`
}

// itNotification is the generic referenced-setting serializer's output with
// the notification method (API 327: model_filters, no units).
type itNotification struct {
	PK          uint64       `json:"pk"`
	Key         string       `json:"key"`
	Value       string       `json:"value"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Type        string       `json:"type"`
	Choices     []fsm.Choice `json:"choices"`
	ModelName   *string      `json:"model_name"`
	// ModelFilters is always null: prefsd holds no models to filter.
	ModelFilters json.RawMessage `json:"model_filters"`
	APIURL       *string         `json:"api_url"`
	Typ          string          `json:"typ"`
	Required     bool            `json:"required"`
	Method       string          `json:"method"`
}

// itModelURLs are the list URLs of the models a related setting can name,
// as their get_api_url() gives them.
var itModelURLs = map[string]string{
	"auth.user":           "/api/user/",
	"auth.group":          "/api/user/group/",
	"company.company":     "/api/company/",
	"part.part":           "/api/part/",
	"part.partcategory":   "/api/part/category/",
	"stock.stockitem":     "/api/stock/",
	"stock.stocklocation": "/api/stock/location/",
}

// itFields is what every scope's serializer shows of a row.
type itFields struct {
	value, name, desc, units, method, typ string
	choices                               []fsm.Choice
	modelName, apiURL                     *string
}

// itFieldsOf reads a row's fields from its definition, if it has one.
func itFieldsOf(r itRow) itFields {
	f := itFields{value: r.value, typ: "string", choices: []fsm.Choice{}}
	if d := r.def; d != nil {
		f.name, f.desc, f.units, f.method = d.Name, d.Description, d.Units, d.Method
		switch d.Type {
		case fsm.TypeBoolean:
			f.typ = "boolean"
		case fsm.TypeInteger:
			f.typ = "integer"
		case fsm.TypeRelated:
			f.typ = "related field"
		}
		if len(d.Choices) > 0 {
			f.choices = d.Choices
		}
		if d.ModelName != "" {
			m := d.ModelName
			f.modelName = &m
			if u, ok := itModelURLs[strings.ToLower(m)]; ok {
				f.apiURL = &u
			}
		}
		if d.Protected {
			f.value = "***"
		}
	}
	return f
}

// itRenderGlobal, itRenderUser and itRenderNotification serialize a row as
// each scope's serializer does.
func itRenderGlobal(r itRow) itGlobal {
	f := itFieldsOf(r)
	return itGlobal{r.pk, r.key, f.value, f.name, f.desc, f.typ, f.units, f.choices, f.modelName, f.apiURL, "inventree"}
}

func itRenderUser(r itRow) itUser {
	f := itFieldsOf(r)
	return itUser{r.pk, r.key, f.value, f.name, f.desc, r.user, f.typ, f.units, f.choices, f.modelName, f.apiURL, "user"}
}

func itRenderNotification(r itRow) itNotification {
	f := itFieldsOf(r)
	return itNotification{r.pk, r.key, f.value, f.name, f.desc, f.typ, f.choices, f.modelName, nil, f.apiURL, "notification", false, f.method}
}

// itAppendRow appends a row as its scope's serializer shows it: the JSON
// encoding/json writes for that serializer's struct, written without
// reflection. The handlers answer with this.
func itAppendRow(b []byte, r itRow, scope fsm.Scope) []byte {
	switch scope {
	case fsm.ScopeUser:
		u := itRenderUser(r)
		return u.appendJSON(b)
	case fsm.ScopeNotification:
		n := itRenderNotification(r)
		return n.appendJSON(b)
	}
	g := itRenderGlobal(r)
	return g.appendJSON(b)
}

// itAppendRows appends the JSON array of rows, each as itAppendRow writes
// it.
func itAppendRows(b []byte, rows []itRow, scope fsm.Scope) []byte {
	b = append(b, '[')
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = itAppendRow(b, r, scope)
	}
	return append(b, ']')
}

// itAppendCommon appends the members every serializer starts with: pk,
// key, value, name and description.
func itAppendCommon(b []byte, pk uint64, key, value, name, desc string) []byte {
	b = append(b, `{"pk":`...)
	b = strconv.AppendUint(b, pk, 10)
	b = append(b, `,"key":`...)
	b = appendJSONString(b, key)
	b = append(b, `,"value":`...)
	b = appendJSONString(b, value)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, name)
	b = append(b, `,"description":`...)
	return appendJSONString(b, desc)
}

// itAppendChoices appends choices as encoding/json writes a []fsm.Choice.
func itAppendChoices(b []byte, choices []fsm.Choice) []byte {
	if choices == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, ch := range choices {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"value":`...)
		b = appendJSONString(b, ch.Value)
		b = append(b, `,"display_name":`...)
		b = appendJSONString(b, ch.DisplayName)
		b = append(b, '}')
	}
	return append(b, ']')
}

// itAppendModel appends the members from choices to typ, which the global
// and user serializers share.
func itAppendModel(b []byte, choices []fsm.Choice, modelName, apiURL *string, typ string) []byte {
	b = append(b, `,"choices":`...)
	b = itAppendChoices(b, choices)
	b = append(b, `,"model_name":`...)
	b = appendJSONOptString(b, modelName)
	b = append(b, `,"api_url":`...)
	b = appendJSONOptString(b, apiURL)
	b = append(b, `,"typ":`...)
	return appendJSONString(b, typ)
}

// appendJSON appends g as encoding/json writes it.
func (g *itGlobal) appendJSON(b []byte) []byte {
	b = itAppendCommon(b, g.PK, g.Key, g.Value, g.Name, g.Description)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, g.Type)
	b = append(b, `,"units":`...)
	b = appendJSONString(b, g.Units)
	b = itAppendModel(b, g.Choices, g.ModelName, g.APIURL, g.Typ)
	return append(b, '}')
}

// appendJSON appends u as encoding/json writes it.
func (u *itUser) appendJSON(b []byte) []byte {
	b = itAppendCommon(b, u.PK, u.Key, u.Value, u.Name, u.Description)
	b = append(b, `,"user":`...)
	b = strconv.AppendUint(b, u.User, 10)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, u.Type)
	b = append(b, `,"units":`...)
	b = appendJSONString(b, u.Units)
	b = itAppendModel(b, u.Choices, u.ModelName, u.APIURL, u.Typ)
	return append(b, '}')
}

// appendJSON appends n as encoding/json writes it.
func (n *itNotification) appendJSON(b []byte) []byte {
	b = itAppendCommon(b, n.PK, n.Key, n.Value, n.Name, n.Description)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, n.Type)
	b = append(b, `,"choices":`...)
	b = itAppendChoices(b, n.Choices)
	b = append(b, `,"model_name":`...)
	b = appendJSONOptString(b, n.ModelName)
	b = append(b, `,"model_filters":`...)
	b = appendJSONRaw(b, n.ModelFilters)
	b = append(b, `,"api_url":`...)
	b = appendJSONOptString(b, n.APIURL)
	b = append(b, `,"typ":`...)
	b = appendJSONString(b, n.Typ)
	b = append(b, `,"required":`...)
	b = strconv.AppendBool(b, n.Required)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, n.Method)
	return append(b, '}')
}

// ---------------------------------------------------------------------------
// Lists

// itPage is LimitOffsetPagination's answer.
type itPage struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	// Results are the page's rows, shown as scope's serializer shows
	// them (itAppendRows).
	Results []itRow `json:"-"`
	scope   fsm.Scope
}

// appendJSON appends p as encoding/json would write it with a "results"
// member, last, holding the serialized rows.
func (p *itPage) appendJSON(b []byte) []byte {
	b = append(b, `{"count":`...)
	b = strconv.AppendInt(b, int64(p.Count), 10)
	b = append(b, `,"next":`...)
	b = appendJSONOptString(b, p.Next)
	b = append(b, `,"previous":`...)
	b = appendJSONOptString(b, p.Previous)
	b = append(b, `,"results":`...)
	b = itAppendRows(b, p.Results, p.scope)
	return append(b, '}')
}

func (s *server) itList(v *itView) gin.HandlerFunc {
	return func(c *gin.Context) {
		st, ok := s.read(c)
		if !ok {
			return
		}
		var userID uint64
		if v.scope != fsm.ScopeGlobal {
			userID = currentUser(c).ID
		}
		q := itQueryOf(c)
		rows := itSearch(itRows(st, v.scope, userID), q)
		itOrder(rows, q)
		// Without a valid limit there is no pagination: a plain array.
		limit, ok := itPositiveInt(q, "limit", true)
		if !ok {
			respondWith(c, http.StatusOK, func(b []byte) []byte { return itAppendRows(b, rows, v.scope) })
			return
		}
		offset, ok := itPositiveInt(q, "offset", false)
		if !ok {
			offset = 0
		}
		// The page is rows[offset:offset+limit], written so that nothing
		// overflows; there is a next page while offset+limit < count.
		count := int64(len(rows))
		page := itPage{Count: len(rows), scope: v.scope}
		more := limit < count-offset
		if offset <= count {
			end := count
			if more {
				end = offset + limit
			}
			page.Results = rows[offset:end]
		}
		base := itAbsoluteBase(c)
		if more {
			next := base + "?" + q.with("limit", limit).with("offset", offset+limit).encode()
			page.Next = &next
		}
		if offset > 0 {
			prev := q.with("limit", limit)
			if offset-limit <= 0 {
				prev = prev.without("offset")
			} else {
				prev = prev.with("offset", offset-limit)
			}
			link := base + "?" + prev.encode()
			page.Previous = &link
		}
		respondWith(c, http.StatusOK, page.appendJSON)
	}
}

// itSearch applies InvenTree's search filter on the key: every term (split
// on white space and commas) must occur, case-insensitively; with
// search_regex each term is a regular expression, and with search_whole it
// must match whole words.
func itSearch(rows []itRow, q itParams) []itRow {
	raw, _ := q.get("search")
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\x00", ""), ",", " ")
	terms := strings.FieldsFunc(raw, pyIsSpace)
	if len(terms) == 0 {
		return rows
	}
	regex := itStr2Bool(q.value("search_regex"))
	whole := itStr2Bool(q.value("search_whole"))
	match := make([]func(string) bool, 0, len(terms))
	for _, term := range terms {
		if whole {
			term = `\y` + term + `\y`
		}
		if !regex {
			upper := strings.ToUpper(term)
			match = append(match, func(key string) bool { return strings.Contains(strings.ToUpper(key), upper) })
			continue
		}
		// PostgreSQL's \y is a word boundary. A pattern that does not
		// compile matches nothing.
		re, err := regexp.Compile(`(?i)` + strings.ReplaceAll(term, `\y`, `\b`))
		if err != nil {
			return []itRow{}
		}
		match = append(match, re.MatchString)
	}
	out := []itRow{}
	for _, r := range rows {
		ok := true
		for _, m := range match {
			if !m(r.key) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// itOrder applies ?ordering=: a comma-separated list of pk, key and name,
// each optionally prefixed with "-"; other names are ignored. Ties keep pk
// order.
func itOrder(rows []itRow, q itParams) {
	raw, _ := q.get("ordering")
	if raw == "" {
		return
	}
	var fields []string
	for _, f := range strings.Split(raw, ",") {
		f = pyStrip(f)
		switch strings.TrimPrefix(f, "-") {
		case "pk", "key", "name":
			fields = append(fields, f)
		}
	}
	name := func(r itRow) string {
		if r.def == nil {
			return ""
		}
		return r.def.Name
	}
	slices.SortStableFunc(rows, func(a, b itRow) int {
		for _, f := range fields {
			var c int
			switch strings.TrimPrefix(f, "-") {
			case "pk":
				c = cmp.Compare(a.pk, b.pk)
			case "key":
				c = strings.Compare(a.key, b.key)
			case "name":
				c = strings.Compare(name(a), name(b))
			}
			if strings.HasPrefix(f, "-") {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

// ---------------------------------------------------------------------------
// Details

// itObject finds the setting a detail URL names, for the caller: 404 for a
// key that is not defined or starts with "_", 403 for another user's
// notification setting. It answers errors itself.
func itObject(c *gin.Context, st *fsm.State, v *itView) (itRow, bool) {
	u := currentUser(c)
	if v.scope == fsm.ScopeNotification {
		return itNotificationObject(c, st, u)
	}
	key := strings.ToUpper(c.Param("key"))
	d, ok := st.SettingDef(fsm.RegistryInvenTree, v.scope, key)
	if !ok || strings.HasPrefix(key, "_") {
		detail(c, http.StatusNotFound, msgNotFound)
		return itRow{}, false
	}
	var userID uint64
	if v.scope == fsm.ScopeUser {
		userID = u.ID
	}
	return itRowOf(st, v.scope, userID, d), true
}

// itNotificationObject resolves a notification setting's pk: the caller's
// own, 403 for another user's, 404 for none.
func itNotificationObject(c *gin.Context, st *fsm.State, u *fsm.User) (itRow, bool) {
	pk, err := strconv.ParseUint(c.Param("pk"), 10, 64)
	if err != nil {
		detail(c, http.StatusNotFound, msgNotFound)
		return itRow{}, false
	}
	defs := st.Catalog(fsm.RegistryInvenTree, fsm.ScopeNotification)
	for _, d := range defs {
		if itPK(d, u.ID) == pk {
			return itRowOf(st, fsm.ScopeNotification, u.ID, d), true
		}
	}
	if owner := pk >> itPKShift; owner != u.ID {
		if _, exists := st.UserByID(owner); exists {
			for _, d := range defs {
				if itPK(d, owner) == pk {
					detail(c, http.StatusForbidden, msgPermissionDenied)
					return itRow{}, false
				}
			}
		}
	}
	detail(c, http.StatusNotFound, msgNotFound)
	return itRow{}, false
}

func (s *server) itGetOne(v *itView) gin.HandlerFunc {
	return func(c *gin.Context) {
		st, ok := s.read(c)
		if !ok {
			return
		}
		row, ok := itObject(c, st, v)
		if !ok {
			return
		}
		respondWith(c, http.StatusOK, func(b []byte) []byte { return itAppendRow(b, row, v.scope) })
	}
}

// itWrite serves PUT and PATCH: only value is writable, PUT requires it.
// The answer is the setting as a linearizable read sees it after the
// write.
func (s *server) itWrite(v *itView, put bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		st, ok := s.read(c)
		if !ok {
			return
		}
		row, ok := itObject(c, st, v)
		if !ok {
			return
		}
		raw, present, ok := itValue(c)
		if !ok {
			return
		}
		if !present {
			if put {
				respond(c, http.StatusBadRequest, fieldErrors{"value": {msgITRequired}})
				return
			}
			respondWith(c, http.StatusOK, func(b []byte) []byte { return itAppendRow(b, row, v.scope) })
			return
		}
		value, errs := itCoerce(row.def, raw)
		if errs != nil {
			respond(c, http.StatusBadRequest, errs)
			return
		}
		res, ok := s.apply(c, fsm.CmdSetSettings, fsm.SetSettings{
			Registry: fsm.RegistryInvenTree, Scope: v.scope, UserID: row.user,
			Values: []fsm.KV{{Key: row.key, Value: value}},
		})
		if !ok {
			return
		}
		if res.Err != nil {
			itApplyError(c, res.Err, row.def, value)
			return
		}
		st, err := s.cluster.Read(c.Request.Context(), cluster.Linearizable)
		if err != nil {
			clusterError(c, err)
			return
		}
		d, ok := st.SettingDef(fsm.RegistryInvenTree, v.scope, row.key)
		if !ok {
			detail(c, http.StatusNotFound, msgNotFound)
			return
		}
		fresh := itRowOf(st, v.scope, row.user, d)
		respondWith(c, http.StatusOK, func(b []byte) []byte { return itAppendRow(b, fresh, v.scope) })
	}
}

// itValue reads the value field of a write's body, as Django REST
// framework's parsers and the settings serializer read it: Python's str()
// of a JSON value, "" for null, the last form field. present is false
// when the body has no value field. It answers errors itself.
func itValue(c *gin.Context) (value string, present, ok bool) {
	body, err := readBody(c)
	if bodyError(c, err) {
		return "", false, false
	}
	if len(body) == 0 {
		return "", false, true
	}
	ct := requestHeader(c, hdrContentType)
	parser := ""
	for _, p := range itParsers {
		if itMediaMatches(p, ct) {
			parser = p
			break
		}
	}
	switch parser {
	case "application/json":
		v, err := parsePy(body)
		if err != nil {
			parseError(c, err)
			return "", false, false
		}
		if v.kind != 'o' {
			msg := "No data provided"
			if v.kind != 'n' {
				msg = fmt.Sprintf("Invalid data. Expected a dictionary, but got %s.", pyKindName(v.kind))
			}
			respond(c, http.StatusBadRequest, fieldErrors{"non_field_errors": {msg}})
			return "", false, false
		}
		for i, k := range v.keys {
			if k != "value" {
				continue
			}
			if v.values[i].kind == 'n' {
				return "", true, true
			}
			return pyStr(v.values[i]), true, true
		}
		return "", false, true
	case "application/x-www-form-urlencoded":
		value, present = itParseQS(string(body)).get("value")
		return value, present, true
	case "multipart/form-data":
		return itMultipartValue(c, ct, body)
	}
	unsupportedMediaType(c)
	return "", false, false
}

// itBoundary is Django's check of a multipart boundary.
var itBoundary = regexp.MustCompile(`^[ -~]{0,200}[!-~]$`)

// itMultipartValue reads the value field of a multipart body; a file sent
// as value stands for its file name, as str() of an upload does.
func itMultipartValue(c *gin.Context, ct string, body []byte) (string, bool, bool) {
	_, params, _ := mime.ParseMediaType(ct)
	boundary, has := params["boundary"]
	if !has || !itBoundary.MatchString(boundary) {
		shown := "None"
		if has {
			shown = boundary
		}
		detail(c, http.StatusBadRequest, "Multipart form parse error - Invalid boundary in multipart: "+shown)
		return "", false, false
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var value, file string
	var present, hasFile bool
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			detail(c, http.StatusBadRequest, "Multipart form parse error - "+err.Error())
			return "", false, false
		}
		if p.FormName() != "value" {
			continue
		}
		if name := p.FileName(); name != "" {
			file, hasFile = strings.ToValidUTF8(name, "\uFFFD"), true
			continue
		}
		b, err := io.ReadAll(p)
		if err != nil {
			detail(c, http.StatusBadRequest, "Multipart form parse error - "+err.Error())
			return "", false, false
		}
		value, present = strings.ToValidUTF8(string(b), "\uFFFD"), true
	}
	if hasFile {
		return file, true, true
	}
	return value, present, true
}

// itErrors is a 400 body of InvenTree's settings: the value column's own
// errors under "value", then the model's clean() errors under
// "non_field_errors".
func itErrors(value, nonField []string) *orderedErrors[[]string] {
	errs := &orderedErrors[[]string]{}
	if len(value) > 0 {
		errs.set("value", value)
	}
	if len(nonField) > 0 {
		errs.set("non_field_errors", nonField)
	}
	return errs
}

// itCoerce turns a written value into the canonical form of the setting's
// type, as InvenTree's full_clean() does: the column length first, then
// clean() (coercion to the native type, the validators, the choices). It
// returns InvenTree's errors instead when the value is refused.
func itCoerce(d *fsm.SettingDef, raw string) (string, *orderedErrors[[]string]) {
	var valueErrs []string
	if utf8.RuneCountInString(raw) > itMaxValueChars {
		valueErrs = append(valueErrs, fmt.Sprintf("Ensure this field has no more than %d characters.", itMaxValueChars))
	}
	v := raw
	switch d.Type {
	case fsm.TypeBoolean:
		// Booleans never fail: anything but a truthy word is False.
		v = "False"
		if itStr2Bool(raw) {
			v = "True"
		}
	case fsm.TypeInteger:
		n, ok := itParseInt(raw)
		if !ok {
			return "", itErrors(valueErrs, []string{msgITNotInteger})
		}
		v = strconv.FormatInt(n, 10)
	}
	if len(valueErrs) > 0 {
		return "", itErrors(valueErrs, nil)
	}
	if vErrs, nfErrs := itReason(d, v, fsm.ValidateSetting(d, v)); len(vErrs)+len(nfErrs) > 0 {
		return "", itErrors(vErrs, nfErrs)
	}
	// InvenTree's own checks, stricter than the catalogue's.
	if d.Validator == "url" && !itValidURL(v) {
		return "", itErrors(nil, []string{"Enter a valid URL."})
	}
	if len(d.Choices) > 0 && !slices.ContainsFunc(d.Choices, func(ch fsm.Choice) bool { return ch.Value == v }) {
		return "", itErrors(nil, []string{msgITNotChoice})
	}
	return v, nil
}

// itReason turns the catalogue's reason for refusing v into InvenTree's
// errors: those of the value column, and those of clean().
func itReason(d *fsm.SettingDef, v, reason string) (value, nonField []string) {
	if d.Message != "" && (reason == fsm.ReasonRegex || reason == fsm.ReasonValidator) {
		return nil, []string{d.Message}
	}
	switch reason {
	case "":
		return nil, nil
	case fsm.ReasonTooLong:
		return []string{fmt.Sprintf("Ensure this field has no more than %d characters.", itMaxValueChars)}, nil
	case fsm.ReasonType:
		switch d.Type {
		case fsm.TypeInteger:
			return nil, []string{msgITNotInteger}
		case fsm.TypeFloat, fsm.TypeDecimal:
			return nil, []string{msgITNotFloat}
		}
		return []string{msgITNotValid}, nil
	case fsm.ReasonChoice:
		return nil, []string{msgITNotChoice}
	case fsm.ReasonMin:
		if d.Min != nil {
			return nil, []string{"Ensure this value is greater than or equal to " + itLimit(*d.Min) + "."}
		}
	case fsm.ReasonMax:
		if d.Max != nil {
			return nil, []string{"Ensure this value is less than or equal to " + itLimit(*d.Max) + "."}
		}
	case fsm.ReasonRegex:
		return nil, []string{"Enter a valid value."}
	case fsm.ReasonValidator:
		switch d.Validator {
		case "currency_codes":
			if msg := fsm.CheckCurrencyCodes(v); msg != "" {
				return nil, []string{msg}
			}
		case "url":
			return nil, []string{"Enter a valid URL."}
		}
	}
	return []string{msgITNotValid}, nil
}

// itApplyError answers the state machine's refusal of a write, which a
// concurrent catalogue change can cause after the handler's own checks.
func itApplyError(c *gin.Context, err *fsm.Error, d *fsm.SettingDef, v string) {
	switch {
	case errors.Is(err, fsm.ErrSettingUnknown), errors.Is(err, fsm.ErrUserNotFound):
		detail(c, http.StatusNotFound, msgNotFound)
	case errors.Is(err, fsm.ErrSettingInvalid):
		value, nonField := itReason(d, v, err.Reason)
		respond(c, http.StatusBadRequest, itErrors(value, nonField))
	default:
		detail(c, http.StatusBadRequest, "The setting could not be saved: "+err.Code+".")
	}
}

// itLimit formats a validator's limit as Python prints it: an integer
// without a fraction, anything else as a float.
func itLimit(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return pyFloat(strconv.FormatFloat(f, 'g', -1, 64))
}

// itHostLabel is one label of a host name.
var itHostLabel = regexp.MustCompile(`^[a-zA-Z0-9\x{00a1}-\x{ffff}]([a-zA-Z0-9\x{00a1}-\x{ffff}-]{0,61}[a-zA-Z0-9\x{00a1}-\x{ffff}])?$`)

// itValidURL applies InvenTree's base URL validator: empty (after
// trimming), or an http or https URL whose host is a name (a top-level
// domain is optional), localhost or an IP address, with an optional port.
func itValidURL(v string) bool {
	v = pyStrip(v)
	if v == "" {
		return true
	}
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok || (!strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https")) || strings.ContainsFunc(v, pyIsSpace) {
		return false
	}
	u, err := url.Parse(strings.ToLower(scheme) + "://" + rest)
	if err != nil || u.Host == "" {
		return false
	}
	host := u.Hostname()
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n > 65535 || len(port) > 5 {
			return false
		}
	}
	if strings.HasPrefix(u.Host, "[") {
		return strings.Contains(host, ":")
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if !itHostLabel.MatchString(label) {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Python and Django helpers

// itStr2Bool is InvenTree's str2bool: a truthy word, case-insensitively.
func itStr2Bool(s string) bool {
	switch strings.ToLower(s) {
	case "1", "y", "yes", "t", "true", "ok", "on":
		return true
	}
	return false
}

// itParseInt parses a string as Python's int() does (pyIntLiteral) and
// keeps it only if it fits an int64: InvenTree's integer settings and
// page parameters are bounded far below, so a larger value is refused
// here. Unlike pyParseInt, it sets no limit on the number of digits, so
// leading zeros beyond Python's 4300-digit limit are still accepted, as
// this dialect always has.
func itParseInt(s string) (int64, bool) {
	neg, digits, ok := pyIntLiteral(s)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	switch {
	case neg && n <= 1<<63:
		return int64(-n), true
	case !neg && n <= math.MaxInt64:
		return int64(n), true
	}
	return 0, false
}

// itParams is a parsed query string: keys in order of first appearance,
// each with its values in order, as Python's parse_qs keeps them.
type itParams struct {
	keys   []string
	values map[string][]string
}

// itParseQS parses a query string or a form body as Python's parse_qs
// with keep_blank_values does: "&"-separated pairs, "+" for space,
// undecodable percent signs kept as they are.
func itParseQS(raw string) itParams {
	q := itParams{values: map[string][]string{}}
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		q.add(pyUnquotePlus(k), pyUnquotePlus(v))
	}
	return q
}

func (q *itParams) add(k, v string) {
	if _, ok := q.values[k]; !ok {
		q.keys = append(q.keys, k)
	}
	q.values[k] = append(q.values[k], v)
}

// get returns a parameter's last value, as a Django QueryDict does.
func (q itParams) get(k string) (string, bool) {
	vs := q.values[k]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

func (q itParams) value(k string) string {
	v, _ := q.get(k)
	return v
}

// with returns a copy of q with k set to the one value n.
func (q itParams) with(k string, n int64) itParams {
	out := q.without(k)
	out.add(k, strconv.FormatInt(n, 10))
	return out
}

// without returns a copy of q without k.
func (q itParams) without(k string) itParams {
	out := itParams{values: map[string][]string{}}
	for _, key := range q.keys {
		if key != k {
			for _, v := range q.values[key] {
				out.add(key, v)
			}
		}
	}
	return out
}

// encode renders q as Django REST framework's pagination links do: keys
// sorted, each value quoted as Python's quote_plus quotes it.
func (q itParams) encode() string {
	keys := slices.Clone(q.keys)
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range q.values[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String()
}

// itQuery returns the request's query parameters, parsed once.
func itQueryOf(c *gin.Context) itParams {
	const key = "prefsd.inventree.query"
	if v, ok := c.Get(key); ok {
		return v.(itParams)
	}
	q := itParseQS(c.Request.URL.RawQuery)
	c.Set(key, q)
	return q
}

// itPositiveInt reads a pagination parameter as LimitOffsetPagination does:
// Python's int() of the last value, at least zero (at least one if
// strict).
func itPositiveInt(q itParams, name string, strict bool) (int64, bool) {
	raw, ok := q.get(name)
	if !ok {
		return 0, false
	}
	n, ok := itParseInt(raw)
	if !ok || n < 0 || n == 0 && strict {
		return 0, false
	}
	return n, true
}

// itAbsoluteBase is Django's build_absolute_uri() without the query.
func itAbsoluteBase(c *gin.Context) string {
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host + itQuote(c.Request.URL.Path, "/:@&+$,!*'()")
}

// itAbsoluteURI is Django's build_absolute_uri(): the path quoted as
// escape_uri_path does, the query as iri_to_uri does.
func itAbsoluteURI(c *gin.Context) string {
	u := itAbsoluteBase(c)
	if rq := c.Request.URL.RawQuery; rq != "" {
		u += "?" + itQuote(rq, "/#%[]=:;$&()+,!?*@'")
	}
	return u
}

// itQuote is Python's urllib.parse.quote: letters, digits, "_.-~" and the
// safe characters stay, every other byte becomes %XX.
func itQuote(s, safe string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("_.-~", c) >= 0 || strings.IndexByte(safe, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// itPair is one entry of a JSON object written as Python's json.dumps
// writes it.
type itPair struct {
	key   string
	value any
}

// itJSONResponse answers as Django's JsonResponse does: json.dumps with
// its default separators and ASCII escapes, Content-Type application/json.
func itJSONResponse(c *gin.Context, status int, pairs []itPair) {
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range pairs {
		if i > 0 {
			b.WriteString(", ")
		}
		itDumpString(&b, p.key)
		b.WriteString(": ")
		switch v := p.value.(type) {
		case nil:
			b.WriteString("null")
		case string:
			itDumpString(&b, v)
		case int:
			b.WriteString(strconv.Itoa(v))
		case bool:
			b.WriteString(strconv.FormatBool(v))
		default:
			itDumpString(&b, fmt.Sprint(v))
		}
	}
	b.WriteByte('}')
	c.Data(status, "application/json", []byte(b.String()))
	c.Abort()
}

// itDumpString writes a JSON string as Python's json.dumps does with
// ensure_ascii: every character outside space to tilde escaped.
func itDumpString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= ' ' && r <= '~':
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
}
