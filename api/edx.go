package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
)

// The Open edX user preferences API:
//
//	GET|PATCH          /api/user/v1/preferences/{username}[/]
//	GET|PUT|DELETE     /api/user/v1/preferences/{username}/{key}
//
// Values are stored as Python's str() of the JSON value sent, PATCH is a
// flat merge-patch where null deletes, and refusals for another user's data
// are 403 or 404 with an empty body, as docs/compat.md describes.

const (
	edxList   = "/api/user/v1/preferences/:username"
	edxDetail = "/api/user/v1/preferences/:username/:key"

	mediaMergePatch = "application/merge-patch+json"
	msgEdxNoData    = "No data provided for user preference update"
)

var (
	edxListMethods   = []string{http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPatch}
	edxDetailMethods = []string{http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete}
)

func (s *server) routeEdx(r *gin.Engine) {
	list := []gin.HandlerFunc{s.edxAuth(`JWT realm="api"`, edxListMethods)}
	listHandlers := map[string]gin.HandlerFunc{
		http.MethodGet:     s.edxGetAll,
		http.MethodHead:    s.edxGetAll,
		http.MethodPatch:   s.edxPatch,
		http.MethodOptions: options("Preferences", []string{mediaMergePatch}, edxListMethods...),
	}
	route(r, edxList, list, methodNotAllowed(edxListMethods...), listHandlers)
	route(r, edxList+"/", list, methodNotAllowed(edxListMethods...), listHandlers)

	detail := []gin.HandlerFunc{s.edxAuth(`Bearer realm="api"`, edxDetailMethods)}
	route(r, edxDetail, detail, methodNotAllowed(edxDetailMethods...), map[string]gin.HandlerFunc{
		http.MethodGet:     s.edxGetOne,
		http.MethodHead:    s.edxGetOne,
		http.MethodPut:     s.edxPut,
		http.MethodDelete:  s.edxDelete,
		http.MethodOptions: options("Preferences Detail", []string{"application/json"}, edxDetailMethods...),
	})
}

// edxAuth authenticates as the edX views do and refuses anonymous callers
// with 401 before anything else, including a 405. challenge is the
// WWW-Authenticate value of the view's first authentication class.
func (s *server) edxAuth(challenge string, methods []string) gin.HandlerFunc {
	allow := allowValue(methods)
	return func(c *gin.Context) {
		c.Set(dialectKey, "edx")
		setSharedHeader(c, hdrAllow, allow)
		setHeader(c, hdrVary, "Accept")
		cr := s.authenticate(c)
		if cr.err != nil {
			clusterError(c, cr.err)
			return
		}
		if refused(c, cr) {
			return
		}
		if cr.failure != authOK {
			c.Header("WWW-Authenticate", challenge)
			respond(c, http.StatusUnauthorized, edxAuthFailure(cr))
			return
		}
		if cr.user == nil {
			c.Header("WWW-Authenticate", challenge)
			detail(c, http.StatusUnauthorized, msgNotAuthenticated)
			return
		}
		if s.setUser(c, cr.user) {
			c.Next()
		}
	}
}

// edxTokenError is the body of Open edX's Bearer authentication failures.
// A struct, not a map, keeps the original's key order: error_code first.
type edxTokenError struct {
	ErrorCode        string `json:"error_code"`
	DeveloperMessage string `json:"developer_message"`
}

// edxAuthFailure is the 401 body for refused credentials: Open edX's Bearer
// authentication answers with an error_code, the others with DRF's detail.
func edxAuthFailure(cr credentials) any {
	if cr.scheme == "bearer" {
		switch cr.failure {
		case authNotProvided:
			return edxTokenError{"token_not_provided", "Invalid token header. No credentials provided."}
		case authMalformed:
			return edxTokenError{"token_malformed", "Invalid token header. Token string should not contain spaces."}
		case authJWTExpired:
			return edxTokenError{"token_expired", "The provided access token has expired and is no longer valid."}
		default:
			return edxTokenError{"token_nonexistent", "The provided access token does not match any valid tokens."}
		}
	}
	return gin.H{"detail": drfAuthFailureMessage(cr)}
}

// edxPair is Open edX's error pair.
type edxPair struct {
	DeveloperMessage string `json:"developer_message"`
	UserMessage      string `json:"user_message"`
}

func samePair(msg string) edxPair { return edxPair{DeveloperMessage: msg, UserMessage: msg} }

