package fsm

import (
	"strconv"
	"testing"
)

func TestDefaultQuotaBuiltIn(t *testing.T) {
	want := Quota{MaxPreferences: 10000, MaxValueLength: 110000, MaxKeyLength: 255, MaxTotalBytes: 16 << 20}
	if got := DefaultQuota(); got != want {
		t.Errorf("DefaultQuota() = %+v, want %+v", got, want)
	}
	if got := New(nil).State().DefaultQuota(); got != want {
		t.Errorf("fresh state default quota = %+v, want %+v", got, want)
	}
}

func TestSetDefaultQuota(t *testing.T) {
	def := DefaultQuota()
	tests := []struct {
		name    string
		give    []QuotaPatch // applied in order; all but the last must succeed
		want    Quota
		wantErr *Error // of the last patch
	}{
		{
			name: "one field",
			give: []QuotaPatch{{MaxPreferences: ptr[int64](5)}},
			want: Quota{MaxPreferences: 5, MaxValueLength: def.MaxValueLength, MaxKeyLength: def.MaxKeyLength, MaxTotalBytes: def.MaxTotalBytes},
		},
		{
			name: "subsets merge",
			give: []QuotaPatch{
				{MaxPreferences: ptr[int64](5), MaxKeyLength: ptr[int64](7)},
				{MaxValueLength: ptr[int64](9)},
				{MaxTotalBytes: ptr[int64](11), MaxKeyLength: ptr[int64](8)},
			},
			want: Quota{MaxPreferences: 5, MaxValueLength: 9, MaxKeyLength: 8, MaxTotalBytes: 11},
		},
		{
			name: "empty patch changes nothing",
			give: []QuotaPatch{{}},
			want: def,
		},
		{
			name: "zero is a valid limit",
			give: []QuotaPatch{{MaxPreferences: ptr[int64](0), MaxTotalBytes: ptr[int64](0)}},
			want: Quota{MaxPreferences: 0, MaxValueLength: def.MaxValueLength, MaxKeyLength: def.MaxKeyLength, MaxTotalBytes: 0},
		},
		{
			name:    "negative value",
			give:    []QuotaPatch{{MaxPreferences: ptr[int64](5)}, {MaxValueLength: ptr[int64](-1)}},
			want:    Quota{MaxPreferences: 5, MaxValueLength: def.MaxValueLength, MaxKeyLength: def.MaxKeyLength, MaxTotalBytes: def.MaxTotalBytes},
			wantErr: &Error{Code: ErrInvalidArgument.Code, Key: "quota"},
		},
		{
			name:    "one negative field refuses the whole patch",
			give:    []QuotaPatch{{MaxPreferences: ptr[int64](3), MaxTotalBytes: ptr[int64](-100)}},
			want:    def,
			wantErr: &Error{Code: ErrInvalidArgument.Code, Key: "quota"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var res Result
			var before *State
			for i, p := range tt.give {
				before = h.state()
				res = h.do(CmdSetDefaultQuota, SetDefaultQuota{Quota: p})
				if i < len(tt.give)-1 {
					checkErr(t, res.Err, nil)
				}
			}
			checkErrExact(t, res.Err, tt.wantErr)
			if tt.wantErr != nil {
				checkUnchanged(t, before, h.state())
			}
			if got := h.state().DefaultQuota(); got != tt.want {
				t.Errorf("DefaultQuota() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSetUserQuota(t *testing.T) {
	def := DefaultQuota()
	tests := []struct {
		name      string
		give      []SetUserQuota // for user 1; all but the last must succeed
		defQuota  QuotaPatch     // default quota patch applied after the user's
		wantPatch QuotaPatch     // user 1's overrides afterwards
		want      Quota          // user 1's effective quota afterwards
		wantErr   *Error
	}{
		{
			name:      "one override",
			give:      []SetUserQuota{{UserID: 1, Quota: QuotaPatch{MaxPreferences: ptr[int64](3)}}},
			wantPatch: QuotaPatch{MaxPreferences: ptr[int64](3)},
			want:      Quota{MaxPreferences: 3, MaxValueLength: def.MaxValueLength, MaxKeyLength: def.MaxKeyLength, MaxTotalBytes: def.MaxTotalBytes},
		},
		{
			name: "subsets merge",
			give: []SetUserQuota{
				{UserID: 1, Quota: QuotaPatch{MaxPreferences: ptr[int64](3), MaxKeyLength: ptr[int64](4)}},
				{UserID: 1, Quota: QuotaPatch{MaxValueLength: ptr[int64](5), MaxKeyLength: ptr[int64](6)}},
			},
			wantPatch: QuotaPatch{MaxPreferences: ptr[int64](3), MaxValueLength: ptr[int64](5), MaxKeyLength: ptr[int64](6)},
			want:      Quota{MaxPreferences: 3, MaxValueLength: 5, MaxKeyLength: 6, MaxTotalBytes: def.MaxTotalBytes},
		},
		{
			name: "reset drops earlier overrides",
			give: []SetUserQuota{
				{UserID: 1, Quota: QuotaPatch{MaxPreferences: ptr[int64](3), MaxKeyLength: ptr[int64](4)}},
				{UserID: 1, Quota: QuotaPatch{MaxTotalBytes: ptr[int64](100)}, Reset: true},
			},
			wantPatch: QuotaPatch{MaxTotalBytes: ptr[int64](100)},
			want:      Quota{MaxPreferences: def.MaxPreferences, MaxValueLength: def.MaxValueLength, MaxKeyLength: def.MaxKeyLength, MaxTotalBytes: 100},
		},
		{
			name: "reset alone clears every override",
			give: []SetUserQuota{
				{UserID: 1, Quota: QuotaPatch{MaxPreferences: ptr[int64](3)}},
				{UserID: 1, Reset: true},
			},
			wantPatch: QuotaPatch{},
			want:      def,
		},
		{
			name:      "override of zero",
			give:      []SetUserQuota{{UserID: 1, Quota: QuotaPatch{MaxValueLength: ptr[int64](0)}}},
			wantPatch: QuotaPatch{MaxValueLength: ptr[int64](0)},
			want:      Quota{MaxPreferences: def.MaxPreferences, MaxValueLength: 0, MaxKeyLength: def.MaxKeyLength, MaxTotalBytes: def.MaxTotalBytes},
		},
		{
			name:      "default changes show through fields not overridden",
			give:      []SetUserQuota{{UserID: 1, Quota: QuotaPatch{MaxPreferences: ptr[int64](3)}}},
			defQuota:  QuotaPatch{MaxPreferences: ptr[int64](50), MaxKeyLength: ptr[int64](10)},
			wantPatch: QuotaPatch{MaxPreferences: ptr[int64](3)},
			want:      Quota{MaxPreferences: 3, MaxValueLength: def.MaxValueLength, MaxKeyLength: 10, MaxTotalBytes: def.MaxTotalBytes},
		},
		{
			name: "negative value",
			give: []SetUserQuota{
				{UserID: 1, Quota: QuotaPatch{MaxPreferences: ptr[int64](3)}},
				{UserID: 1, Quota: QuotaPatch{MaxKeyLength: ptr[int64](2), MaxTotalBytes: ptr[int64](-1)}, Reset: true},
			},
			wantPatch: QuotaPatch{MaxPreferences: ptr[int64](3)},
			want:      Quota{MaxPreferences: 3, MaxValueLength: def.MaxValueLength, MaxKeyLength: def.MaxKeyLength, MaxTotalBytes: def.MaxTotalBytes},
			wantErr:   &Error{Code: ErrInvalidArgument.Code, Key: "quota"},
		},
		{
			name:    "unknown user",
			give:    []SetUserQuota{{UserID: 9, Quota: QuotaPatch{MaxPreferences: ptr[int64](3)}}},
			want:    def,
			wantErr: ErrUserNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.user("alice")
			h.user("bob")
			var res Result
			var before *State
			for i, c := range tt.give {
				before = h.state()
				res = h.do(CmdSetUserQuota, c)
				if i < len(tt.give)-1 {
					checkErr(t, res.Err, nil)
				}
			}
			checkErrExact(t, res.Err, tt.wantErr)
			if tt.wantErr != nil {
				checkUnchanged(t, before, h.state())
			} else if res.ID != tt.give[len(tt.give)-1].UserID {
				t.Errorf("id = %d, want %d", res.ID, tt.give[len(tt.give)-1].UserID)
			}
			h.ok(CmdSetDefaultQuota, SetDefaultQuota{Quota: tt.defQuota})

			s := h.state()
			u, _ := s.UserByID(1)
			if !equalPatch(u.Quota, tt.wantPatch) {
				t.Errorf("user quota = %s, want %s", fmtPatch(u.Quota), fmtPatch(tt.wantPatch))
			}
			if got := s.Quota(u); got != tt.want {
				t.Errorf("Quota(user) = %+v, want %+v", got, tt.want)
			}
			// Bob has no overrides: the default applies.
			bob, _ := s.UserByID(2)
			if got := s.Quota(bob); got != s.DefaultQuota() {
				t.Errorf("Quota(bob) = %+v, want default %+v", got, s.DefaultQuota())
			}
		})
	}
}

// TestSetUserQuotaNoAliasing checks that stored overrides do not share memory
// with a later command's patch.
func TestSetUserQuotaNoAliasing(t *testing.T) {
	h := newHarness(t)
	h.user("alice")
	p := QuotaPatch{MaxPreferences: ptr[int64](3)}
	h.ok(CmdSetUserQuota, SetUserQuota{UserID: 1, Quota: p})
	old := h.state()
	h.ok(CmdSetUserQuota, SetUserQuota{UserID: 1, Quota: QuotaPatch{MaxPreferences: ptr[int64](4)}})
	u, _ := old.UserByID(1)
	if got := old.Quota(u).MaxPreferences; got != 3 {
		t.Errorf("older state's override changed to %d, want 3", got)
	}
	u, _ = h.state().UserByID(1)
	if got := h.state().Quota(u).MaxPreferences; got != 4 {
		t.Errorf("override = %d, want 4", got)
	}
}

func equalPatch(a, b QuotaPatch) bool {
	eq := func(x, y *int64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return eq(a.MaxPreferences, b.MaxPreferences) && eq(a.MaxValueLength, b.MaxValueLength) &&
		eq(a.MaxKeyLength, b.MaxKeyLength) && eq(a.MaxTotalBytes, b.MaxTotalBytes)
}

func fmtPatch(p QuotaPatch) string {
	f := func(x *int64) string {
		if x == nil {
			return "-"
		}
		return strconv.FormatInt(*x, 10)
	}
	return "{prefs " + f(p.MaxPreferences) + " value " + f(p.MaxValueLength) + " key " + f(p.MaxKeyLength) + " bytes " + f(p.MaxTotalBytes) + "}"
}
