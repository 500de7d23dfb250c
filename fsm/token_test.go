package fsm

import (
	"bytes"
	"reflect"
	"testing"
)

// tokenFixture creates alice (1) with token "a1" (3) and bob (2) with token
// "b1" (4).
func tokenFixture(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	h.user("alice")
	h.user("bob")
	h.token(1, "laptop", "a1")
	h.token(2, "ci", "b1")
	return h
}

func TestCreateToken(t *testing.T) {
	tests := []struct {
		name    string
		give    CreateToken
		wantID  uint64
		wantErr *Error
	}{
		{
			name:   "new digest",
			give:   CreateToken{UserID: 1, Name: "phone", Digest: digest("a2")},
			wantID: 5,
		},
		{
			name:   "same name, other digest",
			give:   CreateToken{UserID: 1, Name: "laptop", Digest: digest("a3")},
			wantID: 5,
		},
		{
			name:   "empty name is allowed",
			give:   CreateToken{UserID: 2, Digest: []byte{0}},
			wantID: 5,
		},
		{
			name:    "duplicate digest, same user",
			give:    CreateToken{UserID: 1, Name: "again", Digest: digest("a1")},
			wantErr: ErrTokenExists,
		},
		{
			name:    "duplicate digest, other user",
			give:    CreateToken{UserID: 2, Name: "stolen", Digest: digest("a1")},
			wantErr: ErrTokenExists,
		},
		{
			name:    "empty digest",
			give:    CreateToken{UserID: 1, Name: "empty", Digest: []byte{}},
			wantErr: &Error{Code: ErrInvalidArgument.Code, Key: "digest"},
		},
		{
			name:    "missing digest",
			give:    CreateToken{UserID: 1, Name: "none"},
			wantErr: &Error{Code: ErrInvalidArgument.Code, Key: "digest"},
		},
		{
			name:    "unknown user",
			give:    CreateToken{UserID: 77, Name: "x", Digest: digest("x")},
			wantErr: ErrUserNotFound,
		},
		{
			name:    "token id is not a user",
			give:    CreateToken{UserID: 3, Name: "x", Digest: digest("x")},
			wantErr: ErrUserNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tokenFixture(t)
			before := h.state()
			h.idx++
			const later = testNow + 1
			res := applyCmdAt(t, h.f, h.idx, later, CmdCreateToken, tt.give)
			checkErrExact(t, res.Err, tt.wantErr)
			if tt.wantErr != nil {
				checkUnchanged(t, before, h.state())
				return
			}
			if res.ID != tt.wantID {
				t.Errorf("id = %d, want %d", res.ID, tt.wantID)
			}
			tok, u, ok := h.state().TokenByDigest(tt.give.Digest)
			if !ok {
				t.Fatal("TokenByDigest: not found")
			}
			want := Token{ID: tt.wantID, UserID: tt.give.UserID, Name: tt.give.Name, Digest: tt.give.Digest, Created: later}
			if tok.ID != want.ID || tok.UserID != want.UserID || tok.Name != want.Name || !bytes.Equal(tok.Digest, want.Digest) || tok.Created != want.Created {
				t.Errorf("token = %+v, want %+v", *tok, want)
			}
			if u.ID != tt.give.UserID {
				t.Errorf("token's user = %d, want %d", u.ID, tt.give.UserID)
			}
			if n := len(h.state().Tokens(tt.give.UserID)); n != 2 {
				t.Errorf("len(Tokens(%d)) = %d, want 2", tt.give.UserID, n)
			}
			checkInvariants(t, h.state())
		})
	}
}

