package fsm

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// settingsFixture is a state with two users and a catalogue covering every
// registry and scope.
type settingsFixture struct {
	h          *harness
	alice, bob uint64
}

func newSettingsFixture(t *testing.T) settingsFixture {
	t.Helper()
	h := newHarness(t)
	fx := settingsFixture{h: h, alice: h.user("alice"), bob: h.user("bob")}
	h.ok(CmdPutCatalog, PutCatalog{Defs: []SettingDef{
		def("FLAG", TypeBoolean, withDefault("False")),
		def("COUNT", TypeInteger, withDefault("1"), withRange(ptr(1.0), ptr(25.0))),
		def("CURRENCIES", TypeString, withValidator("currency_codes"), withDefault("USD")),
		def("FORMAT", TypeChoice, withChoices("a", "b"), inScope(RegistryInvenTree, ScopeUser)),
		def("U_FLAG", TypeBoolean, inScope(RegistryInvenTree, ScopeUser)),
		def("NOTIFY", TypeBoolean, inScope(RegistryInvenTree, ScopeNotification)),
		def("exam__duration", TypeDuration, inScope(RegistryDynPrefs, ScopeGlobal)),
		def("user__vegetables", TypeMultipleChoice, withChoices("C", "P", "T"), inScope(RegistryDynPrefs, ScopeUser)),
	}})
	return fx
}