// edxRefuse answers an empty-bodied 403 or 404.
func edxRefuse(c *gin.Context, status int) {
	c.AbortWithStatus(status)
}

// edxCanRead applies the read rule: the owner and staff may read; anyone
// else gets 404, so that the account's existence is not revealed.
func edxCanRead(c *gin.Context, u *fsm.User, username string) bool {
	if sameUser(u, username) || u.IsStaff {
		return true
	}
	edxRefuse(c, http.StatusNotFound)
	return false
}

// edxCanWrite applies the write rule: only the owner may write; staff get
// 403 and anyone else 404.
func edxCanWrite(c *gin.Context, u *fsm.User, username string) bool {
	switch {
	case sameUser(u, username):
		return true
	case u.IsStaff:
		edxRefuse(c, http.StatusForbidden)
	default:
		edxRefuse(c, http.StatusNotFound)
	}
	return false
}

// sameUser reports whether u is the user named in the URL. Usernames are
// unique case-insensitively, so they are compared that way.
func sameUser(u *fsm.User, username string) bool {
	return strings.EqualFold(u.Username, username)
}

// edxReadTarget applies the read rule and returns a state at the request's
// consistency level with the user named in the URL, answering refusals
// itself.
func (s *server) edxReadTarget(c *gin.Context) (*fsm.State, *fsm.User, bool) {
	username := c.Param("username")
	if !edxCanRead(c, currentUser(c), username) {
		return nil, nil, false
	}
	st, ok := s.read(c)
	if !ok {
		return nil, nil, false
	}
	target, ok := st.UserByName(username)
	if !ok {
		edxRefuse(c, http.StatusNotFound)
		return nil, nil, false
	}
	return st, target, true
}

func (s *server) edxGetAll(c *gin.Context) {
	st, target, ok := s.edxReadTarget(c)
	if !ok {
		return
	}
	prefs := st.Prefs(target.ID)
	respondWith(c, http.StatusOK, func(b []byte) []byte { return appendEdxPrefs(b, prefs) })
}

// appendEdxPrefs appends the JSON object of a user's preferences, as
// respond writes a map[string]string of them: the state lists them in
// bytewise key order, which is the order encoding/json sorts a map's keys
// in, so they are written as they come, without building and sorting a
// map.
func appendEdxPrefs(b []byte, prefs []fsm.KV) []byte {
	b = append(b, '{')
	for i, kv := range prefs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONMember(b, kv.Key, kv.Value)
	}
	return append(b, '}')
}

func (s *server) edxGetOne(c *gin.Context) {
	st, target, ok := s.edxReadTarget(c)
	if !ok {
		return
	}
	v, ok := st.Pref(target.ID, c.Param("key"))
	if !ok {
		edxRefuse(c, http.StatusNotFound)
		return
	}
	respondWith(c, http.StatusOK, func(b []byte) []byte { return appendJSONString(b, v) })
}

func (s *server) edxPatch(c *gin.Context) {
	if mediaType(c) != mediaMergePatch {
		unsupportedMediaType(c)
		return
	}
	patch, ok := edxBody(c)
	if !ok {
		return
	}
	if patch.kind != 'o' || len(patch.keys) == 0 {
		respond(c, http.StatusBadRequest, samePair(msgEdxNoData))
		return
	}
	u := currentUser(c)
	if !edxCanWrite(c, u, c.Param("username")) {
		return
	}
	q, ok := s.quotaOf(c, u, cluster.Stale)
	if !ok {
		return
	}
	cmd, fieldErrors := s.edxBuildPatch(u, patch, q)
	if fieldErrors.len() > 0 {
		// Check again against the limits in force cluster-wide, in case
		// one was raised through another node a moment ago.
		if q, ok = s.quotaOf(c, u, cluster.Linearizable); !ok {
			return
		}
		cmd, fieldErrors = s.edxBuildPatch(u, patch, q)
	}
	if fieldErrors.len() > 0 {
		respond(c, http.StatusBadRequest, gin.H{"field_errors": fieldErrors})
		return
	}
	res, ok := s.apply(c, fsm.CmdPatchPrefs, cmd)
	if !ok {
		return
	}
	if res.Err != nil {
		s.edxApplyError(c, res.Err, cmd, true)
		return
	}
	c.Status(http.StatusNoContent)
}

