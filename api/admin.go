package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
)

// The admin API manages users, their tokens and quotas. It is for
// superusers only and answers in Django REST framework's shapes.

const maxUsernameLength = 150

func (s *server) routeAdmin(r *gin.Engine) {
	g := r.Group("/api/admin", s.adminAuth)
	g.POST("/users", s.adminCreateUser)
	g.GET("/users", s.adminListUsers)
	g.GET("/users/:username", s.adminGetUser)
	g.PATCH("/users/:username", s.adminUpdateUser)
	g.DELETE("/users/:username", s.adminDeleteUser)
	g.GET("/users/:username/tokens", s.adminListTokens)
	g.POST("/users/:username/tokens", s.adminCreateToken)
	g.DELETE("/users/:username/tokens/:id", s.adminDeleteToken)
	g.GET("/users/:username/quota", s.adminGetUserQuota)
	g.PUT("/users/:username/quota", s.adminSetUserQuota)
	g.DELETE("/users/:username/quota", s.adminResetUserQuota)
	g.GET("/quotas/default", s.adminGetDefaultQuota)
	g.PUT("/quotas/default", s.adminSetDefaultQuota)
	g.GET("/catalog", s.adminGetCatalog)
	g.PUT("/catalog", s.adminPutCatalog)
	g.POST("/import", s.adminImport)
}

// adminAuth lets superusers through.
func (s *server) adminAuth(c *gin.Context) {
	c.Set(dialectKey, "admin")
	cr := s.authenticate(c)
	switch {
	case cr.err != nil:
		clusterError(c, cr.err)
	case refused(c, cr):
	case cr.failure != authOK:
		c.Header("WWW-Authenticate", "Token")
		detail(c, http.StatusUnauthorized, drfAuthFailureMessage(cr))
	case cr.user == nil:
		c.Header("WWW-Authenticate", "Token")
		detail(c, http.StatusUnauthorized, msgNotAuthenticated)
	case !cr.user.IsSuperuser:
		detail(c, http.StatusForbidden, msgPermissionDenied)
	default:
		if s.setUser(c, cr.user) {
			c.Next()
		}
	}
}

// userView is a user as the admin API shows it.
type userView struct {
	ID          uint64    `json:"id"`
	Username    string    `json:"username"`
	Email       string    `json:"email"`
	IsStaff     bool      `json:"is_staff"`
	IsSuperuser bool      `json:"is_superuser"`
	Permissions []string  `json:"permissions"`
	DateJoined  string    `json:"date_joined"`
	Quota       fsm.Quota `json:"quota"`
	Usage       usageView `json:"usage"`
}

type usageView struct {
	Preferences int64 `json:"preferences"`
	Bytes       int64 `json:"bytes"`
}

func viewUser(st *fsm.State, u *fsm.User) userView {
	return userView{
		ID:          u.ID,
		Username:    u.Username,
		Email:       u.Email,
		IsStaff:     u.IsStaff,
		IsSuperuser: u.IsSuperuser,
		Permissions: append([]string{}, u.Permissions...),
		DateJoined:  time.Unix(0, u.Created).UTC().Format(time.RFC3339Nano),
		Quota:       st.Quota(u),
		Usage:       usageView{Preferences: u.PrefCount, Bytes: u.PrefBytes},
	}
}

// decodeStrict decodes a JSON object body into v, refusing unknown fields.
// The admin API reads every body as JSON whatever its Content-Type, so that
// a plain `curl -d` works. It answers errors itself.
func decodeStrict(c *gin.Context, v any) bool {
	body, err := readBody(c)
	if bodyError(c, err) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		parseError(c, err)
		return false
	}
	if dec.More() {
		parseError(c, errors.New("extra data after the JSON value"))
		return false
	}
	return true
}

// userFields are the writable fields of a user.
type userFields struct {
	Username    *string `json:"username"`
	Password    *string `json:"password"`
	Email       *string `json:"email"`
	IsStaff     *bool   `json:"is_staff"`
	IsSuperuser *bool   `json:"is_superuser"`
	// Permissions replaces the user's permission names.
	Permissions *[]string `json:"permissions"`
}