func TestSetSettings(t *testing.T) {
	type stored struct {
		user uint64
		r    Registry
		s    Scope
		want []KV
	}
	tests := []struct {
		name    string
		give    func(fx settingsFixture) SetSettings
		wantErr *Error   // exact; nil on success
		want    []stored // what Settings returns afterwards, on success
	}{
		{
			name: "global values",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal,
					Values: []KV{{"FLAG", "True"}, {"COUNT", "25"}, {"CURRENCIES", "AUD,USD,GBP"}}}
			},
			want: []stored{{0, RegistryInvenTree, ScopeGlobal, []KV{{"COUNT", "25"}, {"CURRENCIES", "AUD,USD,GBP"}, {"FLAG", "True"}}}},
		},
		{
			name: "a key given twice: the last value wins",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal,
					Values: []KV{{"COUNT", "2"}, {"COUNT", "3"}}}
			},
			want: []stored{{0, RegistryInvenTree, ScopeGlobal, []KV{{"COUNT", "3"}}}},
		},
		{
			name: "user values",
			give: func(fx settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeUser, UserID: fx.alice,
					Values: []KV{{"FORMAT", "b"}, {"U_FLAG", "False"}}}
			},
			want: []stored{
				{1, RegistryInvenTree, ScopeUser, []KV{{"FORMAT", "b"}, {"U_FLAG", "False"}}},
				{2, RegistryInvenTree, ScopeUser, nil},
				{0, RegistryInvenTree, ScopeGlobal, nil},
			},
		},
		{
			name: "notification values",
			give: func(fx settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeNotification, UserID: fx.bob,
					Values: []KV{{"NOTIFY", "True"}}}
			},
			want: []stored{
				{2, RegistryInvenTree, ScopeNotification, []KV{{"NOTIFY", "True"}}},
				{2, RegistryInvenTree, ScopeUser, nil},
			},
		},
		{
			name: "dynprefs values",
			give: func(fx settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryDynPrefs, Scope: ScopeUser, UserID: fx.alice,
					Values: []KV{{"user__vegetables", `["C","T"]`}}}
			},
			want: []stored{{1, RegistryDynPrefs, ScopeUser, []KV{{"user__vegetables", `["C","T"]`}}}},
		},
		{
			name: "no values",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal}
			},
			want: []stored{{0, RegistryInvenTree, ScopeGlobal, nil}},
		},
		{
			name: "unknown key",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{"NOPE", "x"}}}
			},
			wantErr: &Error{Code: ErrSettingUnknown.Code, Key: "NOPE"},
		},
		{
			name: "key of another scope",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{"U_FLAG", "True"}}}
			},
			wantErr: &Error{Code: ErrSettingUnknown.Code, Key: "U_FLAG"},
		},
		{
			name: "key of another registry",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{"exam__duration", "03:00:00"}}}
			},
			wantErr: &Error{Code: ErrSettingUnknown.Code, Key: "exam__duration"},
		},
		{
			name: "keys are case-sensitive",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{"flag", "True"}}}
			},
			wantErr: &Error{Code: ErrSettingUnknown.Code, Key: "flag"},
		},
		{
			name: "unknown registry",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: "django", Scope: ScopeGlobal, Values: []KV{{"FLAG", "True"}}}
			},
			wantErr: &Error{Code: ErrSettingUnknown.Code, Key: "FLAG"},
		},
		{
			name: "invalid value",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{"COUNT", "26"}}}
			},
			wantErr: &Error{Code: ErrSettingInvalid.Code, Key: "COUNT", Reason: ReasonMax},
		},
		{
			name: "invalid currency list",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{"CURRENCIES", "USD,XYZ"}}}
			},
			wantErr: &Error{Code: ErrSettingInvalid.Code, Key: "CURRENCIES", Reason: ReasonValidator},
		},
		{
			name: "all or nothing: valid values before an invalid one",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal,
					Values: []KV{{"FLAG", "True"}, {"COUNT", "5"}, {"COUNT", "0"}}}
			},
			wantErr: &Error{Code: ErrSettingInvalid.Code, Key: "COUNT", Reason: ReasonMin},
		},
		{
			name: "all or nothing: valid values before an unknown key",
			give: func(fx settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeUser, UserID: fx.alice,
					Values: []KV{{"FORMAT", "a"}, {"NOPE", "x"}}}
			},
			wantErr: &Error{Code: ErrSettingUnknown.Code, Key: "NOPE"},
		},
		{
			name: "the first failure in order is reported",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal,
					Values: []KV{{"FLAG", "yes"}, {"NOPE", "x"}}}
			},
			wantErr: &Error{Code: ErrSettingInvalid.Code, Key: "FLAG", Reason: ReasonType},
		},
		{
			name: "global with a user id",
			give: func(fx settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, UserID: fx.alice, Values: []KV{{"FLAG", "True"}}}
			},
			wantErr: &Error{Code: ErrInvalidArgument.Code, Key: "user_id"},
		},
		{
			name: "user scope without a user",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeUser, Values: []KV{{"U_FLAG", "True"}}}
			},
			wantErr: ErrUserNotFound,
		},
		{
			name: "user scope with an unknown user",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeUser, UserID: 999, Values: []KV{{"U_FLAG", "True"}}}
			},
			wantErr: ErrUserNotFound,
		},
		{
			name: "user scope naming a definition's id",
			give: func(fx settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeUser, UserID: fx.bob + 1, Values: []KV{{"U_FLAG", "True"}}}
			},
			wantErr: ErrUserNotFound,
		},
		{
			name: "notification scope without a user",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeNotification, Values: []KV{{"NOTIFY", "True"}}}
			},
			wantErr: ErrUserNotFound,
		},
		{
			name: "unknown user is checked before the keys",
			give: func(settingsFixture) SetSettings {
				return SetSettings{Registry: RegistryInvenTree, Scope: ScopeUser, UserID: 999, Values: []KV{{"NOPE", "x"}}}
			},
			wantErr: ErrUserNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newSettingsFixture(t)
			// A value already stored, which a refused command must keep.
			fx.h.ok(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeUser, UserID: fx.alice,
				Values: []KV{{"U_FLAG", "True"}}})
			before := fx.h.state()
			give := tt.give(fx)
			res := fx.h.do(CmdSetSettings, give)
			checkErrExact(t, res.Err, tt.wantErr)
			if tt.wantErr != nil {
				checkUnchanged(t, before, fx.h.state())
				return
			}
			if res.ID != give.UserID {
				t.Errorf("Result.ID = %d, want the user id %d", res.ID, give.UserID)
			}
			s := fx.h.state()
			for _, w := range tt.want {
				got := s.Settings(w.user, w.r, w.s)
				if !slices.Equal(got, w.want) {
					t.Errorf("Settings(%d, %s, %s) = %v, want %v", w.user, w.r, w.s, got, w.want)
				}
			}
			for _, kv := range give.Values {
				if v, ok := s.Setting(give.UserID, give.Registry, give.Scope, kv.Key); !ok {
					t.Errorf("Setting(%s) missing", kv.Key)
				} else if last := lastValue(give.Values, kv.Key); v != last {
					t.Errorf("Setting(%s) = %q, want %q", kv.Key, v, last)
				}
			}
			checkInvariants(t, s)
		})
	}
}

