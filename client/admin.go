package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// User is a user as the admin API shows it.
type User struct {
	ID          uint64   `json:"id"`
	Username    string   `json:"username"`
	Email       string   `json:"email"`
	IsStaff     bool     `json:"is_staff"`
	IsSuperuser bool     `json:"is_superuser"`
	Permissions []string `json:"permissions"`
	DateJoined  string   `json:"date_joined"`
	Quota       Quota    `json:"quota"`
	Usage       Usage    `json:"usage"`
}

// Usage is what a user's preferences take up.
type Usage struct {
	Preferences int64 `json:"preferences"`
	Bytes       int64 `json:"bytes"`
}

// NewUser holds the fields of a user to create; Username is required.
type NewUser struct {
	Username    string   `json:"username"`
	Password    string   `json:"password,omitempty"`
	Email       string   `json:"email,omitempty"`
	IsStaff     bool     `json:"is_staff,omitempty"`
	IsSuperuser bool     `json:"is_superuser,omitempty"`
	Permissions []string `json:"permissions,omitempty"`
}

// Token is an API token. Secret is set only in the answer to its creation.
type Token struct {
	ID      uint64 `json:"id"`
	Name    string `json:"name"`
	Created string `json:"created"`
	Secret  string `json:"token,omitempty"`
}

// Quota holds the limits on a user's free-form preferences.
type Quota struct {
	MaxPreferences int64 `json:"max_preferences"`
	MaxValueLength int64 `json:"max_value_length"`
	MaxKeyLength   int64 `json:"max_key_length"`
	MaxTotalBytes  int64 `json:"max_total_bytes"`
}

// QuotaPatch changes the limits that are set and keeps the others.
type QuotaPatch struct {
	MaxPreferences *int64 `json:"max_preferences,omitempty"`
	MaxValueLength *int64 `json:"max_value_length,omitempty"`
	MaxKeyLength   *int64 `json:"max_key_length,omitempty"`
	MaxTotalBytes  *int64 `json:"max_total_bytes,omitempty"`
}

// Catalog is the settings catalogue in force. Each setting is kept as the
// server sent it; Setting decodes the common fields.
type Catalog struct {
	Version  uint64            `json:"version"`
	Settings []json.RawMessage `json:"settings"`
}

// Setting is the part of a setting definition that lists show.
type Setting struct {
	Registry string `json:"registry"`
	Scope    string `json:"scope"`
	Key      string `json:"key"`
	Type     string `json:"type"`
	Name     string `json:"name"`
	Default  string `json:"default"`
}

func userPath(username string) string { return "/api/admin/users/" + url.PathEscape(username) }

// Users lists every user.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	var out []User
	err := c.do(ctx, http.MethodGet, "/api/admin/users", nil, &out)
	return out, err
}

// User returns one user.
func (c *Client) User(ctx context.Context, username string) (User, error) {
	var out User
	err := c.do(ctx, http.MethodGet, userPath(username), nil, &out)
	return out, err
}

// CreateUser creates a user.
func (c *Client) CreateUser(ctx context.Context, u NewUser) (User, error) {
	var out User
	err := c.do(ctx, http.MethodPost, "/api/admin/users", u, &out)
	return out, err
}

// DeleteUser deletes a user with its preferences and tokens.
func (c *Client) DeleteUser(ctx context.Context, username string) error {
	return c.do(ctx, http.MethodDelete, userPath(username), nil, nil)
}

// Tokens lists a user's tokens, without their secrets.
func (c *Client) Tokens(ctx context.Context, username string) ([]Token, error) {
	var out []Token
	err := c.do(ctx, http.MethodGet, userPath(username)+"/tokens", nil, &out)
	return out, err
}

// CreateToken creates a token for a user; the answer holds its secret,
// which is never shown again.
func (c *Client) CreateToken(ctx context.Context, username, name string) (Token, error) {
	var out Token
	err := c.do(ctx, http.MethodPost, userPath(username)+"/tokens", struct {
		Name string `json:"name"`
	}{name}, &out)
	return out, err
}

// DeleteToken revokes a user's token.
func (c *Client) DeleteToken(ctx context.Context, username string, id uint64) error {
	return c.do(ctx, http.MethodDelete, userPath(username)+"/tokens/"+strconv.FormatUint(id, 10), nil, nil)
}

// DefaultQuota returns the quota of users without overrides.
func (c *Client) DefaultQuota(ctx context.Context) (Quota, error) {
	var out Quota
	err := c.do(ctx, http.MethodGet, "/api/admin/quotas/default", nil, &out)
	return out, err
}

// SetDefaultQuota changes the default quota and returns it.
func (c *Client) SetDefaultQuota(ctx context.Context, p QuotaPatch) (Quota, error) {
	var out Quota
	err := c.do(ctx, http.MethodPut, "/api/admin/quotas/default", p, &out)
	return out, err
}

// UserQuota returns the quota in force for a user.
func (c *Client) UserQuota(ctx context.Context, username string) (Quota, error) {
	var out Quota
	err := c.do(ctx, http.MethodGet, userPath(username)+"/quota", nil, &out)
	return out, err
}

// SetUserQuota overrides limits for one user and returns the quota in force.
func (c *Client) SetUserQuota(ctx context.Context, username string, p QuotaPatch) (Quota, error) {
	var out Quota
	err := c.do(ctx, http.MethodPut, userPath(username)+"/quota", p, &out)
	return out, err
}

// ResetUserQuota drops a user's overrides and returns the quota in force.
func (c *Client) ResetUserQuota(ctx context.Context, username string) (Quota, error) {
	var out Quota
	err := c.do(ctx, http.MethodDelete, userPath(username)+"/quota", nil, &out)
	return out, err
}

// Catalog returns the settings catalogue in force.
func (c *Client) Catalog(ctx context.Context) (Catalog, error) {
	var out Catalog
	err := c.do(ctx, http.MethodGet, "/api/admin/catalog", nil, &out)
	return out, err
}

// PutCatalog adds or redefines settings (settings encodes as a JSON array
// of definitions); with replace, every definition not given is removed.
// It returns the catalogue now in force.
func (c *Client) PutCatalog(ctx context.Context, replace bool, settings any) (Catalog, error) {
	var out Catalog
	err := c.do(ctx, http.MethodPut, "/api/admin/catalog", struct {
		Replace  bool `json:"replace"`
		Settings any  `json:"settings"`
	}{replace, settings}, &out)
	return out, err
}