// validate checks the fields that are set; creating needs a username.
func (f *userFields) validate(creating bool) fieldErrors {
	errs := fieldErrors{}
	switch {
	case f.Username == nil && creating, f.Username != nil && *f.Username == "":
		errs.add("username", "This field is required.")
	case f.Username == nil:
	case utf8.RuneCountInString(*f.Username) > maxUsernameLength:
		errs.add("username", fmt.Sprintf("Ensure this field has no more than %d characters.", maxUsernameLength))
	case !validUsername(*f.Username):
		errs.add("username", "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.")
	}
	if f.Email != nil && *f.Email != "" {
		if at := bytes.IndexByte([]byte(*f.Email), '@'); at < 1 || at == len(*f.Email)-1 || len(*f.Email) > 254 {
			errs.add("email", "Enter a valid email address.")
		}
	}
	if f.Password != nil && len(*f.Password) > 72 {
		errs.add("password", "Ensure this field has no more than 72 characters.")
	}
	if f.Permissions != nil {
		for _, p := range *f.Permissions {
			if !validPermission(p) {
				errs.add("permissions", fmt.Sprintf("%q is not a permission name (app_label.codename).", p))
			}
		}
	}
	return errs
}

// hashPassword hashes a password with bcrypt on this node; only the hash
// enters the log.
func hashPassword(p *string) (*string, error) {
	if p == nil || *p == "" {
		return nil, nil
	}
	h, err := bcrypt.GenerateFromPassword([]byte(*p), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	hs := string(h)
	return &hs, nil
}

// adminResult answers a refusal from the state machine.
func adminResult(c *gin.Context, err *fsm.Error) {
	switch {
	case errors.Is(err, fsm.ErrUserExists):
		respond(c, http.StatusBadRequest, fieldErrors{"username": {"A user with that username already exists."}})
	case errors.Is(err, fsm.ErrUserNotFound), errors.Is(err, fsm.ErrTokenNotFound):
		detail(c, http.StatusNotFound, msgNotFound)
	case errors.Is(err, fsm.ErrSettingInvalid):
		respond(c, http.StatusBadRequest, fieldErrors{"settings": {err.Key + ": " + err.Reason}})
	default:
		detail(c, http.StatusBadRequest, "Refused: "+err.Error())
	}
}

func (s *server) adminCreateUser(c *gin.Context) {
	var f userFields
	if !decodeStrict(c, &f) {
		return
	}
	if errs := f.validate(true); len(errs) > 0 {
		respond(c, http.StatusBadRequest, errs)
		return
	}
	hash, err := hashPassword(f.Password)
	if err != nil {
		detail(c, http.StatusInternalServerError, msgServerError)
		return
	}
	cmd := fsm.CreateUser{Username: *f.Username}
	if hash != nil {
		cmd.PasswordHash = *hash
	}
	if f.Email != nil {
		cmd.Email = *f.Email
	}
	cmd.IsStaff = f.IsStaff != nil && *f.IsStaff
	cmd.IsSuperuser = f.IsSuperuser != nil && *f.IsSuperuser
	if f.Permissions != nil {
		cmd.Permissions = *f.Permissions
	}
	st, res, ok := s.adminApply(c, fsm.CmdCreateUser, cmd)
	if ok {
		s.adminShowUser(c, st, http.StatusCreated, res.ID)
	}
}

// adminApply commits an admin command and returns a state that includes
// it, so that the answer to a write shows the write. It answers refusals
// and errors itself.
func (s *server) adminApply(c *gin.Context, t fsm.CmdType, body any) (*fsm.State, fsm.Result, bool) {
	res, ok := s.apply(c, t, body)
	if !ok {
		return nil, res, false
	}
	if res.Err != nil {
		adminResult(c, res.Err)
		return nil, res, false
	}
	st, err := s.cluster.Read(c.Request.Context(), cluster.Linearizable)
	if err != nil {
		clusterError(c, err)
		return nil, res, false
	}
	return st, res, true
}

// adminShowUser answers with user id as st has it.
func (s *server) adminShowUser(c *gin.Context, st *fsm.State, status int, id uint64) {
	u, ok := st.UserByID(id)
	if !ok {
		detail(c, http.StatusNotFound, msgNotFound)
		return
	}
	respond(c, status, viewUser(st, u))
}

func (s *server) adminListUsers(c *gin.Context) {
	st, ok := s.read(c)
	if !ok {
		return
	}
	out := []userView{}
	for _, u := range st.Users() {
		out = append(out, viewUser(st, u))
	}
	respond(c, http.StatusOK, out)
}

// targetUser finds the user named in the URL, answering 404 itself.
func (s *server) targetUser(c *gin.Context) (*fsm.State, *fsm.User, bool) {
	st, ok := s.read(c)
	if !ok {
		return nil, nil, false
	}
	u, ok := st.UserByName(c.Param("username"))
	if !ok {
		detail(c, http.StatusNotFound, msgNotFound)
		return nil, nil, false
	}
	return st, u, true
}

func (s *server) adminGetUser(c *gin.Context) {
	st, u, ok := s.targetUser(c)
	if !ok {
		return
	}
	respond(c, http.StatusOK, viewUser(st, u))
}

func (s *server) adminUpdateUser(c *gin.Context) {
	var f userFields
	if !decodeStrict(c, &f) {
		return
	}
	if errs := f.validate(false); len(errs) > 0 {
		respond(c, http.StatusBadRequest, errs)
		return
	}
	_, u, ok := s.targetUser(c)
	if !ok {
		return
	}
	hash, err := hashPassword(f.Password)
	if err != nil {
		detail(c, http.StatusInternalServerError, msgServerError)
		return
	}
	st, _, ok := s.adminApply(c, fsm.CmdUpdateUser, fsm.UpdateUser{
		UserID: u.ID, Username: f.Username, Email: f.Email, PasswordHash: hash,
		IsStaff: f.IsStaff, IsSuperuser: f.IsSuperuser, Permissions: f.Permissions,
	})
	if ok {
		s.adminShowUser(c, st, http.StatusOK, u.ID)
	}
}

func (s *server) adminDeleteUser(c *gin.Context) {
	_, u, ok := s.targetUser(c)
	if !ok {
		return
	}
	res, ok := s.apply(c, fsm.CmdDeleteUser, fsm.DeleteUser{UserID: u.ID})
	if !ok {
		return
	}
	if res.Err != nil {
		adminResult(c, res.Err)
		return
	}
	c.Status(http.StatusNoContent)
}

// tokenView is a token as listed; the secret is never shown again.
type tokenView struct {
	ID      uint64 `json:"id"`
	Name    string `json:"name"`
	Created string `json:"created"`
	Token   string `json:"token,omitempty"`
}

func (s *server) adminListTokens(c *gin.Context) {
	st, u, ok := s.targetUser(c)
	if !ok {
		return
	}
	out := []tokenView{}
	for _, t := range st.Tokens(u.ID) {
		out = append(out, tokenView{ID: t.ID, Name: t.Name, Created: time.Unix(0, t.Created).UTC().Format(time.RFC3339Nano)})
	}
	respond(c, http.StatusOK, out)
}

// NewToken returns a fresh API token: 20 random bytes in hex, the form
// Django REST framework's tokens take.
func NewToken() (string, error) {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func (s *server) adminCreateToken(c *gin.Context) {
	var body struct {
		Name string `json:"name"`
	}
	if !decodeStrict(c, &body) {
		return
	}
	if body.Name == "" || utf8.RuneCountInString(body.Name) > 100 {
		respond(c, http.StatusBadRequest, fieldErrors{"name": {"A name of 1 to 100 characters is required."}})
		return
	}
	_, u, ok := s.targetUser(c)
	if !ok {
		return
	}
	token, err := NewToken()
	if err != nil {
		detail(c, http.StatusInternalServerError, msgServerError)
		return
	}
	res, ok := s.apply(c, fsm.CmdCreateToken, fsm.CreateToken{UserID: u.ID, Name: body.Name, Digest: TokenDigest(token)})
	if !ok {
		return
	}
	if res.Err != nil {
		adminResult(c, res.Err)
		return
	}
	view := tokenView{ID: res.ID, Name: body.Name, Token: token}
	// The creation time is the state machine's. The token exists whatever
	// the read does, so a failed read still answers with the secret.
	if st, err := s.cluster.Read(c.Request.Context(), cluster.Linearizable); err == nil {
		if t, _, ok := st.TokenByDigest(TokenDigest(token)); ok {
			view.Created = time.Unix(0, t.Created).UTC().Format(time.RFC3339Nano)
		}
	}
	respond(c, http.StatusCreated, view)
}

func (s *server) adminDeleteToken(c *gin.Context) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		detail(c, http.StatusNotFound, msgNotFound)
		return
	}
	_, u, ok := s.targetUser(c)
	if !ok {
		return
	}
	res, ok := s.apply(c, fsm.CmdDeleteToken, fsm.DeleteToken{UserID: u.ID, TokenID: id})
	if !ok {
		return
	}
	if res.Err != nil {
		adminResult(c, res.Err)
		return
	}
	c.Status(http.StatusNoContent)
}

