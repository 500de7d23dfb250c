package fsm

import (
	"reflect"
	"testing"
)

func TestCreateUser(t *testing.T) {
	tests := []struct {
		name    string
		setup   []string // usernames created first, in order
		give    CreateUser
		wantID  uint64
		wantErr *Error
	}{
		{
			name:   "first user gets id 1",
			give:   CreateUser{Username: "alice"},
			wantID: 1,
		},
		{
			name:   "ids are allocated in order",
			setup:  []string{"alice", "bob"},
			give:   CreateUser{Username: "carol"},
			wantID: 3,
		},
		{
			name:   "all fields are stored",
			give:   CreateUser{Username: "Root", Email: "root@example.com", PasswordHash: "pbkdf2$x", IsStaff: true, IsSuperuser: true},
			wantID: 1,
		},
		{
			name:    "exact duplicate",
			setup:   []string{"alice"},
			give:    CreateUser{Username: "alice"},
			wantErr: &Error{Code: ErrUserExists.Code, Key: "alice"},
		},
		{
			name:    "duplicate differing in case",
			setup:   []string{"Alice"},
			give:    CreateUser{Username: "alice"},
			wantErr: &Error{Code: ErrUserExists.Code, Key: "alice"},
		},
		{
			name:    "duplicate in upper case",
			setup:   []string{"alice"},
			give:    CreateUser{Username: "ALICE"},
			wantErr: &Error{Code: ErrUserExists.Code, Key: "ALICE"},
		},
		{
			name:    "non-ASCII duplicate differing in case",
			setup:   []string{"Émile"},
			give:    CreateUser{Username: "éMILE"},
			wantErr: &Error{Code: ErrUserExists.Code, Key: "éMILE"},
		},
		{
			name:   "similar but distinct name",
			setup:  []string{"alice"},
			give:   CreateUser{Username: "alice2"},
			wantID: 2,
		},
		{
			name:    "empty username",
			give:    CreateUser{Username: "", Email: "x@example.com"},
			wantErr: &Error{Code: ErrInvalidArgument.Code, Key: "username"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for _, n := range tt.setup {
				h.user(n)
			}
			before := h.state()
			res := h.do(CmdCreateUser, tt.give)
			checkErrExact(t, res.Err, tt.wantErr)
			if tt.wantErr != nil {
				if res.ID != 0 {
					t.Errorf("refused create returned id %d", res.ID)
				}
				checkUnchanged(t, before, h.state())
				// A refused create allocates no id.
				if id := h.user("zz-fresh"); id != uint64(len(tt.setup))+1 {
					t.Errorf("next id after refusal = %d, want %d", id, len(tt.setup)+1)
				}
				return
			}
			if res.ID != tt.wantID {
				t.Fatalf("id = %d, want %d", res.ID, tt.wantID)
			}
			u, ok := h.state().UserByID(res.ID)
			if !ok {
				t.Fatalf("UserByID(%d) not found", res.ID)
			}
			want := User{
				ID:           tt.wantID,
				Username:     tt.give.Username,
				Email:        tt.give.Email,
				PasswordHash: tt.give.PasswordHash,
				IsStaff:      tt.give.IsStaff,
				IsSuperuser:  tt.give.IsSuperuser,
				Created:      testNow,
				Updated:      testNow,
			}
			if !reflect.DeepEqual(*u, want) {
				t.Errorf("user = %+v, want %+v", *u, want)
			}
			for _, n := range []string{tt.give.Username, lowerASCIIOnly(tt.give.Username), upperASCIIOnly(tt.give.Username)} {
				if got, ok := h.state().UserByName(n); !ok || got.ID != res.ID {
					t.Errorf("UserByName(%q) = %v, %v; want user %d", n, got, ok, res.ID)
				}
			}
			if got := len(h.state().Users()); got != len(tt.setup)+1 {
				t.Errorf("len(Users()) = %d, want %d", got, len(tt.setup)+1)
			}
			checkInvariants(t, h.state())
		})
	}
}