// lastValue returns the last value given for key.
func lastValue(kvs []KV, key string) string {
	var v string
	for _, kv := range kvs {
		if kv.Key == key {
			v = kv.Value
		}
	}
	return v
}

// A write is checked against the definition in force when it is applied;
// values stored earlier stay when the definition tightens.
func TestSetSettingsUsesDefinitionInForce(t *testing.T) {
	fx := newSettingsFixture(t)
	h := fx.h
	h.ok(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{"COUNT", "20"}}})
	h.ok(CmdPutCatalog, PutCatalog{Defs: []SettingDef{def("COUNT", TypeInteger, withRange(ptr(1.0), ptr(10.0)))}})
	if v, _ := h.state().Setting(0, RegistryInvenTree, ScopeGlobal, "COUNT"); v != "20" {
		t.Errorf("COUNT = %q after the redefinition, want the stored 20", v)
	}
	res := h.do(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{"COUNT", "15"}}})
	checkErrExact(t, res.Err, &Error{Code: ErrSettingInvalid.Code, Key: "COUNT", Reason: ReasonMax})
	h.ok(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{"COUNT", "10"}}})
	// A type change applies too.
	h.ok(CmdPutCatalog, PutCatalog{Defs: []SettingDef{def("COUNT", TypeString)}})
	h.ok(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{"COUNT", "many"}}})
	if v, _ := h.state().Setting(0, RegistryInvenTree, ScopeGlobal, "COUNT"); v != "many" {
		t.Errorf("COUNT = %q, want many", v)
	}
}

// The error of a refused setting survives the trip a follower relays.
func TestSetSettingsErrorDetail(t *testing.T) {
	fx := newSettingsFixture(t)
	res := fx.h.do(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{"COUNT", "0"}}})
	if !errors.Is(res.Err, ErrSettingInvalid) || errors.Is(res.Err, ErrSettingUnknown) {
		t.Fatalf("error %v, want only ErrSettingInvalid", res.Err)
	}
	if got := res.Err.Error(); got != `fsm: setting_invalid (key "COUNT") (min)` {
		t.Errorf("Error() = %q", got)
	}
}

// Deleting a user drops every value the user held, in every registry and
// scope, and nobody else's.
func TestDeleteUserDropsSettings(t *testing.T) {
	fx := newSettingsFixture(t)
	h := fx.h
	h.ok(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{"FLAG", "True"}}})
	for _, u := range []uint64{fx.alice, fx.bob} {
		h.ok(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeUser, UserID: u, Values: []KV{{"FORMAT", "a"}}})
		h.ok(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeNotification, UserID: u, Values: []KV{{"NOTIFY", "False"}}})
		h.ok(CmdSetSettings, SetSettings{Registry: RegistryDynPrefs, Scope: ScopeUser, UserID: u, Values: []KV{{"user__vegetables", `["P"]`}}})
	}
	h.set(fx.alice, KV{"theme", "dark"})
	h.ok(CmdDeleteUser, DeleteUser{UserID: fx.alice})
	s := h.state()
	for _, c := range []struct {
		r  Registry
		sc Scope
	}{{RegistryInvenTree, ScopeUser}, {RegistryInvenTree, ScopeNotification}, {RegistryDynPrefs, ScopeUser}} {
		if got := s.Settings(fx.alice, c.r, c.sc); got != nil {
			t.Errorf("Settings(alice, %s, %s) = %v after deletion", c.r, c.sc, got)
		}
		if got := s.Settings(fx.bob, c.r, c.sc); len(got) != 1 {
			t.Errorf("Settings(bob, %s, %s) = %v, want bob's one value", c.r, c.sc, got)
		}
	}
	if got := s.Settings(0, RegistryInvenTree, ScopeGlobal); !slices.Equal(got, []KV{{"FLAG", "True"}}) {
		t.Errorf("global settings = %v, want FLAG kept", got)
	}
	// The snapshot holds no setting of the deleted user, so it restores.
	restored(t, encodeState(t, s))
	checkInvariants(t, s)
	// A new user never sees the old user's values, even if ids were reused.
	carol := h.user("carol")
	if got := h.state().Settings(carol, RegistryInvenTree, ScopeUser); got != nil {
		t.Errorf("Settings(carol) = %v, want none", got)
	}
}