func TestDeleteToken(t *testing.T) {
	tests := []struct {
		name    string
		give    DeleteToken
		wantErr *Error
		gone    string // secret whose token must be gone
	}{
		{name: "own token", give: DeleteToken{UserID: 1, TokenID: 3}, gone: "a1"},
		{name: "other user's token id", give: DeleteToken{UserID: 1, TokenID: 4}, wantErr: ErrTokenNotFound},
		{name: "unknown token id", give: DeleteToken{UserID: 1, TokenID: 99}, wantErr: ErrTokenNotFound},
		{name: "unknown user", give: DeleteToken{UserID: 99, TokenID: 3}, wantErr: ErrTokenNotFound},
		{name: "user id given as token id", give: DeleteToken{UserID: 1, TokenID: 1}, wantErr: ErrTokenNotFound},
		{name: "zero ids", give: DeleteToken{}, wantErr: ErrTokenNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tokenFixture(t)
			before := h.state()
			res := h.do(CmdDeleteToken, tt.give)
			checkErr(t, res.Err, tt.wantErr)
			if tt.wantErr != nil {
				checkUnchanged(t, before, h.state())
				return
			}
			if res.ID != tt.give.TokenID {
				t.Errorf("id = %d, want %d", res.ID, tt.give.TokenID)
			}
			s := h.state()
			if tok, _, ok := s.TokenByDigest(digest(tt.gone)); ok {
				t.Errorf("TokenByDigest(%s) = %+v, want not found", tt.gone, tok)
			}
			if toks := s.Tokens(tt.give.UserID); len(toks) != 0 {
				t.Errorf("Tokens(%d) = %d tokens, want 0", tt.give.UserID, len(toks))
			}
			if _, u, ok := s.TokenByDigest(digest("b1")); !ok || u.ID != 2 {
				t.Errorf("bob's token lost")
			}
			// A second delete of the same token fails.
			checkErr(t, h.do(CmdDeleteToken, tt.give).Err, ErrTokenNotFound)
			// The digest may be issued again.
			checkErr(t, h.do(CmdCreateToken, CreateToken{UserID: 2, Name: "reuse", Digest: digest(tt.gone)}).Err, nil)
			checkInvariants(t, h.state())
		})
	}
}

func TestTokensListing(t *testing.T) {
	h := newHarness(t)
	alice := h.user("alice") // 1
	bob := h.user("bob")     // 2
	// Interleave so that ids are not contiguous per user, and use names and
	// digests whose order differs from the ids'.
	h.token(alice, "zeta", "s-zeta")   // 3
	h.token(bob, "bob-only", "s-bob")  // 4
	h.token(alice, "alpha", "s-alpha") // 5
	h.token(alice, "mid", "s-mid")     // 6
	h.ok(CmdDeleteToken, DeleteToken{UserID: alice, TokenID: 6})
	h.token(alice, "last", "s-last") // 7

	tests := []struct {
		name    string
		give    uint64
		wantIDs []uint64
		wantNms []string
	}{
		{name: "alice", give: alice, wantIDs: []uint64{3, 5, 7}, wantNms: []string{"zeta", "alpha", "last"}},
		{name: "bob", give: bob, wantIDs: []uint64{4}, wantNms: []string{"bob-only"}},
		{name: "unknown user", give: 100, wantIDs: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toks := h.state().Tokens(tt.give)
			if len(toks) != len(tt.wantIDs) {
				t.Fatalf("len(Tokens) = %d, want %d", len(toks), len(tt.wantIDs))
			}
			for i, tok := range toks {
				if tok.ID != tt.wantIDs[i] || tok.Name != tt.wantNms[i] || tok.UserID != tt.give {
					t.Errorf("Tokens[%d] = {ID %d Name %q User %d}, want {ID %d Name %q User %d}",
						i, tok.ID, tok.Name, tok.UserID, tt.wantIDs[i], tt.wantNms[i], tt.give)
				}
			}
		})
	}
}