// decodeQuota reads a quota patch: any subset of the four limits, each a
// whole number of at least zero.
func decodeQuota(c *gin.Context) (fsm.QuotaPatch, bool) {
	var p fsm.QuotaPatch
	if !decodeStrict(c, &p) {
		return p, false
	}
	errs := fieldErrors{}
	check := func(name string, v *int64) {
		if v != nil && *v < 0 {
			errs.add(name, "Ensure this value is greater than or equal to 0.")
		}
	}
	check("max_preferences", p.MaxPreferences)
	check("max_value_length", p.MaxValueLength)
	check("max_key_length", p.MaxKeyLength)
	check("max_total_bytes", p.MaxTotalBytes)
	if p == (fsm.QuotaPatch{}) {
		errs.add("non_field_errors", "Give at least one of max_preferences, max_value_length, max_key_length, max_total_bytes.")
	}
	if len(errs) > 0 {
		respond(c, http.StatusBadRequest, errs)
		return p, false
	}
	return p, true
}

func (s *server) adminGetDefaultQuota(c *gin.Context) {
	st, ok := s.read(c)
	if !ok {
		return
	}
	respond(c, http.StatusOK, st.DefaultQuota())
}

func (s *server) adminSetDefaultQuota(c *gin.Context) {
	p, ok := decodeQuota(c)
	if !ok {
		return
	}
	if st, _, ok := s.adminApply(c, fsm.CmdSetDefaultQuota, fsm.SetDefaultQuota{Quota: p}); ok {
		respond(c, http.StatusOK, st.DefaultQuota())
	}
}

