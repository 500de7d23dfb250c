package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
)

// The layout preferences API: one opaque string per key per user, always
// the caller's own.
//
//	POST|GET|DELETE /api/users/preferences/{key}/
//
// Errors are Django REST framework's field maps, {"field": ["message"]}.
// DELETE is an extension (see docs/compat.md).

const layoutPath = "/api/users/preferences/:key"

var (
	layoutMethods = []string{http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodHead, http.MethodOptions}
	layoutAllow   = allowValue(layoutMethods)
)

func (s *server) routeLayout(r *gin.Engine) {
	pre := []gin.HandlerFunc{s.layoutAuth}
	handlers := map[string]gin.HandlerFunc{
		http.MethodGet:     s.layoutGet,
		http.MethodHead:    s.layoutGet,
		http.MethodPost:    s.layoutPost,
		http.MethodDelete:  s.layoutDelete,
		http.MethodOptions: options("User Preferences", []string{"application/json", "application/x-www-form-urlencoded"}, layoutMethods...),
	}
	route(r, layoutPath+"/", pre, methodNotAllowed(layoutMethods...), handlers)
	route(r, layoutPath, pre, methodNotAllowed(layoutMethods...), handlers)
}

// layoutAuth authenticates as djangorestframework-jwt does and refuses
// anonymous callers with 401.
func (s *server) layoutAuth(c *gin.Context) {
	c.Set(dialectKey, "layout")
	setSharedHeader(c, hdrAllow, layoutAllow)
	setHeader(c, hdrVary, "Accept")
	cr := s.authenticate(c)
	if cr.err != nil {
		clusterError(c, cr.err)
		return
	}
	if refused(c, cr) {
		return
	}
	if cr.failure != authOK || cr.user == nil {
		msg := msgNotAuthenticated
		if cr.failure != authOK {
			msg = drfAuthFailureMessage(cr)
		}
		c.Header("WWW-Authenticate", `JWT realm="api"`)
		detail(c, http.StatusUnauthorized, msg)
		return
	}
	if s.setUser(c, cr.user) {
		c.Next()
	}
}

// fieldErrors is DRF's validation error body.
type fieldErrors map[string][]string

func (f fieldErrors) add(field, msg string) { f[field] = append(f[field], msg) }

func (s *server) layoutGet(c *gin.Context) {
	u := currentUser(c)
	st, ok := s.read(c)
	if !ok {
		return
	}
	v, ok := st.Pref(u.ID, c.Param("key"))
	if !ok {
		detail(c, http.StatusNotFound, msgNotFound)
		return
	}
	respondWith(c, http.StatusOK, func(b []byte) []byte { return appendJSONObject1(b, "preferences", v) })
}

func (s *server) layoutDelete(c *gin.Context) {
	u := currentUser(c)
	res, ok := s.apply(c, fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: u.ID, Delete: []string{c.Param("key")}})
	if !ok {
		return
	}
	if res.Err != nil || res.Deleted == 0 {
		detail(c, http.StatusNotFound, msgNotFound)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *server) layoutPost(c *gin.Context) {
	data, ok := layoutBody(c)
	if !ok {
		return
	}
	u, key := currentUser(c), c.Param("key")
	q, ok := s.quotaOf(c, u, cluster.Stale)
	if !ok {
		return
	}
	value, errs := layoutValidate(key, data, q)
	if len(errs) > 0 {
		// Check again against the limits in force cluster-wide, in case
		// one was raised through another node a moment ago.
		if q, ok = s.quotaOf(c, u, cluster.Linearizable); !ok {
			return
		}
		value, errs = layoutValidate(key, data, q)
	}
	if len(errs) > 0 {
		respond(c, http.StatusBadRequest, errs)
		return
	}
	res, ok := s.apply(c, fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: u.ID, Set: []fsm.KV{{Key: key, Value: value}}})
	if !ok {
		return
	}
	if res.Err != nil {
		layoutApplyError(c, res.Err)
		return
	}
	c.Status(http.StatusCreated)
}

// layoutValidate checks a POST's key and body against q, returning the
// value to store or DRF's field errors.
func layoutValidate(key string, data map[string]any, q fsm.Quota) (string, fieldErrors) {
	errs := fieldErrors{}
	if int64(utf8.RuneCountInString(key)) > q.MaxKeyLength {
		errs.add("key", fmt.Sprintf("Ensure this field has no more than %d characters.", q.MaxKeyLength))
	}
	if !layoutKeyValid(key) {
		errs.add("key", "Enter a valid value.")
	}
	value, perr := layoutValue(data, q)
	if perr != "" {
		errs.add("preferences", perr)
	}
	return value, errs
}