func TestUserPermissions(t *testing.T) {
	tests := []struct {
		name   string
		create []string
		update *[]string // nil: no update
		want   []string
	}{
		{"none", nil, nil, nil},
		{"sorted", []string{"b.y", "a.x", "c.z"}, nil, []string{"a.x", "b.y", "c.z"}},
		{"de-duplicated", []string{"a.x", "b.y", "a.x", "b.y"}, nil, []string{"a.x", "b.y"}},
		{"empty names dropped", []string{"", "a.x", ""}, nil, []string{"a.x"}},
		{"only empty names", []string{"", ""}, nil, nil},
		{"update replaces", []string{"a.x", "b.y"}, &[]string{"z.z", "c.c", "z.z"}, []string{"c.c", "z.z"}},
		{"update to empty clears", []string{"a.x"}, &[]string{}, nil},
		{"update without permissions keeps them", []string{"b", "a"}, nil, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			give := CreateUser{Username: "u", Permissions: slices.Clone(tt.create)}
			id := h.ok(CmdCreateUser, give).ID
			h.ok(CmdUpdateUser, UpdateUser{UserID: id, Email: ptr("u@example.com")})
			if tt.update != nil {
				h.ok(CmdUpdateUser, UpdateUser{UserID: id, Permissions: tt.update})
			}
			u, _ := h.state().UserByID(id)
			if !slices.Equal(u.Permissions, tt.want) || (tt.want == nil && u.Permissions != nil) {
				t.Errorf("Permissions = %#v, want %#v", u.Permissions, tt.want)
			}
			// The permissions survive a snapshot.
			ru, _ := restored(t, encodeState(t, h.state())).State().UserByID(id)
			if !slices.Equal(ru.Permissions, tt.want) {
				t.Errorf("restored Permissions = %v, want %v", ru.Permissions, tt.want)
			}
		})
	}
}

func TestHasPermission(t *testing.T) {
	const change = "dynamic_preferences.change_globalpreferencemodel"
	const view = "dynamic_preferences.view_globalpreferencemodel"
	tests := []struct {
		name string
		user CreateUser
		perm string
		want bool
	}{
		{"held", CreateUser{Permissions: []string{view, change}}, change, true},
		{"held, other", CreateUser{Permissions: []string{view, change}}, view, true},
		{"not held", CreateUser{Permissions: []string{view}}, change, false},
		{"prefix of a held one", CreateUser{Permissions: []string{change}}, "dynamic_preferences.change", false},
		{"case differs", CreateUser{Permissions: []string{change}}, strings.ToUpper(change), false},
		{"none held", CreateUser{}, change, false},
		{"empty name", CreateUser{Permissions: []string{change}}, "", false},
		{"staff is not enough", CreateUser{IsStaff: true}, change, false},
		{"superuser holds everything", CreateUser{IsSuperuser: true}, change, true},
		{"superuser, any name", CreateUser{IsSuperuser: true}, "anything.at_all", true},
		{"superuser, empty name", CreateUser{IsSuperuser: true}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.user.Username = "u"
			id := h.ok(CmdCreateUser, tt.user).ID
			u, _ := h.state().UserByID(id)
			if got := u.HasPermission(tt.perm); got != tt.want {
				t.Errorf("HasPermission(%q) = %v, want %v (permissions %v)", tt.perm, got, tt.want, u.Permissions)
			}
		})
	}
	// Losing superuser status loses the permissions it implied.
	h := newHarness(t)
	id := h.ok(CmdCreateUser, CreateUser{Username: "root", IsSuperuser: true}).ID
	h.ok(CmdUpdateUser, UpdateUser{UserID: id, IsSuperuser: ptr(false)})
	if u, _ := h.state().UserByID(id); u.HasPermission(change) {
		t.Error("a former superuser still holds every permission")
	}
}

