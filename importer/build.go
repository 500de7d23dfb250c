package importer

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Result is the plan built from every export read, and what stayed out of
// it.
type Result struct {
	Plan Plan
	// Problems are the rows that could not be read or placed, in the order
	// read.
	Problems []Problem
	// PasswordsCarried counts the users whose password hash the plan
	// carries; PasswordsDropped those with a hash prefsd cannot verify
	// (they log in by token, JWT, or a password an admin sets).
	PasswordsCarried, PasswordsDropped int
	// Ignored counts the dumpdata objects of other models, by label.
	Ignored map[string]int
}

// dynSeparator joins a django-dynamic-preferences section and name into
// the preference's identifier.
const dynSeparator = "__"

// Plan builds the plan from every row read so far.
func (r *Reader) Plan() Result {
	res := Result{Problems: append([]Problem(nil), r.problems...), Ignored: r.Ignored()}

	// The user table first: rows of other tables refer to users by id.
	byID := map[string]string{}   // pk → username
	dropped := map[string]bool{}  // pks of users left out
	byName := map[string]string{} // lower-cased username → pk
	for _, rw := range r.rows {
		if rw.t.kind != kindUser {
			continue
		}
		u, why := userOf(rw)
		if why == "" {
			if pk, taken := byName[strings.ToLower(u.Username)]; taken {
				if pk == rw.pk && byID[pk] == u.Username {
					continue // the same user, exported twice
				}
				why = fmt.Sprintf("username %q is taken by another user (prefsd compares usernames case-insensitively)", u.Username)
			} else if name, taken := byID[rw.pk]; taken && rw.pk != "" && name != u.Username {
				why = fmt.Sprintf("id %s is also user %q", rw.pk, name)
			}
		}
		if why != "" {
			res.Problems = append(res.Problems, problemAt(rw.src, rw.col("username"), "", why))
			if rw.pk != "" {
				dropped[rw.pk] = true
			}
			continue
		}
		if rw.pk != "" {
			byID[rw.pk] = u.Username
		}
		byName[strings.ToLower(u.Username)] = rw.pk
		if u.PasswordHash != "" {
			res.PasswordsCarried++
		} else if pw := rw.col("password"); pw != "" && !strings.HasPrefix(pw, "!") {
			res.PasswordsDropped++
		}
		res.Plan.Users = append(res.Plan.Users, u)
	}

	owner := func(rw row) (string, string) {
		switch {
		case rw.owner.username != "":
			return rw.owner.username, ""
		case dropped[rw.owner.id]:
			return "", fmt.Sprintf("%s was not imported (see the user table's problems)", rw.owner)
		}
		name, ok := byID[rw.owner.id]
		if !ok {
			return "", fmt.Sprintf("%s is not in the user table; export %s too", rw.owner, userTable(r.userModel).name)
		}
		return name, ""
	}

	for _, rw := range r.rows {
		if rw.t.kind == kindUser {
			continue
		}
		var user string
		if rw.t.owner != "" {
			name, why := owner(rw)
			if why != "" {
				res.Problems = append(res.Problems, problemAt(rw.src, "", keyOf(rw), why))
				continue
			}
			user = name
		}
		key := keyOf(rw)
		if key == "" {
			res.Problems = append(res.Problems, problemAt(rw.src, user, "", "the row has no key"))
			continue
		}
		switch rw.t.kind {
		case kindEdx:
			res.Plan.Prefs = append(res.Plan.Prefs, Pref{User: user, Key: key, Value: rw.col("value"), Src: rw.src})
		default:
			reg, scope := settingOf(rw.t.kind)
			value := rw.col("value")
			if rw.t.kind == kindDynGlobal || rw.t.kind == kindDynUser {
				value = rw.col("raw_value")
			}
			res.Plan.Settings = append(res.Plan.Settings, Setting{
				Registry: reg, Scope: scope, User: user, Key: key,
				Method: rw.col("method"), Value: value, Src: rw.src,
			})
		}
	}
	return res
}

// keyOf is the key a row's value is stored under in prefsd: InvenTree's
// keys upper-cased (InvenTree saves them so), django-dynamic-preferences'
// identifier section__name (the name alone without a section).
func keyOf(rw row) string {
	switch rw.t.kind {
	case kindDynGlobal, kindDynUser:
		name := rw.col("name")
		if name == "" {
			return ""
		}
		if sec := rw.col("section"); sec != "" {
			return sec + dynSeparator + name
		}
		return name
	case kindITGlobal, kindITUser, kindITNotification:
		return strings.ToUpper(rw.col("key"))
	}
	return rw.col("key")
}

// userOf reads a user table row, or says why it cannot.
func userOf(rw row) (User, string) {
	u := User{Username: rw.col("username"), Email: rw.col("email"), Src: rw.src}
	if u.Username == "" {
		return User{}, "the user has no username"
	}
	var ok bool
	for _, f := range []struct {
		col string
		to  *bool
	}{{"is_staff", &u.IsStaff}, {"is_superuser", &u.IsSuperuser}} {
		if *f.to, ok = parseBool(rw.col(f.col)); !ok {
			return User{}, fmt.Sprintf("%s is %q, not a boolean", f.col, rw.col(f.col))
		}
	}
	active := true
	if v := rw.col("is_active"); v != "" {
		if active, ok = parseBool(v); !ok {
			return User{}, fmt.Sprintf("is_active is %q, not a boolean", v)
		}
	}
	if active {
		u.PasswordHash, _ = PasswordHash(rw.col("password"))
	}
	return u, ""
}

// PasswordHash returns the hash in a Django password field if prefsd can
// verify it. prefsd checks passwords against plain bcrypt hashes, which is
// what Django's BCryptPasswordHasher stores after its "bcrypt$" prefix.
// Every other hasher (PBKDF2, the default; Argon2; scrypt; bcrypt_sha256,
// which hashes a SHA-256 digest of the password rather than the password),
// and unusable passwords ("!..."), give "", false.
func PasswordHash(django string) (string, bool) {
	h, ok := strings.CutPrefix(django, "bcrypt$")
	if !ok {
		return "", false
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return "", false
	}
	return h, true
}