// layoutBody parses the request body as DRF's default parsers do (JSON or
// a form) into a field map. A missing field is absent from the map; a JSON
// null is present with a nil value. It answers errors itself.
func layoutBody(c *gin.Context) (map[string]any, bool) {
	mt := mediaType(c)
	body, err := readBody(c)
	if bodyError(c, err) {
		return nil, false
	}
	switch {
	case mt == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			detail(c, http.StatusBadRequest, "Form parse error - "+err.Error())
			return nil, false
		}
		out := map[string]any{}
		for k, vs := range form {
			out[k] = vs[len(vs)-1]
		}
		return out, true
	case mt == "application/json", mt == "" && len(bytes.TrimSpace(body)) == 0:
	default:
		unsupportedMediaType(c)
		return nil, false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		parseError(c, err)
		return nil, false
	}
	if dec.More() {
		parseError(c, errors.New("extra data after the JSON value"))
		return nil, false
	}
	obj, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			respond(c, http.StatusBadRequest, fieldErrors{"non_field_errors": {"No data provided"}})
			return nil, false
		}
		respond(c, http.StatusBadRequest, fieldErrors{"non_field_errors": {
			fmt.Sprintf("Invalid data. Expected a dictionary, but got %s.", pyTypeName(v)),
		}})
		return nil, false
	}
	return obj, true
}

// pyTypeName is the Python type name (pyKindName) of a value
// encoding/json decoded: the layout dialect decodes its bodies into any,
// not pyValue.
func pyTypeName(v any) string {
	kind := byte('o')
	switch v := v.(type) {
	case nil:
		kind = 'n'
	case []any:
		kind = 'a'
	case string:
		kind = 's'
	case bool:
		kind = 'b'
	case json.Number:
		kind = 'i'
		if strings.ContainsAny(string(v), ".eE") {
			kind = 'f'
		}
	}
	return pyKindName(kind)
}

// layoutValue validates the preferences field as DRF's CharField does and
// returns the value to store, or the field's error message.
func layoutValue(data map[string]any, q fsm.Quota) (string, string) {
	raw, present := data["preferences"]
	if !present {
		return "", "This field is required."
	}
	var s string
	switch v := raw.(type) {
	case nil:
		return "", "This field may not be null."
	case string:
		s = v
	case json.Number:
		s = pyNumber(v)
	default:
		return "", "Not a valid string."
	}
	s = pyStrip(s)
	switch {
	case s == "":
		return "", "This field may not be blank."
	case int64(utf8.RuneCountInString(s)) > q.MaxValueLength:
		return "", fmt.Sprintf("Ensure this field has no more than %d characters.", q.MaxValueLength)
	case strings.ContainsRune(s, 0):
		return "", "Null characters are not allowed."
	}
	return s, ""
}

// pyNumber is Python's str() of a JSON number.
func pyNumber(n json.Number) string {
	if strings.ContainsAny(string(n), ".eE") {
		return pyFloat(string(n))
	}
	return pyInt(string(n))
}

// layoutKeyValid applies the documented key rule: letters, digits, '-'
// and '\' only.
func layoutKeyValid(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '\\') {
			return false
		}
	}
	return true
}

// layoutApplyError answers a refusal from the state machine.
func layoutApplyError(c *gin.Context, err *fsm.Error) {
	switch {
	case errors.Is(err, fsm.ErrTooManyPreferences):
		respond(c, http.StatusBadRequest, fieldErrors{"detail": {
			fmt.Sprintf("Limit of %d User Preferences for the User has been exceeded.", err.Limit),
		}})
	case errors.Is(err, fsm.ErrTooManyBytes):
		respond(c, http.StatusBadRequest, fieldErrors{"detail": {
			fmt.Sprintf("Limit of %d bytes of User Preferences for the User has been exceeded.", err.Limit),
		}})
	case errors.Is(err, fsm.ErrValueTooLong):
		respond(c, http.StatusBadRequest, fieldErrors{"preferences": {
			fmt.Sprintf("Ensure this field has no more than %d characters.", err.Limit),
		}})
	case errors.Is(err, fsm.ErrKeyTooLong):
		respond(c, http.StatusBadRequest, fieldErrors{"key": {
			fmt.Sprintf("Ensure this field has no more than %d characters.", err.Limit),
		}})
	case errors.Is(err, fsm.ErrUserNotFound):
		detail(c, http.StatusUnauthorized, "User not found.")
	default:
		detail(c, http.StatusBadRequest, "The preference could not be saved: "+err.Code+".")
	}
}