func TestMembers(t *testing.T) {
	type step struct {
		typ     CmdType
		body    any
		wantErr *Error
	}
	tests := []struct {
		name  string
		steps []step
		want  []Member
	}{
		{
			name: "ordered by node id",
			steps: []step{
				{typ: CmdSetMember, body: SetMember{NodeID: "node-c", APIAddr: "10.0.0.3:8080"}},
				{typ: CmdSetMember, body: SetMember{NodeID: "node-a", APIAddr: "10.0.0.1:8080"}},
				{typ: CmdSetMember, body: SetMember{NodeID: "node-b", APIAddr: "10.0.0.2:8080"}},
			},
			want: []Member{{"node-a", "10.0.0.1:8080"}, {"node-b", "10.0.0.2:8080"}, {"node-c", "10.0.0.3:8080"}},
		},
		{
			name: "bytewise order",
			steps: []step{
				{typ: CmdSetMember, body: SetMember{NodeID: "b", APIAddr: "x"}},
				{typ: CmdSetMember, body: SetMember{NodeID: "B", APIAddr: "y"}},
				{typ: CmdSetMember, body: SetMember{NodeID: "a", APIAddr: "z"}},
			},
			want: []Member{{"B", "y"}, {"a", "z"}, {"b", "x"}},
		},
		{
			name: "set again replaces the address",
			steps: []step{
				{typ: CmdSetMember, body: SetMember{NodeID: "n1", APIAddr: "old:1"}},
				{typ: CmdSetMember, body: SetMember{NodeID: "n1", APIAddr: "new:2"}},
			},
			want: []Member{{"n1", "new:2"}},
		},
		{
			name: "empty address is stored",
			steps: []step{
				{typ: CmdSetMember, body: SetMember{NodeID: "n1"}},
			},
			want: []Member{{"n1", ""}},
		},
		{
			name: "remove",
			steps: []step{
				{typ: CmdSetMember, body: SetMember{NodeID: "n1", APIAddr: "a:1"}},
				{typ: CmdSetMember, body: SetMember{NodeID: "n2", APIAddr: "a:2"}},
				{typ: CmdRemoveMember, body: RemoveMember{NodeID: "n1"}},
			},
			want: []Member{{"n2", "a:2"}},
		},
		{
			name: "remove unknown member succeeds",
			steps: []step{
				{typ: CmdSetMember, body: SetMember{NodeID: "n1", APIAddr: "a:1"}},
				{typ: CmdRemoveMember, body: RemoveMember{NodeID: "n9"}},
				{typ: CmdRemoveMember, body: RemoveMember{NodeID: ""}},
			},
			want: []Member{{"n1", "a:1"}},
		},
		{
			name: "empty node id",
			steps: []step{
				{typ: CmdSetMember, body: SetMember{NodeID: "n1", APIAddr: "a:1"}},
				{typ: CmdSetMember, body: SetMember{NodeID: "", APIAddr: "a:2"}, wantErr: &Error{Code: ErrInvalidArgument.Code, Key: "node_id"}},
			},
			want: []Member{{"n1", "a:1"}},
		},
		{
			name: "remove all",
			steps: []step{
				{typ: CmdSetMember, body: SetMember{NodeID: "n1", APIAddr: "a:1"}},
				{typ: CmdRemoveMember, body: RemoveMember{NodeID: "n1"}},
			},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for i, st := range tt.steps {
				before := h.state()
				res := h.do(st.typ, st.body)
				checkErrExact(t, res.Err, st.wantErr)
				if res.ID != 0 || res.Deleted != 0 {
					t.Errorf("step %d: result = %+v, want zero id and deleted", i, res)
				}
				if st.wantErr != nil {
					checkUnchanged(t, before, h.state())
				}
			}
			got := h.state().Members()
			if len(got) != len(tt.want) {
				t.Fatalf("Members() = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("Members()[%d] = %+v, want %+v", i, got[i], tt.want[i])
				}
				if m, ok := h.state().Member(tt.want[i].NodeID); !ok || m != tt.want[i] {
					t.Errorf("Member(%q) = %+v, %v; want %+v", tt.want[i].NodeID, m, ok, tt.want[i])
				}
			}
			if m, ok := h.state().Member("absent"); ok || m != (Member{}) {
				t.Errorf("Member(absent) = %+v, %v; want zero, false", m, ok)
			}
		})
	}
}