// edxBody reads and parses a JSON body, answering errors itself. An empty
// body is {}, as Django REST framework parses it.
func edxBody(c *gin.Context) (pyValue, bool) {
	body, err := readBody(c)
	if bodyError(c, err) {
		return pyValue{}, false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	v, err := parsePy(body)
	if err != nil {
		parseError(c, err)
		return pyValue{}, false
	}
	return v, true
}

// edxBuildPatch validates every non-null entry of a merge-patch against q
// and returns the command, or the errors of every entry that fails.
func (s *server) edxBuildPatch(u *fsm.User, patch pyValue, q fsm.Quota) (fsm.PatchPrefs, *orderedErrors[edxPair]) {
	cmd := fsm.PatchPrefs{UserID: u.ID}
	fieldErrors := &orderedErrors[edxPair]{}
	for i, k := range patch.keys {
		v := patch.values[i]
		if v.kind == 'n' {
			cmd.Delete = append(cmd.Delete, k)
			continue
		}
		stored, perr := s.edxValidate(k, &v, q)
		if perr != nil {
			fieldErrors.set(k, *perr)
			continue
		}
		cmd.Set = append(cmd.Set, fsm.KV{Key: k, Value: stored})
	}
	return cmd, fieldErrors
}

func (s *server) edxPut(c *gin.Context) {
	mt := mediaType(c)
	if mt != "application/json" && mt != "" {
		unsupportedMediaType(c)
		return
	}
	v, ok := edxBody(c)
	if !ok {
		return
	}
	u, key := currentUser(c), c.Param("key")
	if !edxCanWrite(c, u, c.Param("username")) {
		return
	}
	var val *pyValue
	if v.kind != 'n' {
		val = &v
	}
	q, ok := s.quotaOf(c, u, cluster.Stale)
	if !ok {
		return
	}
	stored, perr := s.edxValidate(key, val, q)
	if perr != nil {
		if q, ok = s.quotaOf(c, u, cluster.Linearizable); !ok {
			return
		}
		stored, perr = s.edxValidate(key, val, q)
	}
	if perr != nil {
		respond(c, http.StatusBadRequest, perr)
		return
	}
	cmd := fsm.PatchPrefs{UserID: u.ID, Set: []fsm.KV{{Key: key, Value: stored}}}
	res, ok := s.apply(c, fsm.CmdPatchPrefs, cmd)
	if !ok {
		return
	}
	if res.Err != nil {
		s.edxApplyError(c, res.Err, cmd, false)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *server) edxDelete(c *gin.Context) {
	u, key := currentUser(c), c.Param("key")
	if !edxCanWrite(c, u, c.Param("username")) {
		return
	}
	res, ok := s.apply(c, fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: u.ID, Delete: []string{key}})
	if !ok {
		return
	}
	if res.Err != nil || res.Deleted == 0 {
		edxRefuse(c, http.StatusNotFound)
		return
	}
	c.Status(http.StatusNoContent)
}

// quotaOf returns the limits in force for u as a read at the given level
// sees them. Handlers check them to answer in the dialect's own shape; the
// state machine checks them again, authoritatively, when it applies.
func (s *server) quotaOf(c *gin.Context, u *fsm.User, level cluster.Consistency) (fsm.Quota, bool) {
	st, err := s.cluster.Read(c.Request.Context(), level)
	if err != nil {
		clusterError(c, err)
		return fsm.Quota{}, false
	}
	if cur, ok := st.UserByID(u.ID); ok {
		u = cur
	}
	return st.Quota(u), true
}

// edxValidate checks one preference as Open edX does and returns the value
// to store: Python's str() of the value, trimmed of surrounding white space.
// A nil value is JSON null.
func (s *server) edxValidate(key string, v *pyValue, q fsm.Quota) (string, *edxPair) {
	if v == nil || pyStrip(pyStr(*v)) == "" {
		p := samePair(fmt.Sprintf("Preference '%s' cannot be set to an empty value.", key))
		return "", &p
	}
	raw := pyStr(*v)
	stored := pyStrip(raw)

	// Errors come in the order of DRF's validators: the model's regex, then
	// the field's max length, then its null-character check.
	var keyErrs, valueErrs []string
	switch {
	case key == "":
		keyErrs = append(keyErrs, "This field may not be blank.")
	default:
		if !edxKeyChars(key) {
			keyErrs = append(keyErrs, "Enter a valid value.")
		}
		if int64(utf8.RuneCountInString(key)) > q.MaxKeyLength {
			keyErrs = append(keyErrs, fmt.Sprintf("Ensure this field has no more than %d characters.", q.MaxKeyLength))
		}
		if strings.ContainsRune(key, 0) {
			keyErrs = append(keyErrs, "Null characters are not allowed.")
		}
	}
	if int64(utf8.RuneCountInString(stored)) > q.MaxValueLength {
		valueErrs = append(valueErrs, fmt.Sprintf("Ensure this field has no more than %d characters.", q.MaxValueLength))
	}
	if strings.ContainsRune(stored, 0) {
		valueErrs = append(valueErrs, "Null characters are not allowed.")
	}
	if len(keyErrs) > 0 || len(valueErrs) > 0 {
		p := edxSerializerError(key, raw, keyErrs, valueErrs)
		return "", &p
	}
	// Open edX checks the time zone on str() of the value, before trimming.
	if key == "time_zone" {
		if _, ok := s.timezone[raw]; !ok {
			return "", &edxPair{
				DeveloperMessage: fmt.Sprintf("Value '%s' not valid for preference 'time_zone': Not in timezone set.", raw),
				UserMessage:      fmt.Sprintf("Value '%s' is not a valid time zone selection.", raw),
			}
		}
	}
	return stored, nil
}

// edxKeyChars applies Open edX's key validator, the unanchored search
// [-_a-zA-Z0-9]+: a key needs at least one such character.
func edxKeyChars(key string) bool {
	for _, r := range key {
		if r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return true
		}
	}
	return false
}