// settingsRichFixture holds definitions of every type and values in every
// registry and scope, including a value whose definition was removed.
func settingsRichFixture(t *testing.T) settingsFixture {
	t.Helper()
	fx := newSettingsFixture(t)
	h := fx.h
	h.ok(CmdPutCatalog, PutCatalog{Defs: []SettingDef{
		{Registry: RegistryInvenTree, Scope: ScopeGlobal, Key: "EVERY_FIELD", Type: TypeInteger, Section: "s",
			Name: "Every field", Description: "All of them", Default: "5", Units: "days", Min: ptr(0.0), Max: ptr(9.5),
			Regex: `[0-9]`, Hidden: true, Protected: true},
		{Registry: RegistryInvenTree, Scope: ScopeNotification, Key: "NOTIFICATION_METHOD_MAIL", Type: TypeBoolean,
			Default: "True", Method: "mail", Name: "Enable email notifications"},
		{Registry: RegistryDynPrefs, Scope: ScopeGlobal, Key: "blog__entry", Section: "blog", Type: TypeRelated, ModelName: "test_app.blogentry"},
		def("F", TypeFloat, withDefault("0.5")),
		def("DEC", TypeDecimal, withDefault("2.50")),
		def("LS", TypeLongString, withDefault("a\nb")),
		def("DT", TypeDateTime, withDefault("1992-05-04T03:04:10.000150+00:00")),
		def("D", TypeDate, withDefault("1998-09-04")),
		def("T", TypeTime, withDefault("08:00:00")),
		def("GONE", TypeString),
		def("日本", TypeString, withDefault("語")),
	}})
	h.ok(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal,
		Values: []KV{{"FLAG", "True"}, {"GONE", "kept"}, {"日本", "値"}, {"F", "-1e-3"}, {"EVERY_FIELD", "7"}}})
	h.ok(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeUser, UserID: fx.alice, Values: []KV{{"FORMAT", "b"}}})
	h.ok(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeNotification, UserID: fx.bob,
		Values: []KV{{"NOTIFICATION_METHOD_MAIL", "False"}, {"NOTIFY", "True"}}})
	h.ok(CmdSetSettings, SetSettings{Registry: RegistryDynPrefs, Scope: ScopeGlobal, Values: []KV{{"exam__duration", "1 02:00:00"}, {"blog__entry", "3"}}})
	h.ok(CmdSetSettings, SetSettings{Registry: RegistryDynPrefs, Scope: ScopeUser, UserID: fx.bob, Values: []KV{{"user__vegetables", `["C","P"]`}}})
	// Drop GONE by replacing the catalogue with everything else.
	var keep []SettingDef
	for _, d := range h.state().CatalogAll() {
		if d.Key != "GONE" {
			keep = append(keep, *d)
		}
	}
	h.ok(CmdPutCatalog, PutCatalog{Replace: true, Defs: keep})
	h.ok(CmdUpdateUser, UpdateUser{UserID: fx.alice, Permissions: &[]string{"b.perm", "a.perm"}})
	return fx
}