func TestEnsureAdmin(t *testing.T) {
	type step struct {
		give    EnsureAdmin
		wantID  uint64
		wantErr *Error
		// unchanged says the step must change nothing but the index.
		unchanged bool
	}
	tests := []struct {
		name       string
		preUsers   []string // created before the steps
		steps      []step
		wantAdmin  User     // the admin afterwards (Created and Updated are testNow)
		wantTokens []string // names of the admin's tokens, in id order
		wantUsers  int
	}{
		{
			name: "creates a superuser with a token",
			steps: []step{
				{give: EnsureAdmin{Username: "admin", TokenName: "bootstrap", Digest: digest("s1")}, wantID: 1},
			},
			wantAdmin:  User{ID: 1, Username: "admin", IsStaff: true, IsSuperuser: true},
			wantTokens: []string{"bootstrap"},
			wantUsers:  1,
		},
		{
			name: "idempotent with the same digest",
			steps: []step{
				{give: EnsureAdmin{Username: "admin", TokenName: "bootstrap", Digest: digest("s1")}, wantID: 1},
				{give: EnsureAdmin{Username: "admin", TokenName: "bootstrap", Digest: digest("s1")}, wantID: 1, unchanged: true},
				{give: EnsureAdmin{Username: "ADMIN", TokenName: "renamed", Digest: digest("s1")}, wantID: 1, unchanged: true},
			},
			wantAdmin:  User{ID: 1, Username: "admin", IsStaff: true, IsSuperuser: true},
			wantTokens: []string{"bootstrap"},
			wantUsers:  1,
		},
		{
			// An operator who revoked the bootstrap token must not see a
			// later leader hand the superuser another one.
			name: "an existing admin gets no further token",
			steps: []step{
				{give: EnsureAdmin{Username: "admin", TokenName: "old", Digest: digest("s1")}, wantID: 1},
				{give: EnsureAdmin{Username: "admin", TokenName: "new", Digest: digest("s2")}, wantID: 1, unchanged: true},
			},
			wantAdmin:  User{ID: 1, Username: "admin", IsStaff: true, IsSuperuser: true},
			wantTokens: []string{"old"},
			wantUsers:  1,
		},
		{
			name: "without a digest creates no token",
			steps: []step{
				{give: EnsureAdmin{Username: "admin"}, wantID: 1},
				{give: EnsureAdmin{Username: "admin"}, wantID: 1, unchanged: true},
			},
			wantAdmin: User{ID: 1, Username: "admin", IsStaff: true, IsSuperuser: true},
			wantUsers: 1,
		},
		{
			name:     "existing user is reused, not duplicated",
			preUsers: []string{"alice", "Admin"},
			steps: []step{
				{give: EnsureAdmin{Username: "admin", TokenName: "t", Digest: digest("s1")}, wantID: 2, unchanged: true},
			},
			// An existing account is neither promoted nor given a token.
			wantAdmin: User{ID: 2, Username: "Admin"},
			wantUsers: 2,
		},
		{
			name: "empty username",
			steps: []step{
				{give: EnsureAdmin{Username: "", Digest: digest("s1")}, wantErr: &Error{Code: ErrInvalidArgument.Code, Key: "username"}, unchanged: true},
				{give: EnsureAdmin{Username: "root"}, wantID: 1},
			},
			wantAdmin: User{ID: 1, Username: "root", IsStaff: true, IsSuperuser: true},
			wantUsers: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for _, n := range tt.preUsers {
				h.user(n)
			}
			for i, st := range tt.steps {
				before := h.state()
				res := h.do(CmdEnsureAdmin, st.give)
				checkErrExact(t, res.Err, st.wantErr)
				if res.ID != st.wantID {
					t.Errorf("step %d: id = %d, want %d", i, res.ID, st.wantID)
				}
				if st.unchanged {
					checkUnchanged(t, before, h.state())
				}
			}
			s := h.state()
			want := tt.wantAdmin
			want.Created, want.Updated = testNow, testNow
			u, ok := s.UserByID(want.ID)
			if !ok {
				t.Fatalf("admin %d not found", want.ID)
			}
			if !reflect.DeepEqual(*u, want) {
				t.Errorf("admin = %+v, want %+v", *u, want)
			}
			toks := s.Tokens(want.ID)
			if len(toks) != len(tt.wantTokens) {
				t.Fatalf("admin has %d tokens, want %d", len(toks), len(tt.wantTokens))
			}
			for i, tok := range toks {
				if tok.Name != tt.wantTokens[i] {
					t.Errorf("token %d name = %q, want %q", i, tok.Name, tt.wantTokens[i])
				}
				if _, owner, ok := s.TokenByDigest(tok.Digest); !ok || owner.ID != want.ID {
					t.Errorf("TokenByDigest(token %d) does not lead to the admin", tok.ID)
				}
			}
			if n := len(s.Users()); n != tt.wantUsers {
				t.Errorf("len(Users()) = %d, want %d", n, tt.wantUsers)
			}
			checkInvariants(t, s)
		})
	}
}

// TestEnsureAdminDigestOfAnotherUser pins that EnsureAdmin never moves a
// token that another user holds to the admin.
func TestEnsureAdminDigestOfAnotherUser(t *testing.T) {
	h := newHarness(t)
	alice := h.user("alice")
	h.token(alice, "mine", "shared")
	res := h.do(CmdEnsureAdmin, EnsureAdmin{Username: "admin", TokenName: "boot", Digest: digest("shared")})
	s := h.state()
	admin, ok := s.UserByName("admin")
	if !ok {
		t.Fatalf("admin not created (result %+v)", res)
	}
	if toks := s.Tokens(admin.ID); len(toks) != 0 {
		t.Errorf("admin got %d tokens, want 0", len(toks))
	}
	if tok, owner, ok := s.TokenByDigest(digest("shared")); !ok || owner.ID != alice || tok.Name != "mine" {
		t.Errorf("TokenByDigest(shared) = %+v of %+v, want alice's token", tok, owner)
	}
	checkInvariants(t, s)
}