// edxSerializerError renders serializer errors as Open edX does: the
// developer message carries the Python repr of the errors dict.
func edxSerializerError(key, value string, keyErrs, valueErrs []string) edxPair {
	var b strings.Builder
	b.WriteByte('{')
	writeList := func(field string, msgs []string) {
		if b.Len() > 1 {
			b.WriteString(", ")
		}
		b.WriteString(pyStrRepr(field))
		b.WriteString(": [")
		for i, m := range msgs {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyStrRepr(m))
		}
		b.WriteByte(']')
	}
	if len(keyErrs) > 0 {
		writeList("key", keyErrs)
	}
	if len(valueErrs) > 0 {
		writeList("value", valueErrs)
	}
	b.WriteByte('}')
	p := edxPair{DeveloperMessage: fmt.Sprintf("Value '%s' not valid for preference '%s': %s", value, key, b.String())}
	if len(keyErrs) > 0 {
		p.UserMessage = fmt.Sprintf("Invalid user preference key '%s'.", key)
	} else {
		p.UserMessage = fmt.Sprintf("Value '%s' is not valid for user preference '%s'.", value, key)
	}
	return p
}

// edxApplyError answers a refusal from the state machine. Length limits
// are per-field errors; count and byte quotas fail the whole update.
func (s *server) edxApplyError(c *gin.Context, err *fsm.Error, cmd fsm.PatchPrefs, patch bool) {
	value := func(key string) string {
		for _, kv := range cmd.Set {
			if kv.Key == key {
				return kv.Value
			}
		}
		return ""
	}
	var p edxPair
	switch {
	case errors.Is(err, fsm.ErrUserNotFound):
		edxRefuse(c, http.StatusNotFound)
		return
	case errors.Is(err, fsm.ErrKeyTooLong):
		p = edxSerializerError(err.Key, value(err.Key), []string{fmt.Sprintf("Ensure this field has no more than %d characters.", err.Limit)}, nil)
	case errors.Is(err, fsm.ErrValueTooLong):
		p = edxSerializerError(err.Key, value(err.Key), nil, []string{fmt.Sprintf("Ensure this field has no more than %d characters.", err.Limit)})
	case errors.Is(err, fsm.ErrTooManyPreferences):
		respond(c, http.StatusBadRequest, samePair(fmt.Sprintf("Limit of %d User Preferences for the User has been exceeded.", err.Limit)))
		return
	case errors.Is(err, fsm.ErrTooManyBytes):
		respond(c, http.StatusBadRequest, samePair(fmt.Sprintf("Limit of %d bytes of User Preferences for the User has been exceeded.", err.Limit)))
		return
	default:
		respond(c, http.StatusBadRequest, samePair(fmt.Sprintf("Update failed: %s", err.Code)))
		return
	}
	if patch {
		respond(c, http.StatusBadRequest, gin.H{"field_errors": map[string]edxPair{err.Key: p}})
		return
	}
	respond(c, http.StatusBadRequest, p)
}
