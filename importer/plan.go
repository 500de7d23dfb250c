// Package importer reads exports of the tables that the products prefsd
// replaces keep their users, preferences and settings in, and turns their
// rows into a Plan: the users to create, the per-user preferences and the
// settings to write. An export is either Django's dumpdata JSON or CSV with
// a header row, one table per file.
//
// Values stay in the form each product stores them in (its "raw" form):
// only the node that applies a plan knows the catalogue in force, so the
// import endpoint decodes and validates them there. Every item of a plan
// carries the file and row it came from, so that a refusal can name them.
package importer

import (
	"encoding/json"
	"fmt"

	"github.com/prefsd/prefsd/fsm"
)

// Source is where an item was read: the file, and for CSV the line on which
// its record starts (the header is line 1), for JSON the 1-based position
// of its object in the file.
type Source struct {
	File string `json:"file"`
	Row  int    `json:"row"`
}

// String returns "file:row".
func (s Source) String() string { return fmt.Sprintf("%s:%d", s.File, s.Row) }

// User is an account of the original product. Existing prefsd users are
// matched by username (case-insensitively) and left as they are; the others
// are created.
type User struct {
	Username    string `json:"username"`
	Email       string `json:"email,omitempty"`
	IsStaff     bool   `json:"is_staff,omitempty"`
	IsSuperuser bool   `json:"is_superuser,omitempty"`
	// PasswordHash is a bcrypt hash prefsd can verify, or "" when the
	// original's hash is of another kind (see PasswordHash).
	PasswordHash string `json:"password_hash,omitempty"`
	Src          Source `json:"src"`
}

// Pref is one free-form preference of a user, as Open edX stores it (and
// as prefsd's edX and layout dialects serve it).
type Pref struct {
	User  string `json:"user"`
	Key   string `json:"key"`
	Value string `json:"value"`
	Src   Source `json:"src"`
}

// Setting is one typed setting value in its product's stored form. Registry
// names the product and so the form: InvenTree's value column, or
// django-dynamic-preferences' raw_value column (NULL read as "").
type Setting struct {
	Registry fsm.Registry `json:"registry"`
	Scope    fsm.Scope    `json:"scope"`
	// User is "" for global settings.
	User string `json:"user,omitempty"`
	// Key is the catalogue's key: InvenTree's upper-case key, or
	// django-dynamic-preferences' identifier section__name.
	Key string `json:"key"`
	// Method is a notification setting's notification method.
	Method string `json:"method,omitempty"`
	Value  string `json:"value"`
	Src    Source `json:"src"`
}

// Plan is what an import writes, product-neutral: users, free-form
// preferences and typed settings, each item in the order it was read.
type Plan struct {
	Users    []User    `json:"users,omitempty"`
	Prefs    []Pref    `json:"preferences,omitempty"`
	Settings []Setting `json:"settings,omitempty"`
}

// Len returns the number of items in the plan.
func (p *Plan) Len() int { return len(p.Users) + len(p.Prefs) + len(p.Settings) }

// Problem is a row that cannot be imported, and why.
type Problem struct {
	File   string `json:"file"`
	Row    int    `json:"row"`
	User   string `json:"user,omitempty"`
	Key    string `json:"key,omitempty"`
	Reason string `json:"reason"`
}

// problemAt builds a Problem for a row.
func problemAt(src Source, user, key, reason string) Problem {
	return Problem{File: src.File, Row: src.Row, User: user, Key: key, Reason: reason}
}

// Split cuts a plan into parts whose JSON is at most about budget bytes,
// so that each fits in one request. Every part holds the records of the
// users its items belong to, so that each part can be checked and applied
// on its own; a user whose items do not fit in one part is listed in each
// part that holds some. An item larger than budget gets a part of its own.
// Items keep their order within a user; users keep the plan's order.
func Split(p Plan, budget int) []Plan {
	type group struct {
		user     *User
		prefs    []Pref
		settings []Setting
	}
	var groups []*group
	byName := map[string]*group{}
	groupOf := func(name string) *group {
		g, ok := byName[name]
		if !ok {
			g = &group{}
			byName[name] = g
			groups = append(groups, g)
		}
		return g
	}
	for i := range p.Users {
		groupOf(p.Users[i].Username).user = &p.Users[i]
	}
	for _, pr := range p.Prefs {
		g := groupOf(pr.User)
		g.prefs = append(g.prefs, pr)
	}
	for _, s := range p.Settings {
		g := groupOf(s.User)
		g.settings = append(g.settings, s)
	}

	// envelope is room for the JSON around the items: the object, its
	// keys and brackets, and a request's other fields.
	const envelope = 96
	var parts []Plan
	var cur Plan
	size := envelope
	flush := func() {
		if cur.Len() > 0 {
			parts = append(parts, cur)
		}
		cur, size = Plan{}, envelope
	}
	for _, g := range groups {
		// hasUser says whether cur holds g's user record.
		hasUser := false
		addUser := func() {
			if g.user != nil && !hasUser {
				cur.Users = append(cur.Users, *g.user)
				size += jsonSize(g.user)
				hasUser = true
			}
		}
		// room makes room for n more bytes, starting a new part if cur is
		// not empty and would grow past the budget.
		room := func(n int) {
			if g.user != nil && !hasUser {
				n += jsonSize(g.user)
			}
			if cur.Len() > 0 && size+n > budget {
				flush()
				hasUser = false
			}
		}
		if len(g.prefs) == 0 && len(g.settings) == 0 {
			room(0)
			addUser()
			continue
		}
		for _, pr := range g.prefs {
			room(jsonSize(&pr))
			addUser()
			cur.Prefs = append(cur.Prefs, pr)
			size += jsonSize(&pr)
		}
		for _, s := range g.settings {
			room(jsonSize(&s))
			addUser()
			cur.Settings = append(cur.Settings, s)
			size += jsonSize(&s)
		}
	}
	flush()
	return parts
}

// jsonSize is the length of v's JSON plus a separator.
func jsonSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b) + 1
}