func (s *server) adminGetUserQuota(c *gin.Context) {
	st, u, ok := s.targetUser(c)
	if !ok {
		return
	}
	respond(c, http.StatusOK, st.Quota(u))
}

func (s *server) adminSetUserQuota(c *gin.Context) {
	p, ok := decodeQuota(c)
	if !ok {
		return
	}
	s.changeUserQuota(c, fsm.SetUserQuota{Quota: p})
}

func (s *server) adminResetUserQuota(c *gin.Context) {
	s.changeUserQuota(c, fsm.SetUserQuota{Reset: true})
}

func (s *server) changeUserQuota(c *gin.Context, cmd fsm.SetUserQuota) {
	_, u, ok := s.targetUser(c)
	if !ok {
		return
	}
	cmd.UserID = u.ID
	st, _, ok := s.adminApply(c, fsm.CmdSetUserQuota, cmd)
	if !ok {
		return
	}
	if u, ok = st.UserByID(u.ID); !ok {
		detail(c, http.StatusNotFound, msgNotFound)
		return
	}
	respond(c, http.StatusOK, st.Quota(u))
}

// validUsername applies Django's username rule: letters, digits and @.+-_.
func validUsername(name string) bool {
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("_.@+-", r) {
			return false
		}
	}
	return name != ""
}

// validPermission accepts Django's permission names: app_label.codename,
// each part letters, digits and underscores.
func validPermission(p string) bool {
	app, code, ok := strings.Cut(p, ".")
	word := func(s string) bool {
		for _, r := range s {
			if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
		return s != ""
	}
	return ok && word(app) && word(code) && len(p) <= 255
}

// catalogBody is the admin API's catalogue document.
type catalogBody struct {
	// Replace drops every definition not listed; otherwise the listed ones
	// are added or replaced and the rest kept.
	Replace  bool             `json:"replace"`
	Settings []fsm.SettingDef `json:"settings"`
}

func (s *server) adminGetCatalog(c *gin.Context) {
	st, ok := s.read(c)
	if !ok {
		return
	}
	defs := []*fsm.SettingDef{}
	for _, d := range st.CatalogAll() {
		if r := c.Query("registry"); r != "" && string(d.Registry) != r {
			continue
		}
		if sc := c.Query("scope"); sc != "" && string(d.Scope) != sc {
			continue
		}
		defs = append(defs, d)
	}
	respond(c, http.StatusOK, gin.H{"version": st.CatalogVersion(), "settings": defs})
}

func (s *server) adminPutCatalog(c *gin.Context) {
	var body catalogBody
	if !decodeStrict(c, &body) {
		return
	}
	errs := fieldErrors{}
	for i := range body.Settings {
		d := &body.Settings[i]
		d.ID = 0
		if why := fsm.CheckDef(d); why != "" {
			errs.add("settings", fmt.Sprintf("%s: %s", d.Key, why))
		}
	}
	if len(errs) > 0 {
		respond(c, http.StatusBadRequest, errs)
		return
	}
	st, _, ok := s.adminApply(c, fsm.CmdPutCatalog, fsm.PutCatalog{Defs: body.Settings, Replace: body.Replace})
	if ok {
		respond(c, http.StatusOK, gin.H{"version": st.CatalogVersion(), "settings": st.CatalogAll()})
	}
}