func lowerASCIIOnly(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func upperASCIIOnly(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func TestUpdateUser(t *testing.T) {
	const later = testNow + 5_000_000_000
	base := User{ID: 1, Username: "alice", Email: "a@example.com", PasswordHash: "h1", IsStaff: true, Created: testNow, Updated: later}
	tests := []struct {
		name      string
		give      UpdateUser
		want      User     // alice (id 1) afterwards
		wantErr   *Error   // nil on success
		wantNames []string // names that must find alice afterwards
		goneNames []string // names that must find nobody afterwards
	}{
		{
			name:      "rename",
			give:      UpdateUser{UserID: 1, Username: ptr("carol")},
			want:      with(base, func(u *User) { u.Username = "carol" }),
			wantNames: []string{"carol", "CAROL"},
			goneNames: []string{"alice", "Alice"},
		},
		{
			name:      "rename changing only the case",
			give:      UpdateUser{UserID: 1, Username: ptr("ALICE")},
			want:      with(base, func(u *User) { u.Username = "ALICE" }),
			wantNames: []string{"alice", "ALICE", "Alice"},
		},
		{
			name:      "rename to the same name",
			give:      UpdateUser{UserID: 1, Username: ptr("alice")},
			want:      base,
			wantNames: []string{"alice"},
		},
		{
			name:    "rename onto another user",
			give:    UpdateUser{UserID: 1, Username: ptr("bob"), Email: ptr("changed@example.com")},
			wantErr: &Error{Code: ErrUserExists.Code, Key: "bob"},
		},
		{
			name:    "rename onto another user differing in case",
			give:    UpdateUser{UserID: 1, Username: ptr("BoB")},
			wantErr: &Error{Code: ErrUserExists.Code, Key: "BoB"},
		},
		{
			name:    "rename to empty",
			give:    UpdateUser{UserID: 1, Username: ptr("")},
			wantErr: &Error{Code: ErrInvalidArgument.Code, Key: "username"},
		},
		{
			name: "set flags",
			give: UpdateUser{UserID: 1, IsStaff: ptr(false), IsSuperuser: ptr(true)},
			want: with(base, func(u *User) { u.IsStaff, u.IsSuperuser = false, true }),
		},
		{
			name: "set email and password hash, clear email",
			give: UpdateUser{UserID: 1, Email: ptr(""), PasswordHash: ptr("h2")},
			want: with(base, func(u *User) { u.Email, u.PasswordHash = "", "h2" }),
		},
		{
			name: "empty update only touches the time",
			give: UpdateUser{UserID: 1},
			want: base,
		},
		{
			name:    "unknown user",
			give:    UpdateUser{UserID: 99, Username: ptr("zed")},
			wantErr: ErrUserNotFound,
		},
		{
			name:    "user id zero",
			give:    UpdateUser{UserID: 0, IsStaff: ptr(true)},
			wantErr: ErrUserNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.ok(CmdCreateUser, CreateUser{Username: "alice", Email: "a@example.com", PasswordHash: "h1", IsStaff: true})
			h.user("bob")
			before := h.state()
			h.idx++
			res := applyCmdAt(t, h.f, h.idx, later, CmdUpdateUser, tt.give)
			checkErrExact(t, res.Err, tt.wantErr)
			if tt.wantErr != nil {
				checkUnchanged(t, before, h.state())
				return
			}
			if res.ID != 1 {
				t.Errorf("id = %d, want 1", res.ID)
			}
			u, ok := h.state().UserByID(1)
			if !ok {
				t.Fatal("user 1 gone")
			}
			if !reflect.DeepEqual(*u, tt.want) {
				t.Errorf("user = %+v, want %+v", *u, tt.want)
			}
			for _, n := range tt.wantNames {
				if got, ok := h.state().UserByName(n); !ok || got.ID != 1 {
					t.Errorf("UserByName(%q) = %v, %v; want user 1", n, got, ok)
				}
			}
			for _, n := range tt.goneNames {
				if got, ok := h.state().UserByName(n); ok {
					t.Errorf("UserByName(%q) = %+v, want not found", n, got)
				}
			}
			if bob, ok := h.state().UserByName("bob"); !ok || bob.ID != 2 || bob.Updated != testNow {
				t.Errorf("bob = %+v, %v; want untouched user 2", bob, ok)
			}
			checkInvariants(t, h.state())
		})
	}
}

// with returns a copy of u changed by fn.
func with(u User, fn func(*User)) User {
	fn(&u)
	return u
}

func TestUpdateUserRenameFreesOldName(t *testing.T) {
	h := newHarness(t)
	h.user("alice")
	h.ok(CmdUpdateUser, UpdateUser{UserID: 1, Username: ptr("alicia")})
	res := h.do(CmdCreateUser, CreateUser{Username: "Alice"})
	checkErr(t, res.Err, nil)
	if res.ID != 2 {
		t.Errorf("new Alice id = %d, want 2", res.ID)
	}
	res = h.do(CmdCreateUser, CreateUser{Username: "ALICIA"})
	checkErrExact(t, res.Err, &Error{Code: ErrUserExists.Code, Key: "ALICIA"})
	checkInvariants(t, h.state())
}

func TestDeleteUser(t *testing.T) {
	type fixture struct {
		h                    *harness
		alice, bob           uint64
		aliceTok, bobTok     []string // secrets
		alicePrefs, bobPrefs []KV
	}
	setup := func(t *testing.T) fixture {
		h := newHarness(t)
		fx := fixture{h: h}
		fx.alice = h.user("Alice")
		fx.bob = h.user("bob")
		fx.aliceTok = []string{"alice-1", "alice-2"}
		fx.bobTok = []string{"bob-1"}
		for _, s := range fx.aliceTok {
			h.token(fx.alice, s, s)
		}
		for _, s := range fx.bobTok {
			h.token(fx.bob, s, s)
		}
		fx.alicePrefs = []KV{{"a", "1"}, {"b", "22"}, {"c", "333"}}
		fx.bobPrefs = []KV{{"a", "bob"}}
		h.set(fx.alice, fx.alicePrefs...)
		h.set(fx.bob, fx.bobPrefs...)
		return fx
	}

	tests := []struct {
		name        string
		give        func(fx fixture) DeleteUser
		wantErr     *Error
		wantDeleted int
	}{
		{
			name:        "user with tokens and prefs",
			give:        func(fx fixture) DeleteUser { return DeleteUser{UserID: fx.alice} },
			wantDeleted: 3,
		},
		{
			name:    "unknown user",
			give:    func(fixture) DeleteUser { return DeleteUser{UserID: 42} },
			wantErr: ErrUserNotFound,
		},
		{
			name:    "token id is not a user id",
			give:    func(fixture) DeleteUser { return DeleteUser{UserID: 3} }, // alice's first token
			wantErr: ErrUserNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := setup(t)
			h := fx.h
			before := h.state()
			give := tt.give(fx)
			res := h.do(CmdDeleteUser, give)
			checkErr(t, res.Err, tt.wantErr)
			if tt.wantErr != nil {
				checkUnchanged(t, before, h.state())
				return
			}
			if res.ID != give.UserID || res.Deleted != tt.wantDeleted {
				t.Errorf("result = %+v, want ID %d Deleted %d", res, give.UserID, tt.wantDeleted)
			}
			s := h.state()
			if u, ok := s.UserByID(fx.alice); ok {
				t.Errorf("UserByID(alice) = %+v, want not found", u)
			}
			for _, n := range []string{"Alice", "alice"} {
				if u, ok := s.UserByName(n); ok {
					t.Errorf("UserByName(%q) = %+v, want not found", n, u)
				}
			}
			for _, sec := range fx.aliceTok {
				if tok, u, ok := s.TokenByDigest(digest(sec)); ok {
					t.Errorf("TokenByDigest(%s) = %+v of %+v, want not found", sec, tok, u)
				}
			}
			if toks := s.Tokens(fx.alice); len(toks) != 0 {
				t.Errorf("Tokens(alice) = %d tokens, want none", len(toks))
			}
			if p := s.Prefs(fx.alice); len(p) != 0 {
				t.Errorf("Prefs(alice) = %v, want none", p)
			}
			if v, ok := s.Pref(fx.alice, "a"); ok {
				t.Errorf("Pref(alice, a) = %q, want not found", v)
			}
			// Bob is untouched.
			if tok, u, ok := s.TokenByDigest(digest("bob-1")); !ok || u.ID != fx.bob || tok.Name != "bob-1" {
				t.Errorf("bob's token lost: %+v %+v %v", tok, u, ok)
			}
			if p := s.Prefs(fx.bob); len(p) != 1 || p[0] != fx.bobPrefs[0] {
				t.Errorf("Prefs(bob) = %v, want %v", p, fx.bobPrefs)
			}
			if n := len(s.Users()); n != 1 {
				t.Errorf("len(Users()) = %d, want 1", n)
			}
			checkInvariants(t, s)

			// The username is free again, under a new id; the old tokens'
			// digests can be reused.
			res = h.do(CmdCreateUser, CreateUser{Username: "alice"})
			checkErr(t, res.Err, nil)
			if res.ID != 6 {
				t.Errorf("re-created alice id = %d, want 6 (ids are never reused)", res.ID)
			}
			if p := h.state().Prefs(res.ID); len(p) != 0 {
				t.Errorf("re-created alice inherited prefs %v", p)
			}
			tokRes := h.do(CmdCreateToken, CreateToken{UserID: res.ID, Name: "again", Digest: digest("alice-1")})
			checkErr(t, tokRes.Err, nil)
			// Deleting the same user twice fails the second time.
			checkErr(t, h.do(CmdDeleteUser, give).Err, ErrUserNotFound)
			checkInvariants(t, h.state())
		})
	}
}