func TestSnapshotRoundTripSettings(t *testing.T) {
	fx := settingsRichFixture(t)
	s := fx.h.state()
	if _, ok := s.SettingDef(RegistryInvenTree, ScopeGlobal, "GONE"); ok {
		t.Fatal("fixture: GONE is still defined")
	}
	b := encodeState(t, s)
	for _, want := range []string{`"def":`, `"value":`, `"catalog_version":3`, `"k":"GONE"`, `"permissions":["a.perm","b.perm"]`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("snapshot lacks %s", want)
		}
	}
	r, err := ReadSnapshot(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("ReadSnapshot: %v", err)
	}
	if b2 := encodeState(t, r); !bytes.Equal(b, b2) {
		t.Errorf("snapshot bytes differ after a round trip:\n got: %s\nwant: %s", b2, b)
	}
	if r.CatalogVersion() != s.CatalogVersion() {
		t.Errorf("CatalogVersion = %d, want %d", r.CatalogVersion(), s.CatalogVersion())
	}
	// Definitions come back whole, in the same order, with their ids.
	got, want := r.CatalogAll(), s.CatalogAll()
	if len(got) != len(want) {
		t.Fatalf("%d definitions restored, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := *got[i], *want[i]
		if g.ID != w.ID || g.Key != w.Key || g.Default != w.Default || !slices.Equal(g.Choices, w.Choices) ||
			(w.Min == nil) != (g.Min == nil) || (w.Min != nil && *g.Min != *w.Min) || g.Method != w.Method ||
			g.Hidden != w.Hidden || g.Protected != w.Protected || g.ModelName != w.ModelName || g.Regex != w.Regex {
			t.Errorf("definition %d restored as %+v, want %+v", i, g, w)
		}
	}
	// Values come back for every user, registry and scope.
	for _, c := range []struct {
		user uint64
		r    Registry
		sc   Scope
	}{
		{0, RegistryInvenTree, ScopeGlobal}, {fx.alice, RegistryInvenTree, ScopeUser},
		{fx.bob, RegistryInvenTree, ScopeNotification}, {0, RegistryDynPrefs, ScopeGlobal},
		{fx.bob, RegistryDynPrefs, ScopeUser},
	} {
		g, w := r.Settings(c.user, c.r, c.sc), s.Settings(c.user, c.r, c.sc)
		if len(w) == 0 || !slices.Equal(g, w) {
			t.Errorf("Settings(%d, %s, %s) = %v, want %v (non-empty)", c.user, c.r, c.sc, g, w)
		}
	}
	if v, ok := r.Setting(0, RegistryInvenTree, ScopeGlobal, "GONE"); !ok || v != "kept" {
		t.Errorf("obsolete value = %q, %v, want kept", v, ok)
	}

	// A restored replica goes on exactly as the original: the next
	// definition and user get the same ids.
	orig := fx.h.f
	copyF := restored(t, b)
	next := []struct {
		typ  CmdType
		body any
	}{
		{CmdPutCatalog, PutCatalog{Defs: []SettingDef{def("AFTER", TypeString), def("FLAG", TypeBoolean)}}},
		{CmdCreateUser, CreateUser{Username: "dave"}},
		{CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{"AFTER", "x"}}}},
	}
	idx := s.Index()
	for _, n := range next {
		idx++
		a := applyCmd(t, orig, idx, n.typ, n.body)
		c := applyCmd(t, copyF, idx, n.typ, n.body)
		if !resultEqual(a, c) {
			t.Errorf("%s: original answered %+v, restored copy %+v", n.typ, a, c)
		}
	}
	if a, c := encodeState(t, orig.State()), encodeState(t, copyF.State()); !bytes.Equal(a, c) {
		t.Errorf("states differ after the same commands:\n original: %s\n restored: %s", a, c)
	}
	// Persist writes the same bytes as Encode.
	snap, err := orig.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if p := persist(t, snap); !bytes.Equal(p, encodeState(t, orig.State())) {
		t.Error("Persist wrote other bytes than Encode")
	}
}

// A snapshot holding a setting of a user it does not hold is refused.
func TestReadSnapshotSettingOfUnknownUser(t *testing.T) {
	fx := settingsRichFixture(t)
	b := encodeState(t, fx.h.state())
	// Drop alice's user record; her settings stay.
	var out [][]byte
	for _, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if bytes.Contains(line, []byte(`{"user":{"id":1,`)) {
			continue
		}
		out = append(out, line)
	}
	if len(out) != bytes.Count(b, []byte("\n"))-1 {
		t.Fatal("fixture: alice's record not found in the snapshot")
	}
	_, err := ReadSnapshot(bytes.NewReader(append(bytes.Join(out, []byte("\n")), '\n')))
	if !errors.Is(err, ErrBadSnapshot) || !strings.Contains(err.Error(), "setting of unknown user 1") {
		t.Errorf("ReadSnapshot = %v, want ErrBadSnapshot naming user 1", err)
	}
}
