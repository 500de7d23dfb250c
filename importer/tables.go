package importer

import (
	"path/filepath"
	"strings"

	"github.com/prefsd/prefsd/fsm"
)

// table describes one table of an original product: its SQL name (which a
// CSV export's file is named after), its dumpdata model label, the columns
// an import needs, and the column that refers to the user table.
type table struct {
	// name is the SQL table name; a CSV file holding it is name.csv.
	name string
	// model is the dumpdata label, app_label.modelname.
	model string
	// cols are the columns read, by their SQL names. A dumpdata export
	// names a foreign key column without its _id suffix.
	cols []string
	// owner is the column referring to the user table, or "".
	owner string
	// kind says what a row becomes.
	kind rowKind
}

// rowKind says what a table's rows become in a plan.
type rowKind int

const (
	kindUser rowKind = iota + 1
	kindDynGlobal
	kindDynUser
	kindITGlobal
	kindITUser
	kindITNotification
	kindEdx
)

// The user table, Django's auth_user, unless the project uses its own user
// model (Options.UserModel).
const defaultUserModel = "auth.user"

// productTables are the tables of the products, other than the user table.
var productTables = []table{
	{
		name:  "dynamic_preferences_globalpreferencemodel",
		model: "dynamic_preferences.globalpreferencemodel",
		cols:  []string{"section", "name", "raw_value"},
		kind:  kindDynGlobal,
	},
	{
		name:  "dynamic_preferences_users_userpreferencemodel",
		model: "dynamic_preferences_users.userpreferencemodel",
		cols:  []string{"section", "name", "raw_value", "instance_id"},
		owner: "instance_id",
		kind:  kindDynUser,
	},
	{
		name:  "common_inventreesetting",
		model: "common.inventreesetting",
		cols:  []string{"key", "value"},
		kind:  kindITGlobal,
	},
	{
		name:  "common_inventreeusersetting",
		model: "common.inventreeusersetting",
		cols:  []string{"key", "value", "user_id"},
		owner: "user_id",
		kind:  kindITUser,
	},
	{
		name:  "plugin_notificationusersetting",
		model: "plugin.notificationusersetting",
		cols:  []string{"key", "value", "method", "user_id"},
		owner: "user_id",
		kind:  kindITNotification,
	},
	{
		name:  "user_api_userpreference",
		model: "user_api.userpreference",
		cols:  []string{"user_id", "key", "value"},
		owner: "user_id",
		kind:  kindEdx,
	},
}

// userTable describes the user table of model label "app.model".
func userTable(model string) table {
	return table{
		name:  strings.Replace(model, ".", "_", 1),
		model: model,
		cols:  []string{"id", "username", "email", "password", "is_staff", "is_superuser", "is_active"},
		kind:  kindUser,
	}
}

// optionalCols are columns a table may lack: without them a user is
// active, has no e-mail address and no password prefsd can carry.
var optionalCols = map[string]bool{"email": true, "password": true, "is_active": true}

// tableByModel finds a table by its dumpdata label.
func (r *Reader) tableByModel(model string) (*table, bool) {
	for i := range r.tables {
		if strings.EqualFold(r.tables[i].model, model) {
			return &r.tables[i], true
		}
	}
	return nil, false
}

// tableByFile finds the table a CSV file holds from the file's name:
// name.csv, or any name whose base without extensions is the table's.
func (r *Reader) tableByFile(path string) (*table, bool) {
	base := filepath.Base(path)
	if i := strings.IndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	for i := range r.tables {
		if strings.EqualFold(r.tables[i].name, base) {
			return &r.tables[i], true
		}
	}
	return nil, false
}

// Tables returns the SQL names of the tables an import reads, the user
// table of model label userModel ("" for auth.user) first.
func Tables(userModel string) []string {
	if userModel == "" {
		userModel = defaultUserModel
	}
	out := []string{userTable(userModel).name}
	for _, t := range productTables {
		out = append(out, t.name)
	}
	return out
}

// settingOf returns the registry and scope a table's settings belong to.
func settingOf(k rowKind) (fsm.Registry, fsm.Scope) {
	switch k {
	case kindDynGlobal:
		return fsm.RegistryDynPrefs, fsm.ScopeGlobal
	case kindDynUser:
		return fsm.RegistryDynPrefs, fsm.ScopeUser
	case kindITGlobal:
		return fsm.RegistryInvenTree, fsm.ScopeGlobal
	case kindITUser:
		return fsm.RegistryInvenTree, fsm.ScopeUser
	case kindITNotification:
		return fsm.RegistryInvenTree, fsm.ScopeNotification
	}
	return "", ""
}
